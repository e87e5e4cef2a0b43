#!/usr/bin/env bash
# Makes the Hugging Face directories the HF tests use (test_hf_model,
# test_tokenizer's tokenizer_smollm2hf* fixtures) from the cached SmolLM2 GGUF
# with scripts/gguf-to-hf.py, in the model cache ($ESFT_MODEL_DIR, default
# models/cache/):
#   SmolLM2-135M-Instruct-hf            f32, one file         (540 MB)
#   SmolLM2-135M-Instruct-hf-2shards    f32, two shards       (540 MB)
#   SmolLM2-135M-Instruct-hf-bf16       bf16                  (270 MB)
#   SmolLM2-135M-Instruct-hf-qwen2      bf16, Qwen2 pre-tokenizer pipeline     (270 MB)
#   SmolLM2-135M-Instruct-hf-llama-bpe  bf16, Llama 3 pre-tokenizer pipeline   (270 MB)
#   gemma-3-270m-hf                     f32, when the Gemma GGUF is cached and the
#                                       interpreter has torch (1.1 GB)
# About 1.9 GB and a minute or two on 2 cores, plus a Python environment with
# transformers, tokenizers, gguf, safetensors and numpy (no torch): give its
# interpreter as $ESFT_HF_PYTHON, or the script makes one in
# build/hf-venv (pip, ~150 MB). Directories already there are kept.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${ESFT_MODEL_DIR:-$ROOT/models/cache}
GGUF=$CACHE/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f "$GGUF" ] || { echo "make-hf-test-models: $GGUF absent (scripts/fetch-model.sh fetches it)" >&2; exit 1; }
PY=${ESFT_HF_PYTHON:-}
if [ -z "$PY" ]; then
  VENV=$ROOT/build/hf-venv
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q transformers tokenizers gguf safetensors numpy
  fi
  PY=$VENV/bin/python
fi
make_dir() { # NAME ARGS...
  local out=$CACHE/$1; shift
  if [ -f "$out/config.json" ]; then echo "$out: present"; return; fi
  "$PY" "$ROOT/scripts/gguf-to-hf.py" "$GGUF" "$out.tmp" "$@" && rm -rf "$out" && mv "$out.tmp" "$out"
}
make_dir SmolLM2-135M-Instruct-hf
make_dir SmolLM2-135M-Instruct-hf-2shards --shards 2
make_dir SmolLM2-135M-Instruct-hf-bf16 --dtype bf16
make_dir SmolLM2-135M-Instruct-hf-qwen2 --dtype bf16 --pre qwen2
make_dir SmolLM2-135M-Instruct-hf-llama-bpe --dtype bf16 --pre llama-bpe
# Gemma 3 270M, when fetched (scripts/fetch-model.sh gemma3-270m) and the
# interpreter has torch: transformers itself dequantises the GGUF and writes
# the directory (f32, 1.1 GB; tokenizer.json is SentencePiece-style BPE with
# byte fallback), for cli_hf's Gemma comparison and test_tokenizer's
# tokenizer_gemma3hf fixture.
if [ -f "$CACHE/gemma-3-270m-q4_k_m.gguf" ] && [ ! -f "$CACHE/gemma-3-270m-hf/config.json" ]; then
  if "$PY" -c "import torch" 2>/dev/null; then
    "$PY" - "$CACHE" "$CACHE/gemma-3-270m-hf.tmp" <<'PY'
import sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
cache, out = sys.argv[1], sys.argv[2]
f = "gemma-3-270m-q4_k_m.gguf"
m = AutoModelForCausalLM.from_pretrained(cache, gguf_file=f, dtype=torch.float32)
m.hf_quantizer = None  # already dequantised to f32
if hasattr(m.config, "quantization_config"):
    del m.config.quantization_config
m.save_pretrained(out)
AutoTokenizer.from_pretrained(cache, gguf_file=f).save_pretrained(out)
PY
    rm -rf "$CACHE/gemma-3-270m-hf" && mv "$CACHE/gemma-3-270m-hf.tmp" "$CACHE/gemma-3-270m-hf"
  else
    echo "make-hf-test-models: no torch in $PY: gemma-3-270m-hf skipped"
  fi
fi

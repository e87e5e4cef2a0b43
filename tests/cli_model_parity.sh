#!/usr/bin/env bash
# Real-weights parity of the second and third models, against independent
# references computed now by scripts/gen-reference.py: transformers in f32 on
# the same dequantised weights (last-position logits within 1e-3 of the
# logits' scale, greedy 32 tokens) and llama.cpp (first 8 greedy tokens on an
# f32 copy), all checked by test_reference given that model and those
# references (its prompts' token ids come from llama.cpp's tokenizer); then
# `esft generate` must continue a factual prompt sensibly.
#   - Qwen2.5-Coder-0.5B-Instruct (Q4_K_M: q5_0, q8_0, q4_k, q6_k and f32;
#     qwen2 with q/k/v biases and an untied output matrix);
#   - Gemma 3 270M (pretrained; gemma3: GeGLU, four norms per layer stored as
#     1 + w, q/k norms, sliding-window and global layers with their own rope
#     bases, embedding scaling, a tied 262144-token SentencePiece vocabulary
#     with BOS).
# A model absent from the cache (scripts/fetch-model.sh qwen2.5-coder-0.5b |
# gemma3-270m) is skipped; with neither, or without a Python with torch,
# transformers, gguf and llama_cpp (ESFT_REF_PYTHON, else
# /opt/refenv/bin/python), the test skips (77). The references are kept in
# the build tree, keyed by the model's sha256: transformers needs minutes to
# dequantise a file.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"

PY=${ESFT_REF_PYTHON:-/opt/refenv/bin/python}
if ! [ -x "$PY" ] || ! "$PY" -c "import torch, transformers, gguf, llama_cpp" 2>/dev/null; then
  echo "SKIP: no reference Python with torch, transformers, gguf, llama_cpp (set ESFT_REF_PYTHON)"; exit 77
fi

checked=0
# parity FILE NAME PROMPT WORD [generate flags...]: references, test_reference,
# and WORD in what `esft generate` continues PROMPT with
parity() {
  local model=${ESFT_MODEL_DIR:-}/$1 name=$2 prompt=$3 word=$4
  shift 4
  if [ ! -f "$model" ]; then
    echo "note: $model not found: its parity is skipped"; return
  fi
  checked=$((checked + 1))
  local ref=$ESFT_TEST_BINARY_DIR/model_parity/$name sha
  sha=$(sha256sum "$model" | cut -d' ' -f1)
  if ! grep -q "\"model_sha256\": \"$sha\"" "$ref/${name}_reference.json" 2>/dev/null; then
    mkdir -p "$ref"
    "$PY" "$ESFT_TEST_DATA_DIR/../scripts/gen-reference.py" --model "$model" --out "$ref" \
      --name "$name" --threads "${OMP_NUM_THREADS:-1}" >"$TMP/gen-$name.log" 2>&1 \
      && ok || { bad "gen-reference.py failed on $1"; tail -20 "$TMP/gen-$name.log" >&2; return; }
  fi
  if "$ESFT_TEST_BINARY_DIR/test_reference" "$model" "$ref/${name}_reference.json" "$ref/${name}_logits.f32" \
    >"$TMP/ref-$name.log" 2>&1; then ok; else bad "test_reference on $model: $(grep -i fail "$TMP/ref-$name.log" | head -3)"; fi
  cat "$TMP/ref-$name.log"
  expect 0 "$ESFT" generate --model "$model" --backend cpu --threads "${OMP_NUM_THREADS:-1}" --max-new 12 \
    --prompt "$prompt" "$@"
  grep -q "$word" "$TMP/out" && ok || bad "generate on $1: no '$word' in: $(cat "$TMP/out")"
}

parity qwen2.5-coder-0.5b-instruct-q4_k_m.gguf qwen05 "What is the capital of France? Answer in one word." Paris --chat
parity gemma-3-270m-q4_k_m.gguf gemma3 "The Eiffel Tower is in the city of" Paris
if [ "$checked" = 0 ]; then
  echo "SKIP: neither model is in ${ESFT_MODEL_DIR:-the model cache}"; exit 77
fi
finish

#!/usr/bin/env bash
# Real-weights parity of a second model, Qwen2.5-Coder-0.5B-Instruct
# (Q4_K_M: q5_0, q8_0, q4_k, q6_k and f32 tensors; qwen2 with q/k/v biases
# and an untied output matrix), against independent references computed now
# by scripts/gen-reference.py: transformers in f32 on the same dequantised
# weights (last-position logits within 1e-3 of the logits' scale, greedy 32
# tokens) and llama.cpp (first 8 greedy tokens on an f32 copy), all checked
# by test_reference given that model and those references; then `esft
# generate` must answer a question sensibly.
# Skips (77) unless the model is in the cache (scripts/fetch-model.sh
# qwen2.5-coder-0.5b) and a Python with torch, transformers, gguf and
# llama_cpp is named by ESFT_REF_PYTHON or sits at /opt/refenv/bin/python.
# The references are kept in the build tree, keyed by the model's sha256:
# transformers needs minutes to dequantise the file.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"

MODEL=${ESFT_MODEL_DIR:-}/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
PY=${ESFT_REF_PYTHON:-/opt/refenv/bin/python}
if [ ! -f "$MODEL" ]; then
  echo "SKIP: $MODEL not found (scripts/fetch-model.sh qwen2.5-coder-0.5b)"; exit 77
fi
if ! [ -x "$PY" ] || ! "$PY" -c "import torch, transformers, gguf, llama_cpp" 2>/dev/null; then
  echo "SKIP: no reference Python with torch, transformers, gguf, llama_cpp (set ESFT_REF_PYTHON)"; exit 77
fi

REF=$ESFT_TEST_BINARY_DIR/model_parity/qwen05
sha=$(sha256sum "$MODEL" | cut -d' ' -f1)
if ! grep -q "\"model_sha256\": \"$sha\"" "$REF/qwen05_reference.json" 2>/dev/null; then
  mkdir -p "$REF"
  "$PY" "$ESFT_TEST_DATA_DIR/../scripts/gen-reference.py" --model "$MODEL" --out "$REF" \
    --name qwen05 --threads "${OMP_NUM_THREADS:-1}" >"$TMP/gen.log" 2>&1 \
    && ok || { bad "gen-reference.py failed"; tail -20 "$TMP/gen.log" >&2; finish; exit; }
fi

"$ESFT_TEST_BINARY_DIR/test_reference" "$MODEL" "$REF/qwen05_reference.json" "$REF/qwen05_logits.f32" \
  | tee "$TMP/ref.log" && ok || bad "test_reference on $MODEL: $(grep -i fail "$TMP/ref.log" | head -3)"

# sensible text: a factual question through the model's own chat template
expect 0 "$ESFT" generate --model "$MODEL" --backend cpu --threads "${OMP_NUM_THREADS:-1}" --max-new 12 \
  --chat --prompt "What is the capital of France? Answer in one word."
grep -q "Paris" "$TMP/out" && ok || bad "generate: no 'Paris' in: $(cat "$TMP/out")"
finish

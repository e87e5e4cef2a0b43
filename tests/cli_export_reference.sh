#!/usr/bin/env bash
# scripts/check-export.py: the default model exported to a Hugging Face
# directory continues prompts alike in esft, transformers and (back as GGUF)
# llama.cpp. Skipped (77) unless $ESFT_REFERENCE_PYTHON (default python3)
# has torch and transformers.
PY=${ESFT_REFERENCE_PYTHON:-python3}
command -v "$PY" >/dev/null || { echo "skip: no $PY"; exit 77; }
"$PY" -c "import torch, transformers" 2>/dev/null ||
  { echo "skip: $PY lacks torch/transformers (set ESFT_REFERENCE_PYTHON)"; exit 77; }
exec "$PY" "$(dirname "$0")/../scripts/check-export.py" --esft "${ESFT_BIN:?}" --threads 2

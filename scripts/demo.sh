#!/usr/bin/env bash
# The main job: a short real ES fine-tune of the default model
# (SmolLM2-135M-Instruct) with the auto-selected backend, on the paper's
# conciseness task (two prompts, reward = -|len(response) - len(target)|).
# Leaves runs/demo/{run.json, metrics.jsonl, samples.jsonl, reward.png,
# checkpoint.gguf, final.gguf}
# and answers a prompt with the fine-tuned model. A few minutes on 2 cores.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ESFT=${ESFT_BIN:-${ESFT_BUILD_DIR:-$ROOT/build}/esft}
OUT=${ESFT_DEMO_OUT:-$ROOT/runs/demo}

"$ESFT" devices
echo
# --overwrite: the demo's own directory, started afresh each time
echo "\$ esft train --task conciseness --pop 8 --sigma 0.001 --alpha 0.0005 --iters 10 --max-new 48 --eval-every 5 --log-samples 2 --out $OUT --overwrite"
"$ESFT" train --backend auto --task conciseness --pop 8 --sigma 0.001 --alpha 0.0005 --iters 10 \
  --max-new 48 --eval-every 5 --log-samples 2 --out "$OUT" --overwrite
echo
"$ESFT" plot "$OUT/metrics.jsonl" -o "$OUT/reward.png"
echo
echo "\$ esft generate --model $OUT/final.gguf --prompt 'Solve: 3 + 5 =' --max-new 48"
"$ESFT" generate --model "$OUT/final.gguf" --prompt "Solve: 3 + 5 =" --max-new 48

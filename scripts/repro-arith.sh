#!/usr/bin/env bash
# One command for an ES run measured against its base on held-out items:
# SmolLM2-135M-Instruct on reasoning-gym's two-term arithmetic
# (basic_arithmetic: 1-2 digit + and -, negation and brackets as the
# generator makes them; accuracy by --reward numeric, the plain "####"
# prompt, chat template), where the base model scores 7.9% [5.3, 11.6] on
# the 291 held-out items. So far no setting tried has raised that (README,
# "The paper's tasks"). Steps:
#   1. fetch-data.sh math: 2000 train items from seed 0 and 400 eval items
#      from seed 2000, repeats and eval questions seen in train dropped;
#   2. the base model's eval on every held-out item (accuracy, 95% interval);
#   3. esft train: low-rank members (rank 4), pop 30, 32 prompts per
#      iteration, sigma 0.001, alpha 0.002, max-new 32, eval every 10,
#      rewarded by examples/rewards/final_number.py (the answer alone: the
#      built-in numeric's 0.1 format bonus pays for a bare "#### <guess>",
#      and a first run with it fell from 7.9% to 4.5% in 10 iterations);
#   4. the trained model's eval on the same held-out items;
#   5. a figure of the run against training time, and summary.md.
#   scripts/repro-arith.sh OUTDIR [--iters N] [--threads N] [--alpha A]
# Environment: ESFT_BIN (default build/esft), ESFT_MODEL_DIR, ESFT_DATA_DIR.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ESFT=${ESFT_BIN:-$ROOT/build/esft}
die() { echo "repro-arith.sh: $1" >&2; exit "${2:-1}"; }
[ $# -ge 1 ] || die "usage: scripts/repro-arith.sh OUTDIR [--iters N] [--threads N] [--alpha A]" 2
OUT=$1; shift
ITERS=40 THREADS=2 ALPHA=0.002
while [ $# -gt 0 ]; do
  case "$1" in
    --iters) ITERS=${2:?}; shift 2 ;;
    --threads) THREADS=${2:?}; shift 2 ;;
    --alpha) ALPHA=${2:?}; shift 2 ;;
    *) die "unknown option '$1'" 2 ;;
  esac
done
[ -x "$ESFT" ] || die "no esft binary at $ESFT (build first, or set ESFT_BIN)"
mkdir -p "$OUT"

DATA=$(bash "$ROOT/scripts/fetch-data.sh" math --task basic_arithmetic --name arith --style plain \
  --config '{"min_terms": 2, "max_terms": 2, "max_digits": 2, "operators": ["+", "-"]}' --train 2000 --eval 400 |
  tail -1)
[ -f "$DATA/eval.jsonl" ] || die "fetch-data.sh wrote no $DATA/eval.jsonl"
COMMON=(--chat --max-new 32 --backend cpu --threads "$THREADS")

evaluate() { # evaluate NAME MODEL: the summary line into OUT/NAME-eval.txt
  "$ESFT" eval --model "$2" --data "$DATA/eval.jsonl" --reward numeric "${COMMON[@]}" --out "$OUT/$1-responses.jsonl" 2>&1 |
    tail -1 | tee "$OUT/$1-eval.txt" >&2
}
MODEL=${ESFT_MODEL_DIR:-$ROOT/models/cache}/SmolLM2-135M-Instruct.Q4_1.gguf
echo "repro-arith.sh: base model eval" >&2
evaluate base "$MODEL"
echo "repro-arith.sh: training ($ITERS iterations)" >&2
"$ESFT" train --model "$MODEL" --data "$DATA/train.jsonl" --eval-data "$DATA/eval.jsonl" "${COMMON[@]}" \
  --reward-cmd "python3 $ROOT/examples/rewards/final_number.py" \
  --pop 30 --sigma 0.001 --alpha "$ALPHA" --noise lowrank --rank 4 --batch 32 --iters "$ITERS" --eval-every 10 \
  --checkpoint-every 5 --seed 1 --out "$OUT/run" --overwrite --quiet
echo "repro-arith.sh: trained model eval" >&2
evaluate trained "$OUT/run/final.gguf"
"$ESFT" plot "$OUT/run" -o "$OUT/arith.png" --x time --title "ES on two-term arithmetic (SmolLM2-135M)" >/dev/null
{
  echo "# Two-term arithmetic, SmolLM2-135M-Instruct, $ITERS iterations (alpha $ALPHA, $THREADS threads)"
  echo
  echo "- base:    $(cat "$OUT/base-eval.txt")"
  echo "- trained: $(cat "$OUT/trained-eval.txt")"
  echo "- training time: $(python3 -c "import json,sys; print(round(sum(json.loads(l)['seconds'] for l in open(sys.argv[1])) / 60, 1))" \
      "$OUT/run/metrics.jsonl") min; figure: arith.png"
} > "$OUT/summary.md"
cat "$OUT/summary.md"

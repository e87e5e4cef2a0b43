#!/usr/bin/env bash
# One command for an ES run measured against its base on held-out items:
# SmolLM2-135M-Instruct on reasoning-gym's two-term addition
# (basic_arithmetic: "Calculate A + B." with A, B of 1-2 digits, no
# negation or brackets; the plain "####" prompt; chat template; accuracy by
# --reward numeric). Measured on 2 cores: base 28.25% [95% CI 23.21,
# 33.91], after 28 iterations (57.6 min of training) 44.61% [38.79, 50.58];
# 51 held-out items right only after training, 7 only before. Steps:
#   1. fetch-data.sh math: 2000 train draws from seed 0 and 600 eval draws
#      from seed 2000; repeats and eval questions seen in train dropped
#      (1067 train, 269 held-out items);
#   2. the base model's eval on every held-out item (accuracy, 95% interval);
#   3. esft train: antithetic low-rank members (rank 4), pop 30, 16 prompts
#      per iteration, sigma 0.002, alpha 0.003, max-new 16, rewarded by
#      examples/rewards/closeness.py (1 for the right sum, partial credit
#      for a near one: a dense signal where few members differ in exact
#      hits);
#   4. the trained model's eval on the same held-out items, max-new 32 as
#      for the base (final.gguf in f32: the master weights as they are);
#   5. summary.md: both accuracies, the paired comparison (items right
#      after and not before, and the reverse; exact two-sided sign test),
#      and a figure of the run against training time (arith.png).
#   scripts/repro-arith.sh OUTDIR [--iters N] [--threads N]
# Environment: ESFT_BIN (default build/esft), ESFT_MODEL_DIR, ESFT_DATA_DIR.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ESFT=${ESFT_BIN:-$ROOT/build/esft}
die() { echo "repro-arith.sh: $1" >&2; exit "${2:-1}"; }
[ $# -ge 1 ] || die "usage: scripts/repro-arith.sh OUTDIR [--iters N] [--threads N]" 2
OUT=$1; shift
ITERS=28 THREADS=2
while [ $# -gt 0 ]; do
  case "$1" in
    --iters) ITERS=${2:?}; shift 2 ;;
    --threads) THREADS=${2:?}; shift 2 ;;
    *) die "unknown option '$1'" 2 ;;
  esac
done
[ -x "$ESFT" ] || die "no esft binary at $ESFT (build first, or set ESFT_BIN)"
mkdir -p "$OUT"

DATA=$(bash "$ROOT/scripts/fetch-data.sh" math --task basic_arithmetic --name addition --style plain \
  --config '{"min_terms": 2, "max_terms": 2, "max_digits": 2, "operators": ["+"], "allow_negation": false, "allow_parentheses": false}' \
  --train 2000 --eval 600 | tail -1)
[ -f "$DATA/eval.jsonl" ] || die "fetch-data.sh wrote no $DATA/eval.jsonl"
COMMON=(--chat --backend cpu --threads "$THREADS")

evaluate() { # evaluate NAME MODEL: the summary line into OUT/NAME-eval.txt
  "$ESFT" eval --model "$2" --data "$DATA/eval.jsonl" --reward numeric --max-new 32 "${COMMON[@]}" \
    --out "$OUT/$1-responses.jsonl" 2>&1 | tail -1 | tee "$OUT/$1-eval.txt" >&2
}
MODEL=${ESFT_MODEL_DIR:-$ROOT/models/cache}/SmolLM2-135M-Instruct.Q4_1.gguf
echo "repro-arith.sh: base model eval" >&2
evaluate base "$MODEL"
echo "repro-arith.sh: training ($ITERS iterations, about 2 minutes each on 2 cores)" >&2
"$ESFT" train --model "$MODEL" --data "$DATA/train.jsonl" "${COMMON[@]}" --max-new 16 \
  --reward-cmd "python3 $ROOT/examples/rewards/closeness.py" \
  --pop 30 --antithetic --sigma 0.002 --alpha 0.003 --noise lowrank --rank 4 --batch 16 --iters "$ITERS" \
  --checkpoint-every 2 --save-dtype f32 --seed 1 --out "$OUT/run" --overwrite --quiet
echo "repro-arith.sh: trained model eval" >&2
evaluate trained "$OUT/run/final.gguf"
"$ESFT" plot "$OUT/run" -o "$OUT/arith.png" --x time --title "ES on two-term addition (SmolLM2-135M)" >/dev/null
python3 - "$OUT" "$ITERS" "$THREADS" > "$OUT/summary.md" <<'EOF'
import json, math, sys
out, iters, threads = sys.argv[1], sys.argv[2], sys.argv[3]
def right(name):
    return {r["index"]: bool(r["correct"]) for r in map(json.loads, open(f"{out}/{name}-responses.jsonl"))}
base, trained = right("base"), right("trained")
gained = sum(trained[i] and not base[i] for i in base)
lost = sum(base[i] and not trained[i] for i in base)
n = gained + lost  # exact two-sided sign test on the items that changed
k = min(gained, lost)
p = min(1.0, 2 * sum(math.comb(n, j) for j in range(k + 1)) / 2 ** n) if n else 1.0
minutes = sum(json.loads(l)["seconds"] for l in open(f"{out}/run/metrics.jsonl")) / 60
print(f"# Two-term addition, SmolLM2-135M-Instruct, {iters} iterations ({threads} threads)\n")
print(f"- base:    {open(f'{out}/base-eval.txt').read().strip()}")
print(f"- trained: {open(f'{out}/trained-eval.txt').read().strip()}")
print(f"- paired: {gained} held-out items right only after training, {lost} only before "
      f"(exact sign test, two-sided p = {p:.2g})")
print(f"- training time: {minutes:.1f} min; figure: arith.png")
EOF
cat "$OUT/summary.md"

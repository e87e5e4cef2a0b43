#!/usr/bin/env bash
# Low-rank (EGGROLL) members against full-rank ones, measured in one run
# (issue 16; a benchmark, nothing here is asserted):
#   1. speed: `esft bench es --noise lowrank --rank 1 --pop 30 --batch 2`,
#      an iteration's generation tokens/s beside `esft bench decode` at the
#      same total batch (60);
#   2. learning: the paper's conciseness setting (SmolLM2-135M, its 2
#      prompts, pop 30, max-new 100) trained with --noise full, lowrank R=1
#      and lowrank R=4 at the same sigma, alpha and seed; per run the mean
#      seconds per iteration, the peak RSS, the train reward of the first and
#      last iteration and the eval reward (the base model's once, then at
#      every --eval-every and the end);
#   3. one figure of the three runs against training time (esft plot --x time).
# Writes OUTDIR/lowrank.md (the tables) and OUTDIR/lowrank.svg.
#
#   scripts/bench-lowrank.sh OUTDIR [--iters N] [--sigma S] [--alpha A]
#                            [--eval-every K] [--threads N] [--skip-bench]
#                            [--pop N] [--max-new N]   (smaller: a quick try)
# Environment: ESFT_BIN (default build/esft), ESFT_MODEL_DIR (default models/cache).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ESFT=${ESFT_BIN:-$ROOT/build/esft}
MODEL=${ESFT_MODEL_DIR:-$ROOT/models/cache}/SmolLM2-135M-Instruct.Q4_1.gguf
ITERS=12 SIGMA=0.001 ALPHA=0.004 EVAL_EVERY=4 THREADS=2 BENCH=1 POP=30 MAX_NEW=100
die() { echo "bench-lowrank.sh: $*" >&2; exit "${2:-2}"; }
[ $# -ge 1 ] || { sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
case "$1" in --help|-h) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
OUT=$1; shift
while [ $# -gt 0 ]; do
  case "$1" in
    --iters) ITERS=$2; shift 2 ;;
    --sigma) SIGMA=$2; shift 2 ;;
    --alpha) ALPHA=$2; shift 2 ;;
    --eval-every) EVAL_EVERY=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --skip-bench) BENCH=0; shift ;;
    --pop) POP=$2; shift 2 ;;
    --max-new) MAX_NEW=$2; shift 2 ;;
    *) die "unknown option '$1' (--iters, --sigma, --alpha, --eval-every, --threads, --skip-bench, --pop, --max-new)" ;;
  esac
done
[ -x "$ESFT" ] || die "no esft binary at $ESFT (build first, or set ESFT_BIN)" 1
[ -f "$MODEL" ] || die "no model at $MODEL (scripts/fetch-model.sh smollm2-135m)" 1
mkdir -p "$OUT"
MD=$OUT/lowrank.md
{
  echo "# Low-rank against full-rank members"
  echo
  echo "$("$ESFT" --version 2>/dev/null | head -1), $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, --threads $THREADS, cpu backend"
  echo
} > "$MD"

if [ "$BENCH" = 1 ]; then
  echo "bench-lowrank.sh: esft bench es (lowrank R=1, pop $POP, batch 2)" >&2
  {
    echo "## Generation throughput: one iteration against plain decode at the same total batch"
    echo
    echo '```'
    "$ESFT" bench es --backend cpu --threads "$THREADS" --model "$MODEL" --noise lowrank --rank 1 --pop "$POP" --batch 2
    echo '```'
    echo
  } >> "$MD"
fi

# train NAME FLAGS...: one run, timed by esft itself (metrics.jsonl "seconds")
train_one() {
  local name=$1; shift
  echo "bench-lowrank.sh: training $name ($ITERS iterations)" >&2
  "$ESFT" train --task conciseness --model "$MODEL" --out "$OUT/$name" --overwrite --backend cpu \
    --threads "$THREADS" --iters "$ITERS" --pop "$POP" --max-new "$MAX_NEW" --sigma "$SIGMA" \
    --alpha "$ALPHA" --seed 1 --eval-every "$EVAL_EVERY" --quiet "$@" || die "$name: esft train failed" 1
}
train_one full --noise full
train_one lowrank-r1 --noise lowrank --rank 1
train_one lowrank-r4 --noise lowrank --rank 4

echo "bench-lowrank.sh: base model eval" >&2
base_eval=$("$ESFT" eval --task conciseness --model "$MODEL" --backend cpu --threads "$THREADS" \
  --max-new "$MAX_NEW" 2>/dev/null | grep -i -m1 "reward" || true)

python3 - "$OUT" "$ITERS" "$SIGMA" "$ALPHA" "$POP" "$MAX_NEW" "$base_eval" >> "$MD" <<'EOF'
import json, sys
out, iters, sigma, alpha, pop, max_new, base_eval = sys.argv[1:8]
print(f"## Learning: conciseness, pop {pop}, max-new {max_new}, sigma {sigma}, alpha {alpha}, seed 1, {iters} iterations")
print()
print(f"Base model eval: {base_eval.strip() or 'n/a'}")
print()
print("| run | s / iteration | generate s | perturb s | update s | gen tokens/s | peak RSS GB | train reward it 1 | train reward last | eval reward (iteration) | total s |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
rows = {}
for name in ("full", "lowrank-r1", "lowrank-r4"):
    lines = [json.loads(l) for l in open(f"{out}/{name}/metrics.jsonl") if l.strip()]
    its = [l for l in lines if "reward_mean" in l]
    n = len(its)
    mean = lambda k: sum(l.get(k, 0) for l in its) / n
    peak = max(l.get("peak_rss_bytes", 0) for l in its) / 1e9
    evals = ", ".join(f"{l['eval_reward']:.1f} ({l['iter']})" for l in its if "eval_reward" in l)
    total = sum(l["seconds"] for l in its)
    rows[name] = mean("seconds")
    print(f"| {name} | {mean('seconds'):.2f} | {mean('seconds_generate'):.2f} | {mean('seconds_perturb'):.2f} | "
          f"{mean('seconds_update'):.2f} | {mean('tokens_per_second'):.0f} | {peak:.2f} | {its[0]['reward_mean']:.1f} | "
          f"{its[-1]['reward_mean']:.1f} | {evals} | {total:.0f} |")
print()
for name in ("lowrank-r1", "lowrank-r4"):
    print(f"- full / {name} seconds per iteration: {rows['full'] / rows[name]:.2f}x")
print()
EOF

"$ESFT" plot "$OUT/full" "$OUT/lowrank-r1" "$OUT/lowrank-r4" --x time -o "$OUT/lowrank.svg" \
  --title "Conciseness, pop $POP: full-rank vs low-rank members" > /dev/null
echo "Figure: lowrank.svg (reward against training time)" >> "$MD"
cat "$MD"

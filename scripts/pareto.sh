#!/usr/bin/env bash
# Reward against KL(fine-tuned || base), one point per run: the trade-off of
# the paper's Figure 1, for esft's optimizers (issue 17).
#
#   scripts/pareto.sh grid OUTROOT [--quick] [--iters N] [--pop N] [--max-new N] [--threads N]
#       trains the grid on conciseness (SmolLM2-135M, the paper's two
#       prompts): sgd at three learning rates, adam at three, sgd with
#       --anchor-decay at three lambdas (--quick: two of each); one run
#       directory per setting under OUTROOT (a run already finished there is
#       kept).
#   scripts/pareto.sh table OUTPREFIX RUN... [--max-new N] [--threads N]
#       evaluates every RUN's final.gguf with `esft eval --task conciseness
#       --kl-base BASE` (BASE: the run's recorded model), plus the base model
#       itself, and writes OUTPREFIX.tsv, OUTPREFIX.md (a table) and
#       OUTPREFIX.svg (reward against KL, one labelled point per run). Each
#       model's numbers are kept (RUN/pareto-eval-N.txt), so a table can be
#       redrawn or grown without evaluating a model twice.
# Environment: ESFT_BIN (default build/esft), ESFT_MODEL_DIR (default models/cache).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ESFT=${ESFT_BIN:-${ESFT_BUILD_DIR:-$ROOT/build}/esft}
MODEL_DIR=${ESFT_MODEL_DIR:-$ROOT/models/cache}
BASE=$MODEL_DIR/SmolLM2-135M-Instruct.Q4_1.gguf
ITERS=10 POP=8 MAX_NEW=32 THREADS=2 QUICK=0
die() { echo "pareto.sh: $*" >&2; exit "${2:-2}"; }

usage() {
  sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

[ $# -ge 1 ] || { usage >&2; exit 2; }
case "$1" in --help|-h) usage; exit 0 ;; esac
MODE=$1; shift
[ $# -ge 1 ] || die "$MODE: the output (OUTROOT or OUTPREFIX) is missing"
OUT=$1; shift
RUNS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --iters) ITERS=$2; shift 2 ;;
    --pop) POP=$2; shift 2 ;;
    --max-new) MAX_NEW=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --base) BASE=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    -*) die "unknown option '$1' (--quick, --iters, --pop, --max-new, --threads, --base)" ;;
    *) RUNS+=("$1"); shift ;;
  esac
done
[ -x "$ESFT" ] || die "no esft binary at $ESFT (build first, or set ESFT_BIN)" 1

# One run of the grid: NAME, then esft train flags.
train_one() {
  local name=$1; shift
  local dir=$OUT/$name
  if [ -f "$dir/final.gguf" ]; then echo "pareto.sh: $name: done already" >&2; return 0; fi
  echo "pareto.sh: training $name ($*)" >&2
  "$ESFT" train --task conciseness --model "$BASE" --out "$dir" --overwrite --iters "$ITERS" --pop "$POP" \
    --max-new "$MAX_NEW" --sigma 0.001 --threads "$THREADS" --backend cpu --quiet "$@" \
    || die "$name: esft train failed" 1
}

# name and flags of every run: three settings each, or two with --quick
GRID_FULL="sgd-a5e-4 --alpha 0.0005
sgd-a2e-3 --alpha 0.002
sgd-a8e-3 --alpha 0.008
adam-a1e-5 --optimizer adam --alpha 0.00001
adam-a3e-5 --optimizer adam --alpha 0.00003
adam-a1e-4 --optimizer adam --alpha 0.0001
anchor-l5 --alpha 0.008 --anchor-decay 5
anchor-l25 --alpha 0.008 --anchor-decay 25
anchor-l100 --alpha 0.008 --anchor-decay 100"
GRID_QUICK="sgd-a2e-3 --alpha 0.002
sgd-a8e-3 --alpha 0.008
adam-a1e-5 --optimizer adam --alpha 0.00001
adam-a1e-4 --optimizer adam --alpha 0.0001
anchor-l25 --alpha 0.008 --anchor-decay 25
anchor-l100 --alpha 0.008 --anchor-decay 100"

# sgd at the paper's alpha (sigma/2) and larger steps; adam, which moves
# every weight by about alpha per step, at much smaller rates; the largest
# sgd step pulled back toward the base at several lambdas
grid() {
  [ -f "$BASE" ] || die "no base model at $BASE (scripts/fetch-model.sh, or --base)" 1
  mkdir -p "$OUT"
  local line
  while read -r line; do
    # shellcheck disable=SC2086
    train_one $line
  done <<<"$([ "$QUICK" = 1 ] && echo "$GRID_QUICK" || echo "$GRID_FULL")"
}

# "reward kl" of one model, from esft eval's summary lines.
eval_one() {
  local model=$1 log
  log=$("$ESFT" eval --task conciseness --model "$model" --kl-base "$BASE" --max-new "$MAX_NEW" \
          --threads "$THREADS" --backend cpu 2>&1) || { echo "$log" >&2; die "esft eval $model failed" 1; }
  local reward kl
  reward=$(sed -n 's/.*mean reward \(-\{0,1\}[0-9.]*\).*/\1/p' <<<"$log" | tail -1)
  kl=$(sed -n 's/^KL(model || base) = \([0-9.e+-]*\) nats.*/\1/p' <<<"$log" | tail -1)
  [ -n "$reward" ] && [ -n "$kl" ] || { echo "$log" >&2; die "could not read reward and KL for $model" 1; }
  echo "$reward $kl"
}

# eval_one, kept in CACHE (one line "reward kl") so that a table can be
# redrawn, or grown by more runs, without evaluating a model twice.
eval_cached() {
  local model=$1 cache=$2
  if [ -s "$cache" ] && [ "$cache" -nt "$model" ]; then cat "$cache"; return; fi
  local res
  res=$(eval_one "$model")
  printf '%s\n' "$res" >"$cache.tmp.$$" && mv "$cache.tmp.$$" "$cache"
  echo "$res"
}

# A run's settings from its run.json, for the table.
settings_of() {
  python3 - "$1/run.json" <<'EOF' 2>/dev/null || echo "?"
import json, sys
r = json.load(open(sys.argv[1]))
s = "%s alpha=%g" % (r.get("optimizer", "sgd"), r["alpha"])
if r.get("anchor_decay", 0): s += " anchor=%g" % r["anchor_decay"]
print(s + " pop=%d iters=%d" % (r["pop"], r["iters"]))
EOF
}

write_svg() { # tsv -> svg on stdout
  awk -F'\t' 'NR > 1 { n++; name[n] = $1; r[n] = $3; k[n] = $4 }
  END {
    W = 640; H = 440; L = 70; R = 170; T = 30; B = 50
    rmin = r[1]; rmax = r[1]; kmax = 0
    for (i = 1; i <= n; i++) { if (r[i] < rmin) rmin = r[i]; if (r[i] > rmax) rmax = r[i]; if (k[i] > kmax) kmax = k[i] }
    if (rmax == rmin) { rmax += 1; rmin -= 1 }
    if (kmax <= 0) kmax = 1
    pad = (rmax - rmin) * 0.08; rmin -= pad; rmax += pad; kmax *= 1.08
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"11\">\n", W, H
    printf "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
    printf "<text x=\"%d\" y=\"18\" font-size=\"13\">conciseness: mean eval reward vs KL(fine-tuned || base)</text>\n", L
    printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", L, H - B, W - R, H - B
    printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", L, T, L, H - B
    for (t = 0; t <= 4; t++) {
      kv = kmax * t / 4; x = L + (W - R - L) * t / 4
      printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.3g</text>\n", x, H - B + 16, kv
      rv = rmin + (rmax - rmin) * t / 4; y = H - B - (H - B - T) * t / 4
      printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", L - 6, y + 4, rv
    }
    printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">KL (nats per response token)</text>\n", (L + W - R) / 2, H - 12
    printf "<text x=\"16\" y=\"%d\" transform=\"rotate(-90 16 %d)\" text-anchor=\"middle\">mean reward</text>\n", (T + H - B) / 2, (T + H - B) / 2
    for (i = 1; i <= n; i++) {
      x = L + (W - R - L) * k[i] / kmax; y = H - B - (H - B - T) * (r[i] - rmin) / (rmax - rmin)
      col = name[i] ~ /^adam/ ? "#d62728" : name[i] ~ /^anchor/ ? "#2ca02c" : name[i] == "base" ? "black" : "#1f77b4"
      printf "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n", x, y, col
      printf "<text x=\"%.1f\" y=\"%.1f\" fill=\"%s\">%s</text>\n", x + 6, y - 4, col, name[i]
    }
    print "</svg>"
  }' "$1"
}

table() {
  [ ${#RUNS[@]} -ge 1 ] || die "table: no RUN directories given"
  local tmp=$OUT.tsv.tmp.$$
  printf 'run\tsettings\tmean_reward\tkl\n' >"$tmp"
  read -r rw kl < <(eval_cached "$BASE" "$OUT.base-eval-$MAX_NEW.txt")
  printf 'base\t%s\t%s\t%s\n' "base model" "$rw" "$kl" >>"$tmp"
  for run in "${RUNS[@]}"; do
    [ -f "$run/final.gguf" ] || die "$run: no final.gguf (an unfinished run?)" 1
    echo "pareto.sh: evaluating $run" >&2
    read -r rw kl < <(eval_cached "$run/final.gguf" "$run/pareto-eval-$MAX_NEW.txt")
    printf '%s\t%s\t%s\t%s\n' "$(basename "$run")" "$(settings_of "$run")" "$rw" "$kl" >>"$tmp"
  done
  mv "$tmp" "$OUT.tsv"
  { echo "| run | settings | mean eval reward | KL(fine-tuned ‖ base) |"
    echo "|---|---|---:|---:|"
    awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' "$OUT.tsv"; } >"$OUT.md.tmp.$$"
  mv "$OUT.md.tmp.$$" "$OUT.md"
  write_svg "$OUT.tsv" >"$OUT.svg.tmp.$$"
  mv "$OUT.svg.tmp.$$" "$OUT.svg"
  cat "$OUT.md"
  echo "pareto.sh: wrote $OUT.tsv, $OUT.md, $OUT.svg" >&2
}

case "$MODE" in
  grid) grid ;;
  table) table ;;
  *) die "unknown mode '$MODE' (grid, table)" ;;
esac

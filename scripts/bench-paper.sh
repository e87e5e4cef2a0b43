#!/usr/bin/env bash
# esft's side of the same-config comparison with the paper's own Countdown ES
# script (issue 15): `esft train --task countdown` on the first SAMPLES items
# of the paper's countdown data, full-rank noise, population POP, MAXNEW new
# tokens, ITERS iterations, 2 threads on the cpu backend; prints the seconds
# of each iteration (metrics.jsonl) and where they went.
#   scripts/bench-paper.sh COUNTDOWN_JSON [POP SAMPLES MAXNEW ITERS] [-- extra esft train flags]
# COUNTDOWN_JSON: the paper's countdown/data/countdown.json (a JSON array of
# {context, numbers, target}); defaults 8 16 64 2, as the peer script
# run_paper_es.sh takes them. Run the peer in the same sitting and quote the
# ratio of the two. Environment: ESFT_BIN (default build/esft), THREADS (2),
# OUT (keep the run in this directory, replacing a run there; default: a
# temporary directory, removed at the end with the cut data).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ESFT=${ESFT_BIN:-${ESFT_BUILD_DIR:-$ROOT/build}/esft}
usage() { echo "usage: scripts/bench-paper.sh COUNTDOWN_JSON [POP SAMPLES MAXNEW ITERS] [-- esft train flags]" >&2; exit 2; }
[ $# -ge 1 ] || usage
case "$1" in -h|--help) sed -n '2,13p' "$0"; exit 0 ;; esac
DATA=$1; shift
POS=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do POS+=("$1"); shift; done
[ "${1:-}" = -- ] && shift
[ ${#POS[@]} -le 4 ] || usage
POP=${POS[0]:-8}; SAMPLES=${POS[1]:-16}; MAXNEW=${POS[2]:-64}; ITERS=${POS[3]:-2}
for v in "$POP" "$SAMPLES" "$MAXNEW" "$ITERS"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "bench-paper.sh: '$v' is not a positive integer" >&2; usage; }
done
[ -x "$ESFT" ] || { echo "bench-paper.sh: no esft binary at $ESFT (build first, or set ESFT_BIN)" >&2; exit 1; }
[ -f "$DATA" ] || { echo "bench-paper.sh: no countdown data at '$DATA'" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench-paper.sh: python3 is needed to cut the data" >&2; exit 1; }

WORK=$(mktemp -d /tmp/esft-bench-paper.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
OUT=${OUT:-$WORK/run}
python3 - "$DATA" "$SAMPLES" "$WORK/data.json" <<'PY'
import json, sys
src, n, dst = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    items = json.load(open(src))
except (OSError, ValueError) as e:
    sys.exit(f"bench-paper.sh: {src}: {e}")
if not isinstance(items, list) or len(items) < n:
    sys.exit(f"bench-paper.sh: {src}: not a JSON array of at least {n} countdown items")
json.dump(items[:n], open(dst, "w"))
PY

echo "esft train: pop $POP, $SAMPLES prompts, $MAXNEW new tokens, $ITERS iterations, full-rank noise, threads ${THREADS:-2}"
"$ESFT" train --task countdown --data "$WORK/data.json" --pop "$POP" --batch "$SAMPLES" \
  --max-new "$MAXNEW" --iters "$ITERS" --noise full --backend cpu --threads "${THREADS:-2}" \
  --out "$OUT" --overwrite --quiet "$@" >/dev/null
python3 - "$OUT/metrics.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for r in rows:
    print(f"iteration {r['iter']}: {r['seconds']:.1f} s (generate {r['seconds_generate']:.1f}, "
          f"perturb {r['seconds_perturb']:.1f}, update {r['seconds_update']:.1f}), "
          f"{r['tokens']} new tokens")
PY

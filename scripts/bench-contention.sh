#!/usr/bin/env bash
# Decode speed of the cpu backend on a quiet machine and beside one busy
# process (a python3 spin loop, what a user's other work looks like), with
# 1 and 2 threads, in one run: `esft bench decode` four times.
# The goal (issue 15): loaded, --threads 2 >= --threads 1.
#   scripts/bench-contention.sh [--model FILE] [--batch 1,16] [--threads-max 2]
# Environment: ESFT_BIN (default build/esft); ESFT_CPU_YIELD=0 measures the
# pool without its watch on the load (cpu_pool.c).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ESFT=${ESFT_BIN:-${ESFT_BUILD_DIR:-$ROOT/build}/esft}
MODEL=$ROOT/models/cache/SmolLM2-135M-Instruct.Q4_1.gguf
BATCH=1,16
TMAX=2
while [ $# -gt 0 ]; do
  case "$1" in
    --model) MODEL=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --threads-max) TMAX=$2; shift 2 ;;
    *) echo "bench-contention.sh: unknown argument '$1' (--model FILE, --batch LIST, --threads-max N)" >&2; exit 2 ;;
  esac
done
[ -x "$ESFT" ] || { echo "bench-contention.sh: no esft binary at $ESFT (build first, or set ESFT_BIN)" >&2; exit 1; }
[ -f "$MODEL" ] || { echo "bench-contention.sh: no model at $MODEL (scripts/fetch-model.sh, or --model)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench-contention.sh: python3 is needed for the busy process" >&2; exit 1; }

BUSY=
stop_busy() { if [ -n "$BUSY" ]; then kill "$BUSY" 2>/dev/null || true; wait "$BUSY" 2>/dev/null || true; BUSY=; fi; }
trap stop_busy EXIT

# "batch tok/s" lines of one bench decode run
decode() {
  "$ESFT" bench decode --backend cpu --model "$MODEL" --batch "$BATCH" --threads "$1" |
    awk '$1 ~ /^[0-9]+$/ && NF >= 5 { print $1, $2 }'
}

declare -A TPS
for load in quiet loaded; do
  if [ "$load" = loaded ]; then
    python3 -c 'while 1: pass' &
    BUSY=$!
    sleep 1
  fi
  for t in $(seq 1 "$TMAX"); do
    while read -r b tps; do TPS[$load,$t,$b]=$tps; done < <(decode "$t")
  done
  stop_busy
done

echo "decode tok/s, cpu backend, $(basename "$MODEL"); loaded = one busy python3 process beside it"
printf '%6s %8s' batch threads; printf ' %10s %10s\n' quiet loaded
for b in ${BATCH//,/ }; do
  for t in $(seq 1 "$TMAX"); do
    printf '%6s %8s %10s %10s\n' "$b" "$t" "${TPS[quiet,$t,$b]:-?}" "${TPS[loaded,$t,$b]:-?}"
  done
done

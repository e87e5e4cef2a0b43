#!/usr/bin/env bash
# esft train over MPI ranks (Open MPI's mpirun, cpu backend, a tiny
# synthetic model, one thread per rank): 2, 3 and 5 ranks end with the same
# weights as one process (full and low-rank members), resume across rank counts stays identical, split
# eval gives the same metrics, a flipped weight bit is caught by the hash
# check, and a rank that dies (kill -9) or hangs (SIGSTOP) ends the job
# non-zero within 60 s. Skipped (77) without mpirun or an MPI build.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"
command -v mpirun >/dev/null || { echo "skip: mpirun not found"; exit 77; }
"$ESFT" --version | grep -qw mpi || { echo "skip: esft built without MPI"; exit 77; }

# CI runs as root; Open MPI refuses that unless told
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# More ranks than cores on a small CI machine; esft binds each rank itself.
# No leak check in the ranks (ASan build): Open MPI 4 keeps what MPI_Init
# allocates until exit, and its plugins are dlclose()d by MPI_Finalize, so
# LeakSanitizer reports them as <unknown module> frames that no suppression
# can name. esft's own code is leak-checked by the one-process runs here
# and in cli_train.sh, which take the same paths without MPI.
MPI=(env "ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0" mpirun --oversubscribe --bind-to none -np)
same_file() { cmp -s "$1" "$2" && ok || bad "$1 and $2 differ"; }
field() { grep -o "\"$1\":[^,}]*" "$2"; } # every line's value of one metrics field

"$ESFT" synth --preset tiny --out "$TMP/tiny.gguf" 2>/dev/null || { echo "synth failed"; exit 1; }
C=(--model "$TMP/tiny.gguf" --task conciseness --sigma 0.05 --alpha 0.02 --max-new 6 --seed 11
   --threads 1 --backend cpu --iters 3)

# --- one process vs 2 ranks (population 4) and 3 ranks (population 5) -----
expect 0 "$ESFT" train "${C[@]}" --pop 4 --quiet --out "$TMP/s4"
cmp -s "$TMP/tiny.gguf" "$TMP/s4/final.gguf" && bad "training did not change the model" || ok
expect 0 "${MPI[@]}" 2 "$ESFT" train "${C[@]}" --pop 4 --out "$TMP/m2"
same_file "$TMP/s4/final.gguf" "$TMP/m2/final.gguf"
grep -q "rank 1/2 (node rank 1/2): cpu device 0 (no PCI), cpus " "$TMP/err" && ok || bad "placement line: $(head -3 "$TMP/err")"
# rank 0 alone writes metrics: 3 lines, the same rewards as one process
[ "$(wc -l <"$TMP/m2/metrics.jsonl")" = 3 ] && ok || bad "2-rank metrics.jsonl should have 3 lines"
[ "$(field rewards "$TMP/s4/metrics.jsonl")" = "$(field rewards "$TMP/m2/metrics.jsonl")" ] && ok || bad "2-rank rewards differ"
field ranks "$TMP/m2/metrics.jsonl" | grep -qx '"ranks":2' && ok || bad "metrics do not record 2 ranks"

expect 0 "$ESFT" train "${C[@]}" --pop 5 --quiet --out "$TMP/s5"
expect 0 "${MPI[@]}" 3 "$ESFT" train "${C[@]}" --pop 5 --quiet --out "$TMP/m3"
same_file "$TMP/s5/final.gguf" "$TMP/m3/final.gguf"
# more ranks than members: rank 4 has none
expect 0 "${MPI[@]}" 5 "$ESFT" train "${C[@]}" --pop 4 --quiet --out "$TMP/m5"
same_file "$TMP/s4/final.gguf" "$TMP/m5/final.gguf"

# --- low-rank members (--noise lowrank): each rank decodes its members as one
# batch; the update regenerates every member's factors on every rank ---------
L=(--noise lowrank --rank 2 --quiet)
expect 0 "$ESFT" train "${C[@]}" --pop 6 "${L[@]}" --antithetic --out "$TMP/l1"
cmp -s "$TMP/tiny.gguf" "$TMP/l1/final.gguf" && bad "low-rank training did not change the model" || ok
expect 0 "${MPI[@]}" 2 "$ESFT" train "${C[@]}" --pop 6 "${L[@]}" --antithetic --out "$TMP/l2"
same_file "$TMP/l1/final.gguf" "$TMP/l2/final.gguf"
# 4 ranks hold 2, 2, 1 and 1 of the 6 members: the last pair is split, and
# each of its ranks draws the pair's factors with its own member's sign
expect 0 "${MPI[@]}" 4 "$ESFT" train "${C[@]}" --pop 6 "${L[@]}" --antithetic --out "$TMP/l4"
same_file "$TMP/l1/final.gguf" "$TMP/l4/final.gguf"
[ "$(field rewards "$TMP/l1/metrics.jsonl")" = "$(field rewards "$TMP/l4/metrics.jsonl")" ] && ok || bad "4-rank low-rank rewards differ"

# --- resume: 2 iterations on 2 ranks, the third on 3 ranks ------------------
expect 0 "${MPI[@]}" 2 "$ESFT" train "${C[@]}" --pop 4 --quiet --iters 2 --out "$TMP/r"
expect 0 "${MPI[@]}" 3 "$ESFT" train --resume "$TMP/r" --iters 3 --threads 1 --backend cpu --quiet
same_file "$TMP/s4/final.gguf" "$TMP/r/final.gguf"
[ "$(wc -l <"$TMP/r/metrics.jsonl")" = 3 ] && ok || bad "resumed metrics.jsonl should have 3 lines"

# --- optimizers (issue 17): every rank keeps its own Adam state and anchor;
# 2 ranks = one process, and a resume on 3 ranks reloads the state file ------
O=(--optimizer adam --alpha 0.002 --anchor-decay 50 --pop 4 --quiet)
expect 0 "$ESFT" train "${C[@]}" "${O[@]}" --out "$TMP/oa1"
expect 0 "${MPI[@]}" 2 "$ESFT" train "${C[@]}" "${O[@]}" --out "$TMP/oa2"
same_file "$TMP/oa1/final.gguf" "$TMP/oa2/final.gguf"
cmp -s "$TMP/s4/final.gguf" "$TMP/oa1/final.gguf" && bad "adam gave the sgd model" || ok
expect 0 "${MPI[@]}" 2 "$ESFT" train "${C[@]}" "${O[@]}" --iters 2 --out "$TMP/oar"
expect 0 "${MPI[@]}" 3 "$ESFT" train --resume "$TMP/oar" --iters 3 --threads 1 --backend cpu --quiet
same_file "$TMP/oa1/final.gguf" "$TMP/oar/final.gguf"
# with low-rank members the state takes the factors' product on every rank
expect 0 "$ESFT" train "${C[@]}" "${O[@]}" "${L[@]}" --out "$TMP/ol1"
expect 0 "${MPI[@]}" 2 "$ESFT" train "${C[@]}" "${O[@]}" "${L[@]}" --out "$TMP/ol2"
same_file "$TMP/ol1/final.gguf" "$TMP/ol2/final.gguf"

# --- eval split over 3 ranks (10 items: 4 + 3 + 3) ---------------------------
expect 0 "$ESFT" train "${C[@]}" --pop 4 --quiet --eval-every 1 --out "$TMP/e1"
expect 0 "${MPI[@]}" 3 "$ESFT" train "${C[@]}" --pop 4 --quiet --eval-every 1 --out "$TMP/e3"
[ "$(field eval_items "$TMP/e1/metrics.jsonl" | head -1)" = '"eval_items":10' ] && ok || bad "eval items"
for f in eval_reward eval_accuracy; do
  [ "$(field $f "$TMP/e1/metrics.jsonl")" = "$(field $f "$TMP/e3/metrics.jsonl")" ] && ok || bad "split eval: $f differs"
done

# --- a rank whose weights drift is caught at the next hash check ------------
ESFT_TEST_FLIP_BIT_RANK=1 "${MPI[@]}" 3 "$ESFT" train "${C[@]}" --pop 4 --quiet --hash-every 2 \
  --out "$TMP/h" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ "$rc" != 0 ] && ok || bad "a hash mismatch should fail the job"
grep -q "^esft train: iteration 2: the master weights of rank 1 differ from rank 0's" "$TMP/err" && ok ||
  bad "hash mismatch message: $(head -3 "$TMP/err")"
[ ! -e "$TMP/h/final.gguf" ] && ok || bad "a diverged run wrote final.gguf"

# --- bad input ---------------------------------------------------------------
expect 2 "$ESFT" train "${C[@]}" --pop 4 --hash-every 0 --out "$TMP/bad"
expect 2 "$ESFT" train "${C[@]}" --pop 4 --mpi-timeout 0 --out "$TMP/bad"

# --- a rank that dies or hangs ends the job within 60 s ----------------------
# ranks_of DIR: pids of the esft ranks writing to DIR (not mpirun)
ranks_of() {
  local p
  for p in $(pgrep -x esft); do grep -qa -- "$1" "/proc/$p/cmdline" 2>/dev/null && echo "$p"; done
}
# fault SIGNAL NAME: starts a long 2-rank run, waits for its first
# iteration, signals one rank; the job must end non-zero within 60 s
fault() {
  local sig=$1 dir="$TMP/$2" t0 pid victim waited=0
  timeout 120 "${MPI[@]}" 2 "$ESFT" train "${C[@]}" --pop 4 --quiet --iters 1000000 --mpi-timeout 5 \
    --out "$dir" >"$dir.out" 2>"$dir.err" &
  pid=$!
  while [ "$(cat "$dir/metrics.jsonl" 2>/dev/null | wc -l)" -lt 1 ] && [ $waited -lt 300 ]; do
    sleep 0.1; waited=$((waited + 1))
  done
  victim=$(ranks_of "$dir" | tail -1)
  [ -n "$victim" ] || { bad "$2: no rank found"; kill "$pid"; wait "$pid"; return; }
  t0=$(date +%s)
  kill "-$sig" "$victim"
  wait "$pid"; local rc=$?
  local took=$(($(date +%s) - t0))
  kill -KILL "$victim" 2>/dev/null # a stopped rank mpirun failed to end
  [ "$rc" != 0 ] && [ "$rc" != 124 ] && [ "$took" -le 60 ] && ok ||
    bad "$2: exit $rc after $took s (want non-zero within 60 s); $(head -2 "$dir.err")"
  echo "$2: job ended with exit $rc $took s after SIGKILL/SIGSTOP of rank pid $victim"
}
fault KILL killed
fault STOP hung
grep -q "a rank died or hung; aborting the job" "$TMP/hung.err" && ok || bad "hang message: $(head -2 "$TMP/hung.err")"

# --- a reward command: one process per rank, each scoring its own members ---
printf '{"prompt": "Say hi.", "answer": "hi"}\n{"prompt": "Count to three.", "answer": "1 2 3"}\n' >"$TMP/d.jsonl"
cat >"$TMP/concise.py" <<'P'
import json, os, sys
open(sys.argv[1], "a").write("%d\n" % os.getpid())
for line in sys.stdin:
    req = json.loads(line); g = abs(len(req["response"]) - len(req["item"]["answer"]))
    sys.stdout.write(json.dumps({"id": req["id"], "reward": -g if g else 0.0}) + "\n"); sys.stdout.flush()
P
R=(--model "$TMP/tiny.gguf" --data "$TMP/d.jsonl" --pop 4 --sigma 0.05 --alpha 0.02 --max-new 6 --seed 3
   --threads 1 --backend cpu --iters 2 --quiet)
expect 0 "$ESFT" train "${R[@]}" --reward-cmd "python3 $TMP/concise.py $TMP/pids" --out "$TMP/r1"
rm -f "$TMP/pids" # the same command line: final.gguf records it
expect 0 "${MPI[@]}" 2 "$ESFT" train "${R[@]}" --reward-cmd "python3 $TMP/concise.py $TMP/pids" --out "$TMP/r2"
same_file "$TMP/r1/final.gguf" "$TMP/r2/final.gguf"
[ "$(sort -u "$TMP/pids" | wc -l)" = 2 ] && ok || bad "want 2 reward processes for 2 ranks: $(cat "$TMP/pids")"
# a rank whose scorer dies ends the job, and says why (before the abort)
printf 'import sys\nsys.stdin.readline()\nsys.exit("scorer crashed")\n' >"$TMP/crash.py"
"${MPI[@]}" 2 "$ESFT" train "${R[@]}" --reward-cmd "python3 $TMP/crash.py" --out "$TMP/r3" >"$TMP/r3.log" 2>&1 \
  && bad "a crashed scorer did not fail the job" || ok
grep -q "esft train: rank [01]: reward command .*exited with status 1.*scorer crashed" "$TMP/r3.log" && ok \
  || bad "no error line from the failed rank: $(head -3 "$TMP/r3.log")"

finish

#!/usr/bin/env bash
# esft train's run directory: no run is overwritten unasked, one run at a
# time, --resume needs no flag again and notices changed data, eval
# settings survive a resume, a run stopped before its first checkpoint can
# be resumed, samples.jsonl, zero-signal accounting, 1-based iterations,
# heartbeat lines, and path edge cases.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"
"$ESFT" synth --preset tiny --out "$TMP/tiny.gguf" 2>/dev/null || { echo "synth failed"; exit 1; }
"$ESFT" data countdown --n 12 --seed 3 >"$TMP/cd.json" 2>/dev/null || { echo "data failed"; exit 1; }
M="$TMP/tiny.gguf"
LOUD=(--model "$M" --pop 4 --sigma 0.05 --alpha 0.02 --max-new 4)
TINY=("${LOUD[@]}" --quiet)
CD_LOUD=("${LOUD[@]}" --task countdown --data "$TMP/cd.json" --batch 4)
CD=("${CD_LOUD[@]}" --quiet)
jq_lines() { python3 -c 'import json,sys; [print(json.loads(l)[sys.argv[2]]) for l in open(sys.argv[1])]' "$@"; }

# --- an --out that holds a run is refused unless --overwrite ---------------
expect 0 "$ESFT" train "${TINY[@]}" --task conciseness --iters 1 --out "$TMP/a"
cp "$TMP/a/metrics.jsonl" "$TMP/a.metrics"
expect 2 "$ESFT" train "${TINY[@]}" --task conciseness --iters 2 --out "$TMP/a"
grep -q "holds a run; use --resume .* or --overwrite" "$TMP/err" && ok || bad "refusal message: $(cat "$TMP/err")"
cmp -s "$TMP/a/metrics.jsonl" "$TMP/a.metrics" && ok || bad "a refused run touched metrics.jsonl"
expect 0 "$ESFT" train "${TINY[@]}" --task conciseness --iters 2 --out "$TMP/a" --overwrite
[ "$(wc -l <"$TMP/a/metrics.jsonl")" = 2 ] && ok || bad "--overwrite: metrics.jsonl should have 2 lines"
# a directory with unrelated files is not a run
mkdir -p "$TMP/mine" && echo keep >"$TMP/mine/notes.txt"
expect 0 "$ESFT" train "${TINY[@]}" --task conciseness --iters 1 --out "$TMP/mine"
[ "$(cat "$TMP/mine/notes.txt")" = keep ] && ok || bad "a user's file in --out was touched"

# --- iterations are 1-based in metrics.jsonl, as on screen -----------------
[ "$(jq_lines "$TMP/a/metrics.jsonl" iter | tr '\n' ' ')" = "1 2 " ] && ok || bad "iter should be 1 2"

# --- resume: no --data needed, eval settings kept, changed data refused ----
expect 0 "$ESFT" train "${CD[@]}" --iters 2 --eval-every 1 --eval-limit 2 --eval-data "$TMP/cd.json" \
  --checkpoint-every 1 --out "$TMP/r"
mkdir "$TMP/elsewhere"
(cd "$TMP/elsewhere" && "$ESFT" train --resume "$TMP/r" --iters 4 --quiet) && ok || bad "resume from another directory"
[ "$(grep -c '"eval_accuracy"' "$TMP/r/metrics.jsonl")" = 4 ] && ok || bad "resume dropped --eval-every 1"
[ "$(jq_lines "$TMP/r/metrics.jsonl" eval_items | sort -u)" = 2 ] && ok || bad "resume dropped --eval-limit 2"
# --resume alone continues to the run's recorded --iters: a run started with
# --iters 3 and stopped after its first checkpoint (run.json says 3)
expect 0 "$ESFT" train "${CD[@]}" --iters 3 --out "$TMP/straight"
expect 0 "$ESFT" train "${CD[@]}" --iters 1 --out "$TMP/r3"
python3 - "$TMP/r3/run.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1])); r["iters"] = 3
json.dump(r, open(sys.argv[1], "w"))
EOF
rm "$TMP/r3/final.gguf"
expect 0 "$ESFT" train --resume "$TMP/r3" --quiet
[ "$(wc -l <"$TMP/r3/metrics.jsonl")" = 3 ] && ok || bad "--resume alone should run to iteration 3"
cmp -s "$TMP/r3/final.gguf" "$TMP/straight/final.gguf" && ok || bad "resumed run differs from the straight run"
printf ' ' >>"$TMP/cd.json"
expect 2 "$ESFT" train --resume "$TMP/r" --iters 5 --quiet
grep -q "cd.json changed since the run started.*pass --data" "$TMP/err" && ok || bad "changed data: $(cat "$TMP/err")"
expect 0 "$ESFT" train --resume "$TMP/r" --iters 5 --quiet --data "$TMP/cd.json" --eval-data "$TMP/cd.json"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(r["data"]["bytes"] != int(sys.argv[2]))' \
  "$TMP/r/run.json" "$(stat -c %s "$TMP/cd.json")" && ok || bad "run.json should record the data given on resume"

# --- a run stopped before its first checkpoint resumes from the start -----
expect 0 "$ESFT" train "${TINY[@]}" --task conciseness --iters 2 --out "$TMP/k"
rm "$TMP/k/checkpoint.gguf" "$TMP/k/final.gguf"
expect 0 "$ESFT" train --resume "$TMP/k"
grep -q "no checkpoint yet; starting the run again from iteration 1" "$TMP/err" && ok || bad "no-checkpoint resume: $(cat "$TMP/err")"
[ "$(wc -l <"$TMP/k/metrics.jsonl")" = 2 ] && [ -f "$TMP/k/final.gguf" ] && ok || bad "restarted run incomplete"
cmp -s "$TMP/k/final.gguf" "$TMP/a/final.gguf" && ok || bad "restarted run differs from the same run straight through"
expect 1 "$ESFT" train --resume "$TMP/nowhere" --quiet
[ -e "$TMP/nowhere" ] && bad "--resume of a missing directory created it" || ok

# --- one run per directory at a time ---------------------------------------
"$ESFT" train "${CD[@]}" --iters 1000 --out "$TMP/busy" 2>/dev/null &
busy=$!
for _ in $(seq 100); do [ -s "$TMP/busy/run.json" ] && break; sleep 0.1; done
expect 1 "$ESFT" train "${CD[@]}" --iters 2 --out "$TMP/busy" --overwrite
grep -q "another esft train (pid $busy) is using this directory" "$TMP/err" && ok || bad "lock: $(cat "$TMP/err")"
expect 1 "$ESFT" train --resume "$TMP/busy" --quiet
kill "$busy"; wait "$busy" 2>/dev/null

# --- samples.jsonl: K lines per iteration from the best and worst member ---
expect 0 "$ESFT" train "${TINY[@]}" --task conciseness --iters 2 --log-samples 3 --max-new 12 --out "$TMP/s"
[ "$(wc -l <"$TMP/s/samples.jsonl")" = 6 ] && ok || bad "samples.jsonl should have 6 lines"
python3 - "$TMP/s" <<'EOF' && ok || bad "samples.jsonl content"
import json, sys
d = sys.argv[1]
metrics = [json.loads(l) for l in open(d + "/metrics.jsonl")]
for s in map(json.loads, open(d + "/samples.jsonl")):
    m = metrics[s["iter"] - 1]
    want = m["reward_max"] if s["which"] == "best" else m["reward_min"]
    assert abs(s["member_reward"] - want) < 1e-9, (s, want)
    assert m["rewards"][s["member"]] == s["member_reward"]
    # conciseness: reward = -|len(response) - len(target)|, recomputed here
    assert isinstance(s["prompt"], str) and s["prompt"] and isinstance(s["response"], str)
    assert s["reward"] <= 0
EOF

# --- zero signal: counted, flagged, and a hint after 5 in a row ------------
expect 0 "$ESFT" train "${CD[@]}" --iters 6 --out "$TMP/z" --overwrite
python3 - "$TMP/z/metrics.jsonl" <<'EOF' && ok || bad "zero-signal metrics"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert all(l["reward_std"] == 0 and l["zero_signal"] for l in lines)
assert [l["zero_signal_iters"] for l in lines] == [1, 2, 3, 4, 5, 6]
assert lines[-1]["frac_zero_signal"] == 1
EOF
"$ESFT" train "${CD_LOUD[@]}" --iters 6 --out "$TMP/z" --overwrite 2>"$TMP/z.err"
[ "$(grep -c "5 iterations in a row without signal" "$TMP/z.err")" = 1 ] && ok || bad "zero-signal hint"
grep -q "no signal: all 4 members scored" "$TMP/z.err" && ok || bad "iteration line should flag no signal"

# --- not a terminal: a heartbeat line while an iteration runs --------------
ESFT_PROGRESS_HEARTBEAT=0.01 "$ESFT" train "${CD_LOUD[@]}" --iters 1 --max-new 8 --out "$TMP/h" 2>"$TMP/h.err"
grep -q "^esft train: iter 1/1: member [0-9]/4, seq [0-9]*/4, .* into the iteration, gen [0-9]* tok/s (+prompt [0-9]*)" \
  "$TMP/h.err" && ok || bad "no heartbeat line: $(head -3 "$TMP/h.err")"

# --- paths -----------------------------------------------------------------
expect 2 "$ESFT" train "${TINY[@]}" --task conciseness --out ""
long="$TMP"
for _ in $(seq 6); do long="$long/$(printf 'd%.0s' $(seq 200))"; done
expect 0 "$ESFT" train "${TINY[@]}" --task conciseness --iters 1 --out "$long"
[ -s "$long/metrics.jsonl" ] && [ -s "$long/final.gguf" ] && ok || bad "a run in a 1,200-byte path"
expect 2 "$ESFT" train "${TINY[@]}" --task conciseness --params 'nothing.*' --out "$TMP/p"
grep -q "matches no tensor of .* (it has [0-9]*: token_embd.weight" "$TMP/err" && ok || bad "--params message: $(cat "$TMP/err")"

finish

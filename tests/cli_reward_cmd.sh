#!/usr/bin/env bash
# An external reward command (--reward-cmd) on a tiny synthetic model: the
# JSON-lines protocol with a well-behaved script, and one clear line for a
# crashing, hanging, garbage-printing, wrong-id, id-less and non-finite one;
# a slow response scores --reward-timeout-score and is counted; training is
# deterministic (two runs and a resumed one give the same file) and a script
# computing the built-in conciseness reward trains bit for bit like it.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"
has() { grep -qF -- "$2" "$1" && ok || { bad "$1 lacks: $2"; cat "$1" >&2; }; }
same_file() { cmp -s "$1" "$2" && ok || bad "$1 and $2 differ"; }
command -v python3 >/dev/null || { echo "skip: no python3"; exit 77; }
EXACT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../examples/rewards" && pwd)/exact.py"

"$ESFT" synth --preset tiny --out "$TMP/tiny.gguf" 2>/dev/null || { echo "synth failed"; exit 1; }
M="$TMP/tiny.gguf"
cat >"$TMP/my.jsonl" <<'J'
{"prompt": "What is 2 + 2?", "answer": "4"}
{"prompt": "Name the capital of France.", "answer": "Paris"}
{"prompt": "Say yes slowly.", "answer": "yes"}
{"prompt": "Spell cat.", "answer": "c-a-t"}
{"prompt": "What colour is the sky?", "answer": "blue"}
{"prompt": "Count to three.", "answer": "1 2 3"}
J
cat >"$TMP/resp.jsonl" <<'J'
{"response": "4"}
{"response": "<answer> paris. </answer>"}
{"response": "no"}
J

# A script: python3 $TMP/NAME.py, its body after the protocol loop's start
# (req: the request; reply(dict) answers it).
script() {
  cat >"$TMP/$1.py" <<P
import json, sys, time, math
n = 0
def reply(d):
    sys.stdout.write(json.dumps(d) + "\n"); sys.stdout.flush()
for line in sys.stdin:
    req = json.loads(line); n += 1
$2
P
}
script crash '    if n == 2: sys.stderr.write("boom: cannot score this\n"); sys.exit(3)
    reply({"id": req["id"], "reward": 1})'
script hang '    if n == 2: time.sleep(1000)
    reply({"id": req["id"], "reward": 1})'
script garbage '    print("hello from the scorer", flush=True)'
script wrongid '    reply({"id": req["id"] + 1000, "reward": 1})'
script noid '    reply({"reward": 1})'
script nonfinite '    sys.stdout.write("{\"id\": %d, \"reward\": 1e999}\n" % req["id"]); sys.stdout.flush()'
script twice '    reply({"id": req["id"], "reward": 1}); reply({"id": req["id"], "reward": 1})'
script slow '    if "slowly" in req["prompt"]: time.sleep(3)
    reply({"id": req["id"], "reward": 2, "parts": {"len": len(req["response"])}})'
# the built-in conciseness reward, -|len(response) - len(answer)| in characters
script concise '    g = abs(len(req["response"]) - len(req["item"]["answer"]))
    reply({"id": req["id"], "reward": -g if g else 0.0})'

SCORE=("$ESFT" score --data "$TMP/my.jsonl" --responses "$TMP/resp.jsonl")

# --- a well-behaved script: exact.py, by hand: "4" = 4, "paris." = Paris, "no" != yes
expect 0 "${SCORE[@]}" --reward-cmd "python3 $EXACT"
has "$TMP/out" '{"index":0,"reward":1,"answer":1,"correct":true}'
has "$TMP/out" '{"index":1,"reward":1,"answer":1,"correct":true}'
has "$TMP/out" '{"index":2,"reward":0,"answer":0,"correct":false}'
# a command with shell syntax (an environment assignment) runs under /bin/sh
expect 0 "${SCORE[@]}" --reward-cmd "EXTRA=1 python3 '$EXACT'"
has "$TMP/out" '{"index":1,"reward":1,"answer":1,"correct":true}'

# --- final_number.py is the built-in numeric's answer part, item by item
cat >"$TMP/num.jsonl" <<'J'
{"prompt": "a", "answer": 82}
{"prompt": "b", "answer": -11}
{"prompt": "c", "answer": 3}
{"prompt": "d", "answer": 1234}
{"prompt": "e", "answer": 7}
{"prompt": "f", "answer": 2.5}
J
cat >"$TMP/num-resp.jsonl" <<'J'
{"response": "50 + 32 = 82"}
{"response": "#### -11\n\nThe final answer is 4."}
{"response": "no idea"}
{"response": "It is 1,234."}
{"response": "#### 8 + 1 = 7"}
{"response": "2.5 and then 3"}
J
NUM=("$ESFT" score --data "$TMP/num.jsonl" --responses "$TMP/num-resp.jsonl")
expect 0 "${NUM[@]}" --reward numeric
sed 's/.*"index":\([0-9]*\).*"answer":\([0-9.]*\).*/\1 \2/' "$TMP/out" >"$TMP/num-builtin"
expect 0 "${NUM[@]}" --reward-cmd "python3 $(dirname "$EXACT")/final_number.py"
sed 's/.*"index":\([0-9]*\).*"answer":\([0-9.]*\).*/\1 \2/' "$TMP/out" >"$TMP/num-cmd"
[ "$(wc -l <"$TMP/num-cmd")" = 6 ] && cmp -s "$TMP/num-builtin" "$TMP/num-cmd" && ok ||
  bad "final_number.py differs from numeric's answer: $(paste -d' ' "$TMP/num-builtin" "$TMP/num-cmd" | tr '\n' ';')"
grep -q '"index":0,"reward":1' "$TMP/out" && grep -q '"index":2,"reward":0' "$TMP/out" && ok || bad "final_number.py: $(cat "$TMP/out")"
# closeness.py, by hand: exact answers 1; "#### 8 + 1 = 7" reads 8 for 7:
# 0.5 * (1 - 1/7); "2.5 and then 3" reads 3 for 2.5: 0.5 * (1 - 0.5/2.5); none 0
expect 0 "${NUM[@]}" --reward-cmd "python3 $(dirname "$EXACT")/closeness.py"
for want in '"index":0,"reward":1,' '"index":1,"reward":1,' '"index":2,"reward":0,' '"index":3,"reward":1,' \
  '"index":4,"reward":0.42857142857' '"index":5,"reward":0.4,"answer":0,"closeness":0.8,"correct":false'; do
  has "$TMP/out" "$want"
done

# --- failures: one line naming the command, the item and stderr's tail -------
# refused NAME WANT [FLAGS]: esft score with python3 $TMP/NAME.py fails with WANT in its line
refused() { local name=$1 want=$2; shift 2; expect 1 "${SCORE[@]}" --reward-cmd "python3 $TMP/$name.py" "$@" && has "$TMP/err" "$want"; }
refused crash "reward command 'python3 $TMP/crash.py': item $TMP/my.jsonl:2: the command exited with status 3"
has "$TMP/err" 'its stderr ends: "boom: cannot score this"'
refused hang "item $TMP/my.jsonl:3: no answer for 0.3 s after a timed-out request" --reward-timeout 0.3
refused garbage "item $TMP/my.jsonl:1: it printed a line that is not a JSON object: 'hello from the scorer'"
refused wrongid "it answered id 1000, which esft never sent (ids 0..0)"
refused noid "an answer without an integer 'id'"
refused nonfinite "item $TMP/my.jsonl:1: the reward is not finite"
refused twice "it answered id 0 twice"
expect 1 "${SCORE[@]}" --reward-cmd "python3 -c 'import sys; sys.exit(4)'"
has "$TMP/err" "item $TMP/my.jsonl:1: the command exited with status 4"
expect 1 "${SCORE[@]}" --reward-cmd "$TMP/no-such-scorer --flag"
has "$TMP/err" "cannot run $TMP/no-such-scorer: No such file or directory"
expect 2 "${SCORE[@]}" --reward-cmd "python3 'unclosed"
has "$TMP/err" "an unclosed quote"
expect 2 "${SCORE[@]}" --reward exact --reward-cmd "python3 $EXACT"

# --- a slow response times out: scored X, counted; the late answer is dropped -
expect 0 "$ESFT" eval --model "$M" --data "$TMP/my.jsonl" --max-new 3 --reward-cmd "python3 $TMP/slow.py" \
  --reward-timeout 2 --reward-timeout-score -1 --out "$TMP/slow.jsonl"
has "$TMP/out" "1 reward timeouts"
has "$TMP/slow.jsonl" '"index":2,'
grep '"index":2,' "$TMP/slow.jsonl" | grep -q '"reward":-1,.*"timed_out":true' && ok || bad "item 2 did not time out"
[ "$(grep -c '"reward":2,' "$TMP/slow.jsonl")" = 5 ] && ok || bad "the other 5 responses should score 2"
has "$TMP/slow.jsonl" '"len":'

# --- training: deterministic, resumable, the command recorded ---------------
COMMON=(--model "$M" --data "$TMP/my.jsonl" --pop 4 --sigma 0.05 --alpha 0.02 --max-new 6 --seed 5 --quiet)
# a timed-out response in training: each of the 2 members has one
expect 0 "$ESFT" train "${COMMON[@]}" --pop 2 --iters 1 --reward-cmd "python3 $TMP/slow.py" --reward-timeout 2 \
  --out "$TMP/t"
has "$TMP/t/metrics.jsonl" '"reward_timeouts":2'
expect 0 "$ESFT" train "${COMMON[@]}" --reward-cmd "python3 $EXACT" --iters 3 --out "$TMP/a"
expect 0 "$ESFT" train "${COMMON[@]}" --reward-cmd "python3 $EXACT" --iters 3 --out "$TMP/a2"
same_file "$TMP/a/final.gguf" "$TMP/a2/final.gguf"
expect 0 "$ESFT" train "${COMMON[@]}" --reward-cmd "python3 $EXACT" --iters 2 --out "$TMP/b"
expect 0 "$ESFT" train --resume "$TMP/b" --iters 3 --quiet
same_file "$TMP/a/final.gguf" "$TMP/b/final.gguf"
has "$TMP/a/metrics.jsonl" '"answer_mean":'
has "$TMP/a/metrics.jsonl" '"reward_timeouts":0'
grep -qE "\"reward_cmd\":[[:space:]]*\"python3 $EXACT\"" "$TMP/a/run.json" && ok || bad "run.json lacks the command"
# the resumed run keeps its command: another one is refused
expect 2 "$ESFT" train --resume "$TMP/b" --iters 4 --reward-cmd "python3 other.py" --quiet
has "$TMP/err" "--reward-cmd 'python3 other.py' differs from the run's 'python3 $EXACT'"
expect 2 "$ESFT" train "${COMMON[@]}" --reward-cmd "python3 $EXACT" --eval-every 1 --out "$TMP/f"
has "$TMP/err" "no eval set for --reward-cmd"

# the conciseness reward as a script scores every member of every iteration
# exactly like the built-in one (the files differ: they record the reward)
rewards() { grep -o '"rewards":\[[^]]*\]' "$1/metrics.jsonl"; }
expect 0 "$ESFT" train "${COMMON[@]}" --reward conciseness --iters 3 --out "$TMP/c"
expect 0 "$ESFT" train "${COMMON[@]}" --reward-cmd "python3 $TMP/concise.py" --iters 3 --out "$TMP/d"
[ "$(rewards "$TMP/c")" = "$(rewards "$TMP/d")" ] && [ "$(rewards "$TMP/c" | wc -l)" = 3 ] && ok \
  || bad "the script's rewards differ from the built-in conciseness"
cmp -s "$TMP/a/final.gguf" "$TMP/c/final.gguf" && bad "the length reward did not change the weights" || ok
# a failing command fails the run with its line; the last checkpoint stays and --resume continues
expect 0 "$ESFT" train "${COMMON[@]}" --reward-cmd "python3 $TMP/concise.py" --iters 2 --out "$TMP/e"
cp "$TMP/e/checkpoint.gguf" "$TMP/ckpt-before"
mv "$TMP/concise.py" "$TMP/concise.bak"; echo 'import sys; sys.exit("scorer gone")' >"$TMP/concise.py"
expect 1 "$ESFT" train --resume "$TMP/e" --iters 3 --quiet
has "$TMP/err" "the command exited with status 1"
has "$TMP/err" 'scorer gone'
same_file "$TMP/e/checkpoint.gguf" "$TMP/ckpt-before"
mv "$TMP/concise.bak" "$TMP/concise.py"
expect 0 "$ESFT" train --resume "$TMP/e" --iters 3 --quiet
same_file "$TMP/d/final.gguf" "$TMP/e/final.gguf"

# --- eval: sampled responses, pass@K and the interval; training's eval line ---
# (correct: an even number of characters, so that sampled responses differ in it)
script parity '    ok = len(req["response"]) % 2 == 0
    reply({"id": req["id"], "reward": float(ok), "correct": ok})'
expect 0 "$ESFT" eval --model "$M" --data "$TMP/my.jsonl" --max-new 3 --reward-cmd "python3 $TMP/parity.py" \
  --samples 3 --temp 1.5 --top-p 0.95 --out "$TMP/k.jsonl"
has "$TMP/out" "(6 items, 3 samples each): accuracy"
has "$TMP/out" "[95% CI"
has "$TMP/out" "pass@3"
[ "$(wc -l <"$TMP/k.jsonl")" = 18 ] && ok || bad "--samples 3 --out should hold 18 lines"
has "$TMP/k.jsonl" '"sample":2'
# pass@1 and pass@3 recomputed from the responses written: per item, c of 3 correct
python3 - "$TMP/k.jsonl" "$TMP/out" <<'P' && ok || bad "pass@k disagrees with the responses in --out"
import json, re, sys
from math import comb
c = {}
for line in open(sys.argv[1]):
    r = json.loads(line); c[r["index"]] = c.get(r["index"], 0) + r["correct"]
p1 = sum(1 - comb(3 - k, 1) / comb(3, 1) for k in c.values()) / len(c)
p3 = sum(1 - comb(3 - k, 3) / comb(3, 3) for k in c.values()) / len(c)
out = open(sys.argv[2]).read()
got = re.search(r"pass@1 ([0-9.]+), pass@3 ([0-9.]+)", out)
some = 0 < sum(c.values()) < 3 * len(c) # a mix of right and wrong, or the check says little
sys.exit(not (some and got and abs(float(got[1]) - p1) < 1e-4 and abs(float(got[2]) - p3) < 1e-4))
P
expect 2 "$ESFT" eval --model "$M" --data "$TMP/my.jsonl" --reward-cmd "python3 $EXACT" --samples 3
has "$TMP/err" "--samples 3 needs --temp T > 0"
expect 0 "$ESFT" train "${COMMON[@]}" --reward-cmd "python3 $EXACT" --eval-split 0.34 --iters 1 --out "$TMP/g"
has "$TMP/g/metrics.jsonl" '"eval_accuracy_lo":'
has "$TMP/g/metrics.jsonl" '"eval_accuracy_hi":'
# one process scores both the train and the eval set
script pids '    if n == 1: open(sys.argv[1], "a").write("started\n")
    reply({"id": req["id"], "reward": 1})'
expect 0 "$ESFT" train "${COMMON[@]}" --reward-cmd "python3 $TMP/pids.py $TMP/started" --eval-split 0.34 \
  --eval-every 1 --iters 2 --out "$TMP/h"
[ "$(grep -c '"eval_accuracy":1,' "$TMP/h/metrics.jsonl")" = 2 ] && ok || bad "eval did not run twice with reward 1"
[ "$(wc -l <"$TMP/started")" = 1 ] && ok || bad "$(wc -l <"$TMP/started") reward processes started, want 1"
# no process outlives esft
pgrep -f "$TMP/" >/dev/null && bad "a reward process outlived esft" || ok
finish

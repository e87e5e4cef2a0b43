#!/usr/bin/env bash
# Your own task: esft train / eval / score on a JSONL data set with a built-in
# reward (--data F --reward R), on a tiny synthetic model. Resume is exact
# (2 iterations + --resume to 3 gives the straight 3-iteration run's file),
# the reward is recorded and enforced on resume, parts reach metrics.jsonl,
# and a bad record is refused with one line before anything is trained.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"
has() { grep -qF -- "$2" "$1" && ok || { bad "$1 lacks: $2"; cat "$1" >&2; }; }
same_file() { cmp -s "$1" "$2" && ok || bad "$1 and $2 differ"; }

"$ESFT" synth --preset tiny --out "$TMP/tiny.gguf" 2>/dev/null || { echo "synth failed"; exit 1; }
M="$TMP/tiny.gguf"
cat >"$TMP/my.jsonl" <<'J'
{"prompt": "What is 2 + 2?", "answer": "4"}
{"prompt": "Name the capital of France.", "answer": ["Paris", "paris, france"]}

{"prompt": "Say yes.", "answer": "yes", "source": "hand-made"}
{"prompt": "Spell cat.", "answer": "c-a-t"}
{"prompt": "What colour is the sky?", "answer": "blue"}
{"prompt": "Count to three.", "answer": "1 2 3"}
J
COMMON=(--model "$M" --data "$TMP/my.jsonl" --pop 4 --sigma 0.05 --alpha 0.02 --max-new 6 --seed 5 --quiet)

# --- exact: 3 iterations straight, and 2 + --resume to 3 ----------------------
expect 0 "$ESFT" train "${COMMON[@]}" --reward exact --iters 3 --out "$TMP/a"
expect 0 "$ESFT" train "${COMMON[@]}" --reward exact --iters 2 --out "$TMP/b"
expect 0 "$ESFT" train --resume "$TMP/b" --iters 3 --quiet
same_file "$TMP/a/final.gguf" "$TMP/b/final.gguf"
[ "$(wc -l <"$TMP/b/metrics.jsonl")" = 3 ] && ok || bad "resumed metrics.jsonl should have 3 lines"
has "$TMP/a/metrics.jsonl" '"answer_mean":'
grep -q '"reward":[[:space:]]*"exact"' "$TMP/a/run.json" && ok || bad "run.json does not record the reward"
grep -qa 'esft.reward' "$TMP/b/checkpoint.gguf" && grep -qa 'exact' "$TMP/b/checkpoint.gguf" && ok \
  || bad "the checkpoint does not record the reward"
# the resumed run keeps its reward: another one is refused
expect 2 "$ESFT" train --resume "$TMP/b" --iters 4 --reward numeric --quiet
has "$TMP/err" "--reward numeric differs from the run's exact"

# --- a reward with signal (length): training moves the weights; resume exact ---
grep -v Paris "$TMP/my.jsonl" >"$TMP/short.jsonl" # conciseness reads one answer string
expect 0 "$ESFT" train "${COMMON[@]}" --data "$TMP/short.jsonl" --reward conciseness --iters 3 --out "$TMP/c"
expect 0 "$ESFT" train "${COMMON[@]}" --data "$TMP/short.jsonl" --reward conciseness --iters 2 --out "$TMP/d"
expect 0 "$ESFT" train --resume "$TMP/d" --iters 3 --quiet
same_file "$TMP/c/final.gguf" "$TMP/d/final.gguf"
cmp -s "$TMP/a/final.gguf" "$TMP/c/final.gguf" && bad "the length reward did not change the weights" || ok
has "$TMP/c/metrics.jsonl" '"length_mean":'

# --- --eval-split: held-out items evaluated at the end, recorded for resume ----
expect 0 "$ESFT" train "${COMMON[@]}" --reward exact --eval-split 0.34 --iters 2 --out "$TMP/e"
tail -1 "$TMP/e/metrics.jsonl" >"$TMP/last"
has "$TMP/last" '"eval_items":2'
grep -q '"eval_split":[[:space:]]*0.34' "$TMP/e/run.json" && ok || bad "run.json does not record --eval-split"
expect 2 "$ESFT" train --resume "$TMP/e" --iters 3 --eval-split 0.5 --quiet
expect 2 "$ESFT" train "${COMMON[@]}" --reward exact --eval-split 0.5 --eval-data "$TMP/my.jsonl" --out "$TMP/f"
has "$TMP/err" "--eval-data and --eval-split both"
expect 2 "$ESFT" train "${COMMON[@]}" --reward exact --eval-every 1 --out "$TMP/f"
has "$TMP/err" "no eval set for --reward exact"

# --- refusals: one line, and nothing trained on a half-read file --------------
cp "$TMP/my.jsonl" "$TMP/bad.jsonl"
echo '{"prompt": "Last one", "answers": "typo"}' >>"$TMP/bad.jsonl"
expect 1 "$ESFT" train "${COMMON[@]}" --data "$TMP/bad.jsonl" --reward exact --iters 2 --out "$TMP/g"
has "$TMP/err" "bad.jsonl:8: field 'answer' is missing"
[ ! -e "$TMP/g/metrics.jsonl" ] && [ ! -e "$TMP/g/final.gguf" ] && ok || bad "a run started on a bad data set"
expect 2 "$ESFT" train "${COMMON[@]}" --reward nope --out "$TMP/g"
has "$TMP/err" "unknown reward 'nope'"
expect 2 "$ESFT" train --model "$M" --reward exact --out "$TMP/g" --quiet
has "$TMP/err" "--reward exact needs --data FILE"
expect 2 "$ESFT" train "${COMMON[@]}" --task countdown --reward exact --out "$TMP/g"
expect 2 "$ESFT" train "${COMMON[@]}" --reward exact --reward-arg x --out "$TMP/g"
expect 2 "$ESFT" train "${COMMON[@]}" --reward regex --reward-arg 'a(' --out "$TMP/g"
has "$TMP/err" "--reward-arg 'a(': missing closing parenthesis"
expect 0 "$ESFT" train --help
has "$TMP/out" "--reward"

# --- esft eval and esft score with a reward -----------------------------------
expect 0 "$ESFT" eval --model "$M" --data "$TMP/my.jsonl" --reward exact --max-new 4 --out "$TMP/eval.jsonl"
has "$TMP/out" "(6 items): accuracy"
[ "$(wc -l <"$TMP/eval.jsonl")" = 6 ] && ok || bad "eval --out should hold 6 lines"
expect 0 "$ESFT" eval --model "$M" --data "$TMP/my.jsonl" --reward exact --eval-split 0.34 --max-new 4
has "$TMP/out" "(2 items)"
cat >"$TMP/num.jsonl" <<'J'
{"prompt": "Natalia sold 48 clips in April and half as many in May. How many in all?", "answer": "48 / 2 = 24\n#### 72"}
{"prompt": "What is 1/4 + 1/2?", "answer": 0.75}
J
cat >"$TMP/resp.jsonl" <<'J'
{"response": "She sold 24 in May, so 48 + 24 = \\boxed{72}."}
{"response": "It is 3/4"}
J
# by hand: boxed 72 = 72 (format 1, answer 1: 1.1); 3/4 = 0.75 bare (format 0: 1.0)
expect 0 "$ESFT" score --data "$TMP/num.jsonl" --reward numeric --responses "$TMP/resp.jsonl"
has "$TMP/out" '{"index":0,"reward":1.1,"format":1,"answer":1,"correct":true}'
has "$TMP/out" '{"index":1,"reward":1,"format":0,"answer":1,"correct":true}'
finish

#!/usr/bin/env bash
# esft score and esft data as a user drives them: exact scores for hand-made
# responses, generated problems solved by their own solutions, determinism,
# and one-line errors with exit 1 (bad input) or 2 (usage).
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"
# has FILE TEXT: FILE contains TEXT literally.
has() { grep -qF -- "$2" "$1" && ok || { bad "$1 lacks: $2"; cat "$1" >&2; }; }

expect 0 "$ESFT" score --help
expect 0 "$ESFT" data --help

# --- esft score: countdown ---------------------------------------------------
cat >"$TMP/cd.json" <<'J'
[{"context": "c0", "numbers": [44, 19, 35], "target": "98"},
 {"context": "c1", "numbers": [1, 3, 4], "target": "-11"},
 {"context": "c2", "numbers": [130, 7, 5], "target": "27.4"}]
J
# Expected by hand: full format + right = 1.1; full format + wrong = 0.1;
# think only = 0.01; answer tags only = 0.05 (+1 if right); both tags but not
# the full format = 0.06 (+1); index defaults to the line's position.
cat >"$TMP/r.jsonl" <<'J'
{"index": 0, "response": "</think>\n<answer>44 + 19 + 35</answer>"}
{"index": 1, "response": "</think>\n<answer>1 - 3 * 4</answer>"}
{"index": 2, "response": "</think>\n<answer>(130 + 7) / 5</answer>"}
{"index": 0, "response": "</think>\n<answer>44 + 19 - 35</answer>"}
{"index": 0, "response": "I am thinking</think>"}
{"index": 0, "response": "<answer>44+19+35</answer>"}
{"index": 0, "response": "</think>\n<answer>44+19+35</answer> trailing"}

{"index": 2, "response": "</think>\n<answer>(130 + 7) // 5</answer>"}
J
expect 0 "$ESFT" score --task countdown --data "$TMP/cd.json" --responses "$TMP/r.jsonl"
[ "$(wc -l <"$TMP/out")" = 8 ] && ok || bad "score should print 8 lines"
sed -n 1p "$TMP/out" | grep -qxF '{"index":0,"reward":1.1,"format":1,"answer":1,"correct":true}' && ok || bad "line 1: $(sed -n 1p "$TMP/out")"
sed -n 2p "$TMP/out" | grep -qxF '{"index":1,"reward":1.1,"format":1,"answer":1,"correct":true}' && ok || bad "line 2: $(sed -n 2p "$TMP/out")"
sed -n 3p "$TMP/out" | grep -qxF '{"index":2,"reward":1.1,"format":1,"answer":1,"correct":true}' && ok || bad "line 3: $(sed -n 3p "$TMP/out")"
sed -n 4p "$TMP/out" | grep -qxF '{"index":0,"reward":0.1,"format":1,"answer":0,"correct":false}' && ok || bad "line 4: $(sed -n 4p "$TMP/out")"
sed -n 5p "$TMP/out" | grep -qxF '{"index":0,"reward":0.01,"format":0.1,"answer":0,"correct":false}' && ok || bad "line 5: $(sed -n 5p "$TMP/out")"
sed -n 6p "$TMP/out" | grep -qxF '{"index":0,"reward":1.05,"format":0.5,"answer":1,"correct":true}' && ok || bad "line 6: $(sed -n 6p "$TMP/out")"
sed -n 7p "$TMP/out" | grep -qxF '{"index":0,"reward":1.06,"format":0.6,"answer":1,"correct":true}' && ok || bad "line 7: $(sed -n 7p "$TMP/out")"
sed -n 8p "$TMP/out" | grep -qxF '{"index":2,"reward":0.1,"format":1,"answer":0,"correct":false}' && ok || bad "line 8: $(sed -n 8p "$TMP/out")"
# mean = (3*1.1 + 0.1 + 0.01 + 1.05 + 1.06 + 0.1) / 8 = 5.62 / 8 = 0.7025; 5 of 8 correct
has "$TMP/err" "8 responses, mean reward 0.7025, accuracy 0.625 (5/8)"

# Index by line order; --out.
printf '{"response": "</think>\\n<answer>35+19+44</answer>"}\n{"response": "x"}\n' >"$TMP/r2.jsonl"
expect 0 "$ESFT" score --task countdown --data "$TMP/cd.json" --responses "$TMP/r2.jsonl" --out "$TMP/s.jsonl"
[ ! -s "$TMP/out" ] && ok || bad "--out should leave stdout empty"
has "$TMP/s.jsonl" '{"index":0,"reward":1.1,"format":1,"answer":1,"correct":true}'
has "$TMP/s.jsonl" '{"index":1,"reward":0,"format":0,"answer":0,"correct":false}'

# --- esft score: conciseness (built-in sets) --------------------------------
# reward = -|len(response) - len(target)| in characters: "8" -> 0, "No." -> -1,
# "日本" (6 bytes, 2 characters) vs "8" -> -1.
printf '{"response": "8"}\n{"response": "No."}\n{"index": 0, "response": "\xe6\x97\xa5\xe6\x9c\xac"}\n' >"$TMP/c.jsonl"
expect 0 "$ESFT" score --task conciseness --responses "$TMP/c.jsonl"
sed -n 1p "$TMP/out" | grep -qxF '{"index":0,"reward":0,"length":1,"correct":true}' && ok || bad "conc 1: $(sed -n 1p "$TMP/out")"
sed -n 2p "$TMP/out" | grep -qxF '{"index":1,"reward":-1,"length":3,"correct":true}' && ok || bad "conc 2: $(sed -n 2p "$TMP/out")"
sed -n 3p "$TMP/out" | grep -qxF '{"index":0,"reward":-1,"length":2,"correct":false}' && ok || bad "conc 3: $(sed -n 3p "$TMP/out")"
has "$TMP/err" "3 responses, mean reward -0.666667, accuracy 0.6667 (2/3)"
printf '{"index": 9, "response": "No"}\n' >"$TMP/c9.jsonl"
expect 0 "$ESFT" score --task conciseness --split eval --responses "$TMP/c9.jsonl"
expect 1 "$ESFT" score --task conciseness --responses "$TMP/c9.jsonl"   # train has 2 items
has "$TMP/err" "index"

# --- esft score: errors ---------------------------------------------------------
expect 2 "$ESFT" score
expect 2 "$ESFT" score --task countdown
expect 2 "$ESFT" score --responses "$TMP/r.jsonl"
expect 2 "$ESFT" score --task sudoku --responses "$TMP/r.jsonl"
expect 2 "$ESFT" score --task countdown --responses "$TMP/r.jsonl"          # no --data
expect 2 "$ESFT" score --task conciseness --split test --responses "$TMP/c.jsonl"
expect 2 "$ESFT" score --task countdown --data "$TMP/cd.json" --responses "$TMP/r.jsonl" --frobnicate
expect 1 "$ESFT" score --task countdown --data "$TMP/missing.json" --responses "$TMP/r.jsonl"
has "$TMP/err" "missing.json"
expect 1 "$ESFT" score --task countdown --data "$TMP/cd.json" --responses "$TMP/missing.jsonl"
has "$TMP/err" "missing.jsonl"
printf '[{"context": "c", "numbers": [1, 2], "target": "3"}, {"context": "c", "numbers": "1 2", "target": "3"}]' >"$TMP/bad.json"
expect 1 "$ESFT" score --task countdown --data "$TMP/bad.json" --responses "$TMP/r.jsonl"
has "$TMP/err" "bad.json: item 1: field 'numbers'"
check_bad_line() { # CONTENT TEXT-IN-MESSAGE
  printf '%s\n' '{"index": 0, "response": "x"}' "$1" >"$TMP/b.jsonl"
  expect 1 "$ESFT" score --task countdown --data "$TMP/cd.json" --responses "$TMP/b.jsonl"
  has "$TMP/err" "b.jsonl:2: $2"
}
check_bad_line '{"index": 0, "response": "x"' "not a JSON object"
check_bad_line '["x"]' "not a JSON object"
check_bad_line '{"index": 0}' "field 'response' is missing"
check_bad_line '{"index": 0, "response": 7}' "field 'response' must be a string"
check_bad_line '{"index": 3, "response": "x"}' "field 'index'"
check_bad_line '{"index": -1, "response": "x"}' "field 'index'"
check_bad_line '{"index": 1.5, "response": "x"}' "field 'index'"
check_bad_line '{"index": "0", "response": "x"}' "field 'index'"
check_bad_line '{"index": 0, "response": "x"} trailing' "not a JSON object"
printf '\n\n' >"$TMP/empty.jsonl"
expect 1 "$ESFT" score --task countdown --data "$TMP/cd.json" --responses "$TMP/empty.jsonl"
has "$TMP/err" "no responses"
for i in 0 1 2 3; do echo '{"response": "x"}'; done >"$TMP/many.jsonl"   # 4 lines, 3 items
expect 1 "$ESFT" score --task countdown --data "$TMP/cd.json" --responses "$TMP/many.jsonl"

# --- esft data countdown ------------------------------------------------------
expect 0 "$ESFT" data countdown --n 25 --seed 7
cp "$TMP/out" "$TMP/g1.json"
[ "$(grep -c '"id":' "$TMP/g1.json")" = 25 ] && ok || bad "expected 25 problems"
has "$TMP/g1.json" "create an equation that equals"
expect 0 "$ESFT" data countdown --n 25 --seed 7 --out "$TMP/g2.json"
cmp -s "$TMP/g1.json" "$TMP/g2.json" && ok || bad "same seed (stdout vs --out) gave different files"
expect 0 "$ESFT" data countdown --n 25 --seed 8
cmp -s "$TMP/g1.json" "$TMP/out" && bad "different seeds gave the same file" || ok
# Each problem's own solution scores 1.1 under esft score.
sed -n 's/^[[:space:]]*"solution":[[:space:]]*"\(.*\)"$/\1/p' "$TMP/g1.json" >"$TMP/sol.txt"
[ "$(wc -l <"$TMP/sol.txt")" = 25 ] && ok || bad "expected 25 solutions"
i=0; while IFS= read -r s; do
  printf '{"index": %d, "response": "</think>\\n<answer>%s</answer>"}\n' "$i" "$s"; i=$((i + 1))
done <"$TMP/sol.txt" >"$TMP/sol.jsonl"
expect 0 "$ESFT" score --task countdown --data "$TMP/g1.json" --responses "$TMP/sol.jsonl"
[ "$(grep -c '"reward":1.1,' "$TMP/out")" = 25 ] && ok || bad "not every generated solution scores 1.1"
has "$TMP/err" "25 responses, mean reward 1.1, accuracy 1 (25/25)"
expect 0 "$ESFT" data countdown --n 5 --seed 1 --numbers 6
[ "$(grep -c '"id":' "$TMP/out")" = 5 ] && ok || bad "--numbers 6: expected 5 problems"

expect 2 "$ESFT" data
expect 2 "$ESFT" data countdown
expect 2 "$ESFT" data countdown --n 0
expect 2 "$ESFT" data countdown --n 3 --numbers 5-3
expect 2 "$ESFT" data countdown --n 3 --numbers 0-2
expect 2 "$ESFT" data countdown --n 3 --numbers 3-17
expect 2 "$ESFT" data countdown --n 3 --numbers three
expect 2 "$ESFT" data countdown --n 3 --seed -1
expect 1 "$ESFT" data countdown --n 3 --out "$TMP/no/such/dir/x.json"

finish

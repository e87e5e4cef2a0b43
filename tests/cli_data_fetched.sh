#!/usr/bin/env bash
# The data sets scripts/fetch-data.sh leaves in the data cache ($ESFT_DATA_DIR,
# default data/cache/): every train/eval pair there loads under its reward,
# has no prompt in both splits, and each record's own answer scores correct.
# Skips (77) when nothing has been fetched: fetching needs the network.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib_data.sh"
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${ESFT_DATA_DIR:-$SRC/data/cache}
has() { grep -qF -- "$2" "$1" && ok || { bad "$1 lacks: $2"; cat "$1" >&2; }; }

sets=0
for dir in "$DATA"/arc "$DATA"/arc2 "$DATA"/math-*; do
  [ -f "$dir/train.jsonl" ] && [ -f "$dir/eval.jsonl" ] || continue
  command -v python3 >/dev/null || { echo "SKIP: python3 not found"; exit 77; }
  case "$(basename "$dir")" in arc*) reward=arc ;; *) reward=numeric ;; esac
  sets=$((sets + 1))
  shared=$(disjoint_prompts "$dir/train.jsonl" "$dir/eval.jsonl")
  [ "$shared" = 0 ] && ok || bad "$dir: $shared prompts in both train and eval"
  for split in train eval; do
    n=$(wc -l <"$dir/$split.jsonl")
    [ "$n" -gt 0 ] && ok || bad "$dir/$split.jsonl is empty"
    responses_from_answers "$dir/$split.jsonl" >"$TMP/r.jsonl"
    expect 0 "$ESFT" score --data "$dir/$split.jsonl" --reward $reward --responses "$TMP/r.jsonl"
    has "$TMP/err" "accuracy 1 ($n/$n)"
  done
done
if [ "$sets" = 0 ]; then
  echo "SKIP: no fetched data in $DATA (run scripts/fetch-data.sh arc / math)"
  exit 77
fi
echo "$sets fetched data sets checked"
finish

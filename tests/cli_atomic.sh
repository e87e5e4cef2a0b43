#!/usr/bin/env bash
# Every file esft writes is written whole (temp file, rename) and only over a
# regular file: devices, symbolic links, directories and FIFOs are refused
# with one line and left as they were. Temp files of killed writers are
# removed by `esft train` (start and resume), and nothing else is.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"

"$ESFT" synth --preset tiny --out "$TMP/tiny.gguf" 2>/dev/null || { echo "synth failed"; exit 1; }
M="$TMP/tiny.gguf"

# --- targets that are not regular files ---------------------------------------
for dev in /dev/null /dev/full; do
  expect 1 "$ESFT" synth --preset tiny --out "$dev"
  grep -q "character device" "$TMP/err" && ok || bad "synth --out $dev: $(cat "$TMP/err")"
  [ -c "$dev" ] && ok || bad "$dev is no longer a character device"
done
echo "keep" > "$TMP/target.gguf"
ln -s "$TMP/target.gguf" "$TMP/link.gguf"
expect 1 "$ESFT" synth --preset tiny --out "$TMP/link.gguf"
[ -L "$TMP/link.gguf" ] && [ "$(cat "$TMP/target.gguf")" = keep ] && ok || bad "the symlink or its target changed"
mkdir "$TMP/dir.gguf"
expect 1 "$ESFT" synth --preset tiny --out "$TMP/dir.gguf"
[ -d "$TMP/dir.gguf" ] && ok || bad "the directory target changed"
mkfifo "$TMP/fifo.gguf"
expect 1 timeout 20 "$ESFT" synth --preset tiny --out "$TMP/fifo.gguf"
[ -p "$TMP/fifo.gguf" ] && ok || bad "the FIFO target changed"
ls "$TMP" | grep -q '\.tmp\.' && bad "a refused write left a temp file: $(ls "$TMP")" || ok

# the other writers: data, eval, score, plot, train's outputs
expect 1 "$ESFT" data countdown --n 3 --out /dev/null
expect 1 "$ESFT" eval --model "$M" --task conciseness --split train --max-new 2 --out /dev/null
echo '{"response": "x"}' > "$TMP/resp.jsonl"
expect 1 "$ESFT" score --task conciseness --responses "$TMP/resp.jsonl" --out /dev/full
C=(--model "$M" --task conciseness --pop 2 --sigma 0.05 --alpha 0.02 --max-new 4 --seed 1 --quiet)
expect 0 "$ESFT" train "${C[@]}" --iters 1 --out "$TMP/run"
ln -s /dev/null "$TMP/run/x.svg"
expect 1 "$ESFT" plot "$TMP/run" -o "$TMP/run/x.svg"
[ -L "$TMP/run/x.svg" ] && ok || bad "plot replaced a symlink"
mkdir -p "$TMP/run2" && ln -s /dev/null "$TMP/run2/final.gguf"
expect 2 "$ESFT" train "${C[@]}" --iters 1 --out "$TMP/run2" # a run's file name: "holds a run"
expect 1 "$ESFT" train "${C[@]}" --iters 1 --out "$TMP/run2" --overwrite
grep -q "final.gguf is a symbolic link" "$TMP/err" && ok || bad "train with a symlinked final.gguf: $(cat "$TMP/err")"
[ ! -e "$TMP/run2/metrics.jsonl" ] && ok || bad "train wrote before refusing"
[ -L "$TMP/run2/final.gguf" ] && ok || bad "--overwrite removed a symlink"
mkdir -p "$TMP/run3" && mkfifo "$TMP/run3/metrics.jsonl"
expect 1 timeout 20 "$ESFT" train "${C[@]}" --iters 1 --out "$TMP/run3" --overwrite
[ -p "$TMP/run3/metrics.jsonl" ] && ok || bad "--overwrite removed a FIFO"

# a regular file is replaced and keeps its permissions
printf 'old' > "$TMP/plain.gguf" && chmod 600 "$TMP/plain.gguf"
expect 0 "$ESFT" synth --preset tiny --out "$TMP/plain.gguf"
cmp -s "$TMP/plain.gguf" "$M" && [ "$(stat -c %a "$TMP/plain.gguf")" = 600 ] && ok || bad "regular file not replaced as expected"

# --- stale temp files ------------------------------------------------------------
sleep 0 & dead=$!; wait "$dead"         # a pid that is surely gone
kill -0 "$dead" 2>/dev/null && { echo "pid $dead reused at once; cannot test"; exit 77; }
stale_set() { # DIR: stale files, and files that must survive
  printf x > "$1/checkpoint.gguf.tmp.$dead"
  printf x > "$1/metrics.jsonl.tmp.$dead"
  printf x > "$1/checkpoint.gguf.tmp.$$"       # a live writer (this shell)
  printf x > "$1/notes.tmp.0$dead"             # not the pattern: leading zero
  printf x > "$1/notes.tmp.${dead}x"           # not the pattern
  printf x > "$1/.tmp.$dead"                   # not the pattern: no name
  printf x > "$1/keep.txt"
  mkdir -p "$1/dir.tmp.$dead"                  # the pattern, but a directory
  ln -sf keep.txt "$1/link.tmp.$dead"          # the pattern, but a symlink
}
stale_check() { # DIR WHEN
  [ ! -e "$1/checkpoint.gguf.tmp.$dead" ] && [ ! -e "$1/metrics.jsonl.tmp.$dead" ] && ok ||
    bad "$2: stale temp files of pid $dead were not removed"
  for f in "checkpoint.gguf.tmp.$$" "notes.tmp.0$dead" "notes.tmp.${dead}x" ".tmp.$dead" keep.txt \
           "dir.tmp.$dead" "link.tmp.$dead"; do
    [ -e "$1/$f" ] || [ -L "$1/$f" ] && ok || bad "$2: $f was removed"
  done
}
mkdir -p "$TMP/st"
stale_set "$TMP/st"
expect 0 "$ESFT" train "${C[@]}" --iters 1 --out "$TMP/st"
stale_check "$TMP/st" start
stale_set "$TMP/st"
expect 0 "$ESFT" train --resume "$TMP/st" --iters 2 --quiet
stale_check "$TMP/st" resume

finish

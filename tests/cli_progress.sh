#!/usr/bin/env bash
# esft train's live progress on a terminal: on a pty of 80 columns no line is
# wider than the terminal (so nothing wraps into blank lines), and after the
# terminal shrinks to 40 columns (SIGWINCH) the lines fit the new width.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"
PTY="python3 $(dirname "${BASH_SOURCE[0]}")/pty_run.py"
"$ESFT" synth --preset tiny --out "$TMP/tiny.gguf" 2>/dev/null || { echo "synth failed"; exit 1; }
"$ESFT" data countdown --n 8 --seed 3 >"$TMP/cd.json" 2>/dev/null || { echo "data failed"; exit 1; }
RUN=(train --model "$TMP/tiny.gguf" --task countdown --data "$TMP/cd.json" --batch 8 --pop 4 --max-new 16 --iters 3)
field() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" "$TMP/m"; }

# 80 columns throughout
$PTY run --cols 80 --log "$TMP/wide.log" -- "$ESFT" "${RUN[@]}" --out "$TMP/wide" && ok || bad "train on a pty failed"
$PTY measure "$TMP/wide.log" >"$TMP/m"
[ "$(field widest)" -le 79 ] && ok || bad "a line is $(field widest) columns wide on an 80-column terminal"
[ "$(field blank)" = 0 ] && ok || bad "$(field blank) blank lines"
# header, 3 iterations and the end: a handful of lasting lines, however many redraws
[ "$(field lines)" -le 16 ] && ok || bad "$(field lines) lines for a 3-iteration run"
grep -q "gen [0-9]* tok/s (+prompt [0-9]*)" "$TMP/wide.log" && ok || bad "live line lacks labelled token rates"

# 100 columns, then 40 from the first iteration line on
$PTY run --cols 100 --resize-on "iter 1/3  reward" --resize-cols 40 --log "$TMP/narrow.log" -- \
  "$ESFT" "${RUN[@]}" --out "$TMP/narrow" && ok || bad "train on a resized pty failed"
# from the second iteration's line to the last (paths in the final lines may be wider)
$PTY measure "$TMP/narrow.log" --from-text "iter 2/3" --until-text "esft train: done" >"$TMP/m"
[ "$(field widest)" -le 39 ] && ok || bad "after the resize a line is $(field widest) columns wide on 40"
[ "$(field segments)" -gt 3 ] && ok || bad "nothing drawn after the resize"
finish

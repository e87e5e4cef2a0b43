#!/usr/bin/env bash
# esft train's outputs: final.gguf in each --save-dtype loads and generates;
# checkpoint.gguf stays f32, so a resumed run is bit-identical; metrics lines
# of saving iterations carry the save times and sizes; a metrics line lost
# between writing the checkpoint and appending the line comes back on
# --resume. (Exact values and sizes of each dtype: test_save.)
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"
field() { grep -o "\"$1\":[^,}]*" <<<"$2" | cut -d: -f2; } # FIELD LINE: the value
size() { stat -c %s "$1"; }

"$ESFT" synth --preset tiny --out "$TMP/tiny.gguf" 2>/dev/null || { echo "synth failed"; exit 1; }
C=(--model "$TMP/tiny.gguf" --task conciseness --pop 4 --sigma 0.05 --alpha 0.02 --max-new 6 --seed 11 --quiet)

# --- each dtype loads and generates; sizes in order; the default is bf16 ------------
for d in f32 bf16 f16 q8_0; do
  expect 0 "$ESFT" train "${C[@]}" --iters 1 --save-dtype $d --out "$TMP/$d"
  expect 0 "$ESFT" generate --model "$TMP/$d/final.gguf" --prompt "abc" --max-new 4
  [ -s "$TMP/out" ] && ok || bad "generate with the $d model printed nothing"
  if [ $d != f32 ]; then
    [ "$(size "$TMP/$d/checkpoint.gguf")" -gt "$(size "$TMP/$d/final.gguf")" ] && ok ||
      bad "$d final.gguf is not smaller than the f32 checkpoint"
  fi
done
expect 0 "$ESFT" train "${C[@]}" --iters 1 --out "$TMP/default"
cmp -s "$TMP/default/final.gguf" "$TMP/bf16/final.gguf" && ok || bad "the default --save-dtype is not bf16"
[ "$(size "$TMP/bf16/final.gguf")" = "$(size "$TMP/f16/final.gguf")" ] && ok || bad "bf16 and f16 sizes differ"
[ "$(size "$TMP/q8_0/final.gguf")" -lt "$(size "$TMP/bf16/final.gguf")" ] && ok || bad "q8_0 is not smaller than bf16"
expect 2 "$ESFT" train "${C[@]}" --iters 1 --save-dtype q4_0 --out "$TMP/bad"
grep -q -- "--save-dtype q4_0" "$TMP/err" && ok || bad "bad --save-dtype: $(cat "$TMP/err")"

# --- metrics: save times and sizes on the lines of saving iterations ---------------
expect 0 "$ESFT" train "${C[@]}" --iters 3 --checkpoint-every 2 --save-dtype q8_0 --out "$TMP/m"
l1=$(sed -n 1p "$TMP/m/metrics.jsonl") l2=$(sed -n 2p "$TMP/m/metrics.jsonl") l3=$(sed -n 3p "$TMP/m/metrics.jsonl")
[ -z "$(field seconds_checkpoint "$l1")" ] && ok || bad "iteration 1 saved nothing but reports it"
[ -n "$(field seconds_checkpoint "$l2")" ] && [ -z "$(field seconds_final "$l2")" ] && ok || bad "line 2: $l2"
for f in seconds_checkpoint checkpoint_bytes seconds_final final_bytes; do
  [ -n "$(field $f "$l3")" ] && ok || bad "the last line lacks $f: $l3"
done
[ "$(field checkpoint_bytes "$l3")" = "$(size "$TMP/m/checkpoint.gguf")" ] && ok || bad "checkpoint_bytes"
[ "$(field final_bytes "$l3")" = "$(size "$TMP/m/final.gguf")" ] && ok || bad "final_bytes"
awk -v s="$(field seconds_final "$l3")" 'BEGIN { exit !(s > 0) }' && ok || bad "seconds_final"

# --- resume is bit-identical (checkpoint f32; finals compared in f32) --------------
expect 0 "$ESFT" train "${C[@]}" --iters 3 --save-dtype f32 --out "$TMP/straight"
expect 0 "$ESFT" train "${C[@]}" --iters 2 --out "$TMP/r"
expect 0 "$ESFT" train --resume "$TMP/r" --iters 3 --save-dtype f32 --quiet
cmp -s "$TMP/straight/final.gguf" "$TMP/r/final.gguf" && ok || bad "resumed f32 final differs from the straight run"

# --- a metrics line lost after its checkpoint was written is restored --------------
# (the state a crash between the two writes leaves: checkpoint at 2, one line)
expect 0 "$ESFT" train "${C[@]}" --iters 2 --checkpoint-every 1 --out "$TMP/lost"
lost=$(sed -n 2p "$TMP/lost/metrics.jsonl")
sed -i 2d "$TMP/lost/metrics.jsonl"
echo '{"iter":7,"reward_mean":0}' >> "$TMP/lost/metrics.jsonl" # past the checkpoint: dropped
expect 0 "$ESFT" train --resume "$TMP/lost" --iters 3 --quiet
[ "$(wc -l <"$TMP/lost/metrics.jsonl")" = 3 ] && ok || bad "resumed metrics: $(cat "$TMP/lost/metrics.jsonl")"
# the line as it was, without the save timings (added last, after the checkpoint)
back=$(sed -n 2p "$TMP/lost/metrics.jsonl")
[ "$back" = "$(sed 's/,"seconds_checkpoint":.*}$/}/' <<<"$lost")" ] && [ "$back" != "$lost" ] && ok ||
  bad "restored line: $back (lost: $lost)"
[ "$(field iter "$(sed -n 3p "$TMP/lost/metrics.jsonl")")" = 3 ] && ok || bad "line 3 is not the third iteration"

finish

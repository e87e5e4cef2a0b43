#!/usr/bin/env bash
# esft train plans its memory at start (master, working copy, KV cache,
# activations), prints it, and refuses a run that cannot fit --max-memory
# with that plan in one line, before loading the weights when they alone do
# not fit; metrics.jsonl records the peak resident set of every iteration.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"

expect 0 "$ESFT" synth --preset tiny --out "$TMP/tiny.gguf"
T=(train --model "$TMP/tiny.gguf" --backend cpu --threads 1 --task conciseness --pop 2 --iters 1 --max-new 4)

# tiny: vocab 300, width 64, 2 layers, 4 heads of 16 (2 kv heads), ff 96, tied
# output: 300*64 + 64 + 2*(64 + 64*64 + 2*64*32 + 64*64 + 64 + 3*64*96)
# = 80960 weights, 323840 bytes of f32 master, as many of f32 working copy:
# 647680 bytes in all. 632K (647168 bytes) cannot hold them, 633K (648192) can.
expect 2 "$ESFT" "${T[@]}" --out "$TMP/r1" --max-memory 632K
grep -q "^esft train: memory plan .*master 0.3M, work 0.3M.* (weights alone) exceeds --max-memory 0.6M$" "$TMP/err" \
  && ok || bad "632K: $(cat "$TMP/err")"
[ "$(wc -l < "$TMP/err")" -eq 1 ] && ok || bad "632K: more than one line: $(cat "$TMP/err")"
[ ! -s "$TMP/r1/metrics.jsonl" ] && ok || bad "632K: a refused run wrote metrics"
# the weights fit 633K, the activations of 512 tokens x 64 wide (1 MiB) do not
expect 2 "$ESFT" "${T[@]}" --out "$TMP/r2" --max-memory 633K
grep -q "^esft train: memory plan .*master 0.3M, work 0.3M, KV .*, scratch 1.0M exceeds --max-memory" "$TMP/err" \
  && ! grep -q "weights alone" "$TMP/err" && ok || bad "633K: $(cat "$TMP/err")"
expect 2 "$ESFT" "${T[@]}" --out "$TMP/r3" --max-memory 12X
grep -q -- "--max-memory 12X: expected a size" "$TMP/err" && ok || bad "12X: $(cat "$TMP/err")"

# a run that fits prints its plan and records its peak (a process holding
# the 0.6 MiB of weights has more resident than that, and less than 1 GiB)
expect 0 "$ESFT" "${T[@]}" --out "$TMP/r4" --max-memory 64M
grep -q "^esft train: memory plan .*master 0.3M" "$TMP/err" && ok || bad "64M: no plan: $(cat "$TMP/err")"
python3 - "$TMP/r4/metrics.jsonl" <<'PY' && ok || bad "peak_rss_bytes: $(cat "$TMP/r4/metrics.jsonl")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert lines and all(647680 < l["peak_rss_bytes"] < 2**30 for l in lines), lines
PY
finish

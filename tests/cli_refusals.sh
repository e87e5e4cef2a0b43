#!/usr/bin/env bash
# Input esft refuses at once with a one-line reason instead of running on:
# a --device the backend lacks (also under auto), a missing default model,
# a directory or a device given as a file, a prompt longer than the model's
# context; and what it accepts: prompts on standard input, bench sizes that
# follow the device kind (an OpenCL or Vulkan CPU is not a GPU).
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"

expect 0 "$ESFT" synth --preset tiny --out "$TMP/tiny.gguf"
T=(--model "$TMP/tiny.gguf")

# --device counts within the backend, and within auto's first backend under
# auto: one past its last device (as 'esft devices' lists them) fails naming
# the backend and its device count; none given, auto opens its pick.
expect 0 "$ESFT" devices
first=$(sed -n 's/^--backend auto picks: \([a-z]*\) device .*/\1/p' "$TMP/out")
declare -A count=()
while read -r b idx _; do count[$b]=$((${count[$b]:-0} + 1)); done < <(awk 'NR > 1 && $2 ~ /^[0-9]+$/' "$TMP/out")
[ -n "$first" ] && ok || bad "esft devices names no first device: $(cat "$TMP/out")"
for b in auto "${!count[@]}"; do
  name=$b; [ "$b" = auto ] && name=$first
  n=${count[$name]:-0}
  [ "$n" -gt 0 ] || continue
  expect 1 timeout 60 "$ESFT" generate "${T[@]}" --backend "$b" --device "$n" --prompt abc --max-new 1 || continue
  grep -q -- "--backend $b.*--device $n out of range: $name has $n device" "$TMP/err" && ok \
    || bad "--backend $b --device $n: $(cat "$TMP/err")"
done
expect 0 "$ESFT" generate "${T[@]}" --prompt abc --max-new 1
expect 0 "$ESFT" generate "${T[@]}" --device 0 --prompt abc --max-new 1

# bench: the matmul sizes follow the device kind, and --dry-run shows them
expect 0 "$ESFT" bench matmul --backend cpu --dry-run
grep -q "^device kind cpu: matmul shapes .*1024x1024x1024" "$TMP/out" && ! grep -q 4096x4096 "$TMP/out" && ok \
  || bad "bench matmul cpu plan: $(cat "$TMP/out")"
expect 0 "$ESFT" bench matmul --backend cpu --dry-run --large
grep -q "8192x8192x8192" "$TMP/out" && ok || bad "bench matmul --large plan: $(cat "$TMP/out")"
expect 0 "$ESFT" devices
for b in opencl vulkan; do
  # a CPU device of that backend (PoCL, lavapipe) runs the small sizes only
  grep -Eq "^$b +0 +cpu " "$TMP/out" || continue
  expect 0 timeout 120 "$ESFT" bench matmul --backend "$b" --device 0 --dry-run
  grep -q "^device kind cpu: " "$TMP/out" && ! grep -q 4096x4096 "$TMP/out" && ok \
    || bad "bench matmul --backend $b on a CPU device: $(cat "$TMP/out")"
  "$ESFT" devices >"$TMP/out"
done

# --prompts - reads standard input
printf '{"prompt": "abc"}\n{"prompt": "de"}\n' | "$ESFT" generate "${T[@]}" --prompts - --max-new 2 >"$TMP/out" 2>"$TMP/err"
[ $? = 0 ] && [ "$(grep -c '"response"' "$TMP/out")" = 2 ] && ok || bad "--prompts -: $(cat "$TMP/err")"

# the default model missing: how to get it, and --model
mkdir -p "$TMP/nomodels"
for cmd in "generate --prompt hi" "eval --task conciseness" "train --task conciseness --out $TMP/o" "bench decode"; do
  expect 1 env ESFT_MODEL_DIR="$TMP/nomodels" "$ESFT" $cmd || continue
  grep -q "scripts/setup.sh" "$TMP/err" && grep -q "fetch-model.sh smollm2-135m" "$TMP/err" && grep -q -- "--model FILE" "$TMP/err" \
    && ok || bad "$cmd without the default model: $(cat "$TMP/err")"
done

# a directory or a device as a data, prompts or responses file
printf '{"response": "x"}\n' >"$TMP/r.jsonl"
for f in "$TMP" /dev/zero; do
  want="is a directory"; [ "$f" = /dev/zero ] && want="is a device"
  for cmd in "train ${T[*]} --task conciseness --out $TMP/o2 --data $f" "eval ${T[*]} --task conciseness --data $f" \
             "score --task conciseness --data $f --responses $TMP/r.jsonl" "score --task conciseness --responses $f" \
             "generate ${T[*]} --prompts $f"; do
    expect 1 timeout 20 "$ESFT" $cmd || continue
    grep -q "$f.*$want" "$TMP/err" && ok || bad "$cmd: $(cat "$TMP/err")"
  done
done

# a prompt longer than the context (tiny: 512 tokens) names its item, at
# once even when it is megabytes long
long=$(head -c 600 /dev/zero | tr '\0' x)
printf '[{"prompt": "short", "target": "s"}, {"prompt": "%s", "target": "t"}]\n' "$long" >"$TMP/long.json"
expect 1 timeout 20 "$ESFT" eval "${T[@]}" --task conciseness --data "$TMP/long.json" --max-new 8
grep -q "long.json (task conciseness) item 1: .*exceed the model's context of 512 tokens" "$TMP/err" && ok \
  || bad "eval of a long prompt: $(cat "$TMP/err")"
expect 1 timeout 20 "$ESFT" train "${T[@]}" --task conciseness --data "$TMP/long.json" --out "$TMP/o3" --max-new 8
grep -q "long.json (task conciseness) item 1: " "$TMP/err" && ok || bad "train on a long prompt: $(cat "$TMP/err")"
huge=$(head -c 10000000 /dev/zero | tr '\0' y)
printf '{"prompt": "a"}\n{"prompt": "%s"}\n' "$huge" >"$TMP/huge.jsonl"
unset huge
expect 2 timeout 20 "$ESFT" generate "${T[@]}" --prompts "$TMP/huge.jsonl" --max-new 8
grep -q "prompt 2 of .*huge.jsonl: the prompt (at least .* tokens) and --max-new 8 exceed" "$TMP/err" && ok \
  || bad "generate of a 10 MB prompt: $(cat "$TMP/err")"
expect 2 "$ESFT" generate "${T[@]}" --prompt abc --max-new 512
grep -q "no room for a prompt" "$TMP/err" && ok || bad "--max-new as long as the context: $(cat "$TMP/err")"
# a --model path too long to hold is refused, not truncated
expect 2 "$ESFT" generate --model "$TMP/$(head -c 1100 /dev/zero | tr '\0' m).gguf" --prompt a --max-new 1
grep -q "the path is longer than 1023 bytes" "$TMP/err" && ok || bad "long --model: $(cat "$TMP/err")"
expect 1 timeout 20 "$ESFT" plot /dev/zero -o "$TMP/p.png" # (a directory is a run's: DIR/metrics.jsonl)
grep -q "/dev/zero.*is a device" "$TMP/err" && ok || bad "plot /dev/zero: $(cat "$TMP/err")"

# responses of any bytes (the tiny model's are random) are written as valid
# UTF-8 JSON: eval --out, generate --prompts
expect 0 "$ESFT" eval "${T[@]}" --task conciseness --max-new 24 --out "$TMP/ev.jsonl"
printf '{"prompt": "a"}\n{"prompt": "b"}\n' | "$ESFT" generate "${T[@]}" --prompts - --max-new 24 >"$TMP/gen.jsonl" 2>/dev/null
python3 - "$TMP/ev.jsonl" "$TMP/gen.jsonl" <<'EOF' && ok || bad "responses are not valid UTF-8 JSON"
import json, sys
for path in sys.argv[1:]:
    lines = open(path, "rb").read().decode("utf-8", "strict").splitlines()
    assert lines and all(isinstance(json.loads(l)["response"], str) for l in lines), path
EOF
finish

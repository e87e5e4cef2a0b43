#!/usr/bin/env bash
# The esft program as a user drives it: help, exit codes, one-line errors on
# bad input, generation on the default model.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"

expect 0 "$ESFT" --help
expect 2 "$ESFT"
expect 2 "$ESFT" frobnicate
for sub in generate devices synth train eval plot score data; do expect 0 "$ESFT" $sub --help; done
expect 0 "$ESFT" bench --help
# --backend's help lists exactly the backends this esft was built with
expect 0 "$ESFT" --version
BUILT=$(sed -n 's/^built with: //p' "$TMP/out" | tr ' ' '\n' | grep -vx mpi | tr '\n' '|')
expect 0 "$ESFT" generate --help
grep -q -- "--backend B  *auto|${BUILT%|} (default auto)" "$TMP/out" && ok || bad "--backend help: $(grep -- --backend "$TMP/out") (built: $BUILT)"
expect 0 "$ESFT" bench decode --help
expect 0 "$ESFT" bench matmul --help
expect 0 "$ESFT" bench ops --help
expect 2 "$ESFT" generate --prompt hi --max-new banana
expect 2 "$ESFT" generate --prompt hi --max-new -3
expect 2 "$ESFT" generate --prompt hi --top-p 1.5
expect 2 "$ESFT" generate --prompt hi --nonsense
expect 2 "$ESFT" generate
expect 2 "$ESFT" generate --prompt hi --backend warp-drive
expect 2 "$ESFT" bench decode --batch 1,x
expect 2 "$ESFT" bench matmul --dtype f8
# bench times W in the work dtype (here converted to bf16 on the host) and
# labels it; TFLOP/s is a column
expect 0 "$ESFT" bench matmul --backend cpu --threads 1 --reps 1 --dtype bf16
grep -q "W bf16" "$TMP/out" && grep -q "TFLOP/s" "$TMP/out" && [ "$(grep -cE '^ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9.]+ +[0-9.]+ +[0-9.]+$' "$TMP/out")" -eq 8 ] \
  && ok || bad "bench matmul --dtype bf16: $(cat "$TMP/out")"
expect 2 "$ESFT" synth --preset huge --out "$TMP/x.gguf"
expect 1 "$ESFT" generate --model "$TMP/missing.gguf" --prompt hi
printf 'not a gguf file at all' > "$TMP/junk.gguf"
expect 1 "$ESFT" generate --model "$TMP/junk.gguf" --prompt hi
printf '{"prompt": "a"}\n{"prompt": 3}\n' > "$TMP/bad.jsonl"
expect 1 "$ESFT" generate --prompts "$TMP/bad.jsonl" --model "$TMP/junk.gguf"
expect 0 "$ESFT" devices
grep -q "auto picks" "$TMP/out" && ok || bad "devices does not say what auto picks"

# A synthetic model runs end to end, and a truncated copy is refused.
expect 0 "$ESFT" synth --preset tiny --out "$TMP/tiny.gguf"
expect 0 "$ESFT" generate --model "$TMP/tiny.gguf" --prompt "abc" --max-new 5
head -c 5000 "$TMP/tiny.gguf" > "$TMP/trunc.gguf"
expect 1 "$ESFT" generate --model "$TMP/trunc.gguf" --prompt "abc"
grep -q "trunc.gguf" "$TMP/err" && ok || bad "truncation error does not name the file"

MODEL=${ESFT_MODEL_DIR:-}/SmolLM2-135M-Instruct.Q4_1.gguf
if [ -f "$MODEL" ]; then
  expect 0 "$ESFT" generate --model "$MODEL" --prompt "The capital of France is" --max-new 8
  grep -q "Paris" "$TMP/out" && ok || { bad "no Paris in: $(cat "$TMP/out")"; }
  printf '{"prompt": "The capital of France is"}\n{"prompt": "1, 2, 3, 4,"}\n' > "$TMP/p.jsonl"
  expect 0 "$ESFT" generate --model "$MODEL" --prompts "$TMP/p.jsonl" --max-new 8
  [ "$(wc -l <"$TMP/out")" = 2 ] && ok || bad "JSONL output should have 2 lines"
  grep -q '"index":1' "$TMP/out" && grep -q '"response"' "$TMP/out" && ok || bad "JSONL fields"
  expect 0 "$ESFT" generate --model "$MODEL" --chat --prompt "Say hello." --max-new 16 --temp 0.7 --top-k 40 --top-p 0.9 --seed 7
  cp "$TMP/out" "$TMP/sampled1"
  expect 0 "$ESFT" generate --model "$MODEL" --chat --prompt "Say hello." --max-new 16 --temp 0.7 --top-k 40 --top-p 0.9 --seed 7
  cmp -s "$TMP/out" "$TMP/sampled1" && ok || bad "same seed gave different samples"
  expect 0 "$ESFT" generate --model "$MODEL" --prompt "1, 2, 3, 4," --max-new 32 --stop "8"
  grep -q "8" "$TMP/out" && bad "stop string not cut: $(cat "$TMP/out")" || ok
else
  echo "note: $MODEL absent, real-model checks skipped"
fi

# Device ranking: hwloc's PCI GPUs (from a committed topology) are listed
# with what became of them; without an OpenCL ICD auto still picks cpu.
HW=${ESFT_TEST_DATA_DIR:?}/data/hwloc
cpu_only() { grep -q "^cuda .*not built" "$TMP/out" && grep -q "^vulkan .*not built" "$TMP/out"; }
expect 0 env HWLOC_XMLFILE="$HW/nvidia.xml" "$ESFT" devices
if grep -q "built without hwloc" "$TMP/out"; then
  # ESFT_HWLOC=OFF: no PCI list, but a reason and still a device for auto
  grep -q "auto picks: " "$TMP/out" && ok || bad "auto without hwloc: $(grep auto "$TMP/out")"
else
  grep -Eq "NVIDIA GPU 0000:65:00.0 .*cuda (backend not built|unavailable|reports no device)" "$TMP/out" \
    && ok || bad "devices does not say what became of the hwloc NVIDIA GPU"
  if cpu_only; then grep -q "auto picks: cpu" "$TMP/out" && ok || bad "auto with nvidia.xml: $(grep auto "$TMP/out")"; fi
  expect 0 env HWLOC_XMLFILE="$HW/amd.xml" "$ESFT" devices
  grep -q "AMD GPU 0000:c1:00.0" "$TMP/out" && ok || bad "devices does not list the hwloc AMD GPU"
fi
mkdir -p "$TMP/empty"
# The OpenCL ICD loader leaks its own state when it finds no platform (the
# allocations come from inside libOpenCL, not from esft): leak checking is
# off for these two runs only, under the sanitizer build.
NOICD=(env OCL_ICD_VENDORS="$TMP/empty" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0")
expect 0 "${NOICD[@]}" "$ESFT" devices
if cpu_only; then grep -q "auto picks: cpu" "$TMP/out" && ok || bad "auto without an ICD: $(grep auto "$TMP/out")"; fi
if ! grep -q "^opencl .*not built" "$TMP/out"; then
  grep -q "^opencl .*unavailable" "$TMP/out" && ok || bad "opencl without an ICD: $(grep ^opencl "$TMP/out")"
  expect 1 "${NOICD[@]}" "$ESFT" generate --backend opencl --model "$TMP/tiny.gguf" --prompt "abc" --max-new 1
  grep -q "opencl" "$TMP/err" && ok || bad "--backend opencl without an ICD: $(cat "$TMP/err")"
fi
# Without a Vulkan driver (no ICD), vulkan is unavailable with a reason and
# auto still opens a device.
expect 0 env VK_ICD_FILENAMES="$TMP/empty/none.json" "$ESFT" devices
if ! grep -q "^vulkan .*not built" "$TMP/out"; then
  grep -q "^vulkan .*unavailable" "$TMP/out" && ok || bad "vulkan without a driver: $(grep ^vulkan "$TMP/out")"
  grep -q "auto picks: " "$TMP/out" && ok || bad "auto without a Vulkan driver: $(grep auto "$TMP/out")"
  expect 1 env VK_ICD_FILENAMES="$TMP/empty/none.json" "$ESFT" generate --backend vulkan --model "$TMP/tiny.gguf" --prompt "abc" --max-new 1
  grep -q "vulkan" "$TMP/err" && ok || bad "--backend vulkan without a driver: $(cat "$TMP/err")"
fi
# Without an NVIDIA driver, cuda (when built) is unavailable with the reason
# and auto opens another device, even with an NVIDIA GPU on the PCI bus.
expect 0 "$ESFT" devices # $TMP/out holds the last command's output: list the backends again
if ! grep -q "^cuda .*not built" "$TMP/out" && ! [ -e /dev/nvidiactl ]; then
  expect 0 env HWLOC_XMLFILE="$HW/nvidia.xml" "$ESFT" devices
  grep -q "^cuda .*unavailable: no NVIDIA driver" "$TMP/out" && ok || bad "cuda without a driver: $(grep ^cuda "$TMP/out")"
  grep -Eq "NVIDIA GPU 0000:65:00.0 .*cuda unavailable" "$TMP/out" && ok || bad "the hwloc NVIDIA GPU without a driver: $(grep NVIDIA "$TMP/out")"
  grep -q "auto picks: " "$TMP/out" && ok || bad "auto without an NVIDIA driver: $(grep auto "$TMP/out")"
  expect 1 "$ESFT" generate --backend cuda --model "$TMP/tiny.gguf" --prompt "abc" --max-new 1
  grep -q "cuda: unavailable: no NVIDIA driver" "$TMP/err" && ok || bad "--backend cuda without a driver: $(cat "$TMP/err")"
fi

# bench decode times the passes after the prefill of one generation: a
# batch whose prompts fill one pass (2 x 16) and one whose prompts take two
# (64 x 80 = 5120 > 4096 tokens a pass) both report decode and prefill rates
expect 0 "$ESFT" bench decode --model "$TMP/tiny.gguf" --backend cpu --threads 2 --batch 2,64 --prompt-len 80 --new 4
awk '$1 == 2 || $1 == 64 { n++; if ($2 > 0 && $5 > 0) good++ } END { exit !(n == 2 && good == 2) }' "$TMP/out" \
  && ok || bad "bench decode rates: $(cat "$TMP/out")"

finish

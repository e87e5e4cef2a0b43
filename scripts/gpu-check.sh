#!/usr/bin/env bash
# The check for a lent GPU machine (one NVIDIA GPU, CUDA toolkit, CMake, gcc;
# no Debian packages, no network), in one run of under 8 minutes:
#   1. unpacks .deps/debs/*.deb (scripts/fetch-gpu-deps.sh) into .deps/root
#   2. builds esft with the cuda backend into build-gpu (Release, -j$(nproc))
#   3. nvidia-smi and `esft devices`
#   4. random-weight models with SmolLM2-135M and Qwen2.5-1.5B dimensions
#   5. the conformance suite (every op of every backend against the cpu
#      backend) and the end-to-end test (generation and ES iterations)
#   6. esft bench decode (batch 1, 64, 256) on both, esft bench ops, esft
#      bench report --quick (bench-report.md/.json), and a PyTorch/cuBLAS
#      reference (bf16 GEMM TFLOP/s, copy GB/s) when importable
#   7. times one ES iteration: population 30, batch 200, max_new 256, 1.5B
# Every step runs under `timeout` within an overall budget; its log goes to
# $OUT (default out/gpu-check) and summary.txt has PASS/FAIL/SKIP per step and
# the key figures. Large files (models, checkpoints) stay in build-gpu/.
#
# Without an NVIDIA GPU (or without a cuda backend in the build) the steps
# that need one are skipped and the rest run on the cpu backend at small
# sizes (population 2, batch 4, max_new 16, the 135M model) so the run ends
# in a few minutes; --small forces those sizes on a GPU too (a smoke test).
#
# usage: [OUT=DIR] bash scripts/gpu-check.sh [--small]
# environment:
#   ESFT_GPU_CHECK_CUDA     ON (default: the cuda backend must build) | AUTO
#   ESFT_GPU_CHECK_BUDGET   seconds for the whole script (default 470)
#   ESFT_GPU_CHECK_THREADS  host threads for esft (default: all cores)
#   ESFT_GPU_CHECK_BUILD    build directory (default build-gpu)
#   ESFT_GPU_CHECK_JOBS     parallel build jobs (default: nproc)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
abspath() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; } # before the cd
OUT=$(abspath "${OUT:-$ROOT/out/gpu-check}")
BUILD=$(abspath "${ESFT_GPU_CHECK_BUILD:-$ROOT/build-gpu}")
cd "$ROOT" || exit 1
CUDA_MODE=${ESFT_GPU_CHECK_CUDA:-ON}
BUDGET=${ESFT_GPU_CHECK_BUDGET:-470}
THREADS=${ESFT_GPU_CHECK_THREADS:-}
WORK=$BUILD/gpu-check
SMALL=0
for arg in "$@"; do
  case "$arg" in
    --small) SMALL=1 ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "gpu-check.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
  esac
done
case "$CUDA_MODE" in ON|AUTO) ;; *) echo "gpu-check.sh: ESFT_GPU_CHECK_CUDA must be ON or AUTO" >&2; exit 2 ;; esac

mkdir -p "$OUT" "$WORK" || exit 1
rm -f "$OUT"/{summary.txt,build.log,devices.log,conformance.log,models.log,bench.log,train.log,bench-report.md,bench-report.json}
SUMMARY=$OUT/summary.txt
STEPS=$WORK/steps.txt FIGURES=$WORK/figures.txt
: >"$STEPS"
: >"$FIGURES"
ESFT=$BUILD/esft
ncpu=$(env -u OMP_NUM_THREADS nproc 2>/dev/null || echo 4) # nproc honours OMP_NUM_THREADS
JOBS=${ESFT_GPU_CHECK_JOBS:-$ncpu}
THREAD_ARGS=()
[ -n "$THREADS" ] && THREAD_ARGS=(--threads "$THREADS") && export OMP_NUM_THREADS=$THREADS

# --- step bookkeeping --------------------------------------------------------
STATE=(ROOT OUT BUILD WORK ESFT BK TM ES PREFIX_ARGS THREAD_ARGS JOBS CUDA_MODE)
record() { printf '%-30s %-5s %7s  %s\n' "$1" "$2" "$3" "${4:-}" >>"$STEPS"; }
figure() { printf '  %s\n' "$*" >>"$FIGURES"; }
skip() { record "$1" SKIP - "$2"; }

# step NAME LOG TIMEOUT CMD...: runs CMD under timeout (cut to what is left
# of the budget), appends its output to $OUT/LOG and records the result;
# returns CMD's status. Exit 77 is a test's "skipped" (tests/CMakeLists.txt).
step() {
  local name=$1 log=$OUT/$2 limit=$3
  shift 3
  local left=$((BUDGET - SECONDS))
  if ((left < 10)); then
    skip "$name" "out of time (budget ${BUDGET}s)"
    return 124
  fi
  ((limit > left)) && limit=$left
  printf '\n=== %s (timeout %ss): %s\n' "$name" "$limit" "$*" >>"$log"
  local t0=$SECONDS rc
  if [ "$(type -t "$1")" = function ]; then
    # timeout runs programs, not shell functions: hand a child bash this
    # script's functions and the state they read
    timeout --kill-after=5 "$limit" bash -c "$(declare -p "${STATE[@]}" 2>/dev/null); $(declare -f); \"\$@\"" \
      _ "$@" >>"$log" 2>&1
  else
    timeout --kill-after=5 "$limit" "$@" >>"$log" 2>&1
  fi
  rc=$?
  local dt=$((SECONDS - t0)) res=PASS note=""
  case $rc in
    0) ;;
    77) res=SKIP note="skipped itself (see $(basename "$log"))" ;;
    124|137) res=FAIL note="timed out after ${limit}s" ;;
    *) res=FAIL note="exit $rc (see $(basename "$log"))" ;;
  esac
  record "$name" "$res" "${dt}s" "$note"
  return $rc
}

write_summary() {
  {
    echo "esft gpu-check  $(date -u '+%Y-%m-%d %H:%M UTC')  host $(uname -n)  ${ncpu} cores"
    # the device machine gets a copy of the tree, maybe without .git
    if git -C "$ROOT" rev-parse --short HEAD >/dev/null 2>&1; then
      echo "commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD || echo ' (+ uncommitted changes)')"
    fi
    echo "mode: $MODE_LINE"
    echo "total ${SECONDS}s of a ${BUDGET}s budget"
    echo "configure:"
    grep -h '^-- esft: ' "$OUT/build.log" 2>/dev/null | sed 's/^-- esft: /  /' | awk '!seen[$0]++'
    echo
    printf '%-30s %-5s %7s  %s\n' step result time note
    cat "$STEPS"
    echo
    echo "key figures:"
    if [ -s "$FIGURES" ]; then cat "$FIGURES"; else echo "  (none)"; fi
  } >"$SUMMARY"
}

# --- 1. dependencies -----------------------------------------------------------
# dpkg -x into a private prefix, never into /; ar + tar where dpkg is absent
unpack_debs() {
  local root=$ROOT/.deps/root deb
  mkdir -p "$root" || return 1
  for deb in "$ROOT"/.deps/debs/*.deb; do
    echo "unpacking $(basename "$deb")"
    if command -v dpkg >/dev/null; then
      dpkg -x "$deb" "$root" || return 1
    else
      local data z
      data=$(ar t "$deb" | grep '^data\.tar') || return 1
      case $data in *.xz) z=-J ;; *.zst) z=--zstd ;; *.gz) z=-z ;; *) z= ;; esac
      ar p "$deb" "$data" | tar -x $z -f - -C "$root" || return 1
    fi
  done
}
PREFIX_ARGS=()
if ls "$ROOT"/.deps/debs/*.deb >/dev/null 2>&1; then
  step unpack-deps build.log 60 unpack_debs && PREFIX_ARGS=(-DCMAKE_PREFIX_PATH="$ROOT/.deps/root/usr")
else
  skip unpack-deps "no .deps/debs (scripts/fetch-gpu-deps.sh): pcre2 and cJSON must be installed"
fi

# --- 2. build --------------------------------------------------------------------
build() {
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DESFT_CUDA="$CUDA_MODE" \
    -DESFT_OPENCL=OFF -DESFT_VULKAN=OFF -DESFT_MPI=OFF "${PREFIX_ARGS[@]}" &&
    cmake --build "$BUILD" -j"$JOBS"
}
step build build.log 300 build
BUILT=$?
CUDA_BUILT=0
grep -q "esft: CUDA backend enabled" "$OUT/build.log" && CUDA_BUILT=1

# --- 3. devices --------------------------------------------------------------------
HAVE_GPU=0
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then HAVE_GPU=1; fi
if ((HAVE_GPU)); then
  step nvidia-smi devices.log 30 nvidia-smi
else
  skip nvidia-smi "no NVIDIA GPU or driver on this machine"
fi
if ((BUILT == 0)); then step "esft devices" devices.log 60 "$ESFT" devices; fi

BK=cpu
if ((HAVE_GPU && CUDA_BUILT)); then
  BK=cuda
  MODE_LINE="GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1), backend cuda"
else
  SMALL=1
  if ((HAVE_GPU)); then why="an NVIDIA GPU but no cuda backend in this build"
  elif ((CUDA_BUILT)); then why="no NVIDIA GPU (cuda backend built)"
  else why="no NVIDIA GPU, no cuda backend built"; fi
  MODE_LINE="$why: GPU steps skipped, cpu backend at small sizes"
fi
((SMALL)) && [ "$BK" = cuda ] && MODE_LINE="$MODE_LINE, --small sizes"
if ((BUILT != 0)); then
  MODE_LINE="$MODE_LINE; build failed, nothing else ran"
  write_summary
  cat "$SUMMARY"
  exit 1
fi

# --- 4. models --------------------------------------------------------------------------
# The 1.5B model (single-threaded, ~40 s) is written in the background while
# the conformance suite runs.
SMOL=$WORK/smollm2-135m.gguf QWEN=$WORK/qwen2.5-1.5b.gguf
synth() { # synth PRESET FILE: bf16 storage halves the file; the same seed each time
  [ -s "$2" ] && { echo "$2 exists"; return 0; }
  "$ESFT" synth --preset "$1" --type bf16 --out "$2.tmp" && mv "$2.tmp" "$2"
}
step "synth smollm2-135m" models.log 60 synth smollm2-135m "$SMOL"
step "synth qwen2.5-1.5b" models.log 150 synth qwen2.5-1.5b "$QWEN" &
QWEN_PID=$!

# --- 5. conformance ---------------------------------------------------------------------
for t in test_backend_ops test_backend_e2e; do
  step "$t" conformance.log 150 env ESFT_MODEL_DIR="${ESFT_MODEL_DIR:-$ROOT/models/cache}" "$BUILD/tests/$t"
done
# which backends the suite covered, and how many op checks failed
covered=$(grep -o '^\[[a-z]*\]' "$OUT/conformance.log" | sort -u | tr -d '[]' | paste -sd' ')
figure "conformance: backends ${covered:-none}; op rows FAIL: $(grep -c '^\[.*FAIL' "$OUT/conformance.log")"
if [ "$BK" = cpu ]; then
  skip "conformance on cuda" "no cuda device here"
elif ! grep -q '^\[cuda\]' "$OUT/conformance.log"; then
  record "conformance on cuda" FAIL - "the suite did not reach the cuda backend (see conformance.log)"
else
  n_bad=$(grep -c '^\[cuda\].* FAIL' "$OUT/conformance.log")
  if ((n_bad)); then record "conformance on cuda" FAIL - "$n_bad op rows failed"
  else record "conformance on cuda" PASS - "$(grep -c '^\[cuda\]' "$OUT/conformance.log") op rows"; fi
fi

wait "$QWEN_PID"

# --- 6. benchmarks ------------------------------------------------------------------------
if ((SMALL)); then DEC=(--batch 1,4 --prompt-len 8 --new 8) WEIGHTS=16; else DEC=(--batch 1,64,256) WEIGHTS=256; fi
DEC_QWEN=("${DEC[@]}")
((SMALL)) && DEC_QWEN=(--batch 1 --prompt-len 4 --new 4)
decode_figures() { # LABEL FILE: one line per batch; batch 1 against HBM on a GPU
  awk -v m="$1" -v gpu="$([ "$BK" = cuda ] && echo 1)" '
    /^ *[0-9]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+$/ {
      printf "decode %s: batch %d %.1f tok/s, weights read %.1f GB/s", m, $1, $2, $4
      if (gpu) printf " (%.0f%% of 4.3 TB/s)", $4 / 43
      printf "\n" }' "$2"
}
bench_decode() { # LABEL MODEL SIZE-OPTIONS...
  local label=$1 model=$2
  shift 2
  step "bench decode $label" bench.log 120 "$ESFT" bench decode --backend "$BK" "${THREAD_ARGS[@]}" \
    --model "$model" "$@" || return
  sed -n "/=== bench decode $label/,\$p" "$OUT/bench.log" >"$WORK/decode-$label.txt"
  decode_figures "$label" "$WORK/decode-$label.txt" | while read -r l; do figure "$l"; done
}
[ -s "$SMOL" ] && bench_decode smollm2-135m "$SMOL" "${DEC[@]}"
[ -s "$QWEN" ] && bench_decode qwen2.5-1.5b "$QWEN" "${DEC_QWEN[@]}"
if step "bench ops" bench.log 120 "$ESFT" bench ops --backend "$BK" "${THREAD_ARGS[@]}" --weights "$WEIGHTS"; then
  sed -n '/=== bench ops/,$p' "$OUT/bench.log" >"$WORK/ops.txt"
  awk '/^matmul y/ {dt = $7; sub(/,/, "", dt)}
       /^ *[0-9]+ +[0-9]+ +[0-9]+ +[0-9.]+ +[0-9.]+ +[0-9.]+$/ {row = $0; t = $1; n = $2; k = $3; tf = $5}
       /^perturb|^es_update/ {printf "%s: %.1f GB/s, %.2f G normals/s\n", $0 ~ /K=30/ ? "es_update K=30" : $0 ~ /K=1 / ? "es_update K=1" : "perturb", $(NF-1), $(NF-2)}
       END {if (row) printf "matmul %dx%dx%d (W %s): %.3f TFLOP/s (largest shape)\n", t, n, k, dt, tf}' \
    "$WORK/ops.txt" | while read -r l; do figure "$l"; done
fi
# The cross-device report (README "Benchmarking") for this backend's devices:
# every figure also as a fraction of the device's own measured limits.
if [ -s "$SMOL" ] && step "bench report" bench.log 150 "$ESFT" bench report --quick --backend "$BK" \
    "${THREAD_ARGS[@]}" --model "$SMOL" --budget 120 -o "$OUT/bench-report.md" --json "$OUT/bench-report.json"; then
  python3 - "$OUT/bench-report.json" <<'EOF' | while read -r l; do figure "$l"; done
import json, sys
for d in json.load(open(sys.argv[1]))["devices"]:
    if d["status"] != "ok":
        print(f"bench report {d['backend']} {d['index']}: {d['status']} {d['error']}"); continue
    lim, dec = d["limits"], {e["batch"]: e for e in d["decode"]}
    print(f"bench report {d['backend']} {d['index']} ({d['name']}): peak {lim['gflops']:.0f} GFLOP/s ({d['work_dtype']}),"
          f" copy {lim['bandwidth_gbps']:.0f} GB/s; decode b1 {dec[1]['tokens_per_s']:.0f} tok/s"
          f" ({100 * (dec[1]['of_bandwidth'] or 0):.0f}% of bandwidth), b64 {dec[64]['tokens_per_s']:.0f} tok/s"
          f" ({100 * (dec[64]['of_peak'] or 0):.0f}% of peak)")
EOF
fi
# A reference for "fraction of the chip": cuBLAS bf16 GEMM and a device copy
# through PyTorch, where the image has it.
torch_ref() {
  python3 - <<'EOF'
import time, torch
assert torch.cuda.is_available(), "torch sees no GPU"
def timed(f, reps):
    f(); torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(reps): f()
    torch.cuda.synchronize(); return (time.perf_counter() - t) / reps
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16); b = torch.randn_like(a)
s = timed(lambda: a @ b.T, 20)
print(f"torch bf16 matmul 8192^3: {2 * 8192**3 / s / 1e12:.1f} TFLOP/s")
x = torch.empty(1 << 28, device="cuda", dtype=torch.float32); y = torch.empty_like(x)
s = timed(lambda: y.copy_(x), 20)
print(f"torch f32 copy 1 GiB: {2 * x.numel() * 4 / s / 1e9:.0f} GB/s (read + write)")
EOF
}
# fractions of the references: GEMM against cuBLAS, noise ops against a copy
fractions() {
  awk 'function num(unit,  i) { for (i = 2; i <= NF; i++) if (index($i, unit) == 1) return $(i - 1) }
    /matmul .*largest/ {mm = num("TFLOP/s")}   /torch bf16 matmul/ {tf = num("TFLOP/s")}
    /torch f32 copy/ {gb = num("GB/s")}         /^  perturb:/ {pg = num("GB/s")}
    /^  es_update K=1:/ {ug = num("GB/s")}
    END {
      if (mm && tf) printf "  => esft matmul at %.0f%% of the torch/cuBLAS bf16 GEMM\n", 100 * mm / tf
      if (gb && pg) printf "  => perturb at %.1f%%, es_update K=1 at %.1f%% of torch copy bandwidth\n", 100 * pg / gb, 100 * ug / gb
    }' "$FIGURES" >>"$FIGURES.tmp" && cat "$FIGURES.tmp" >>"$FIGURES" && rm -f "$FIGURES.tmp"
}
if [ "$BK" = cuda ] && python3 -c 'import torch' 2>/dev/null; then
  step "torch reference" bench.log 90 torch_ref &&
    grep '^torch ' "$OUT/bench.log" | while read -r l; do figure "reference: $l"; done
  fractions
else
  skip "torch reference" "needs the cuda backend and PyTorch"
fi

# --- 7. one ES iteration ---------------------------------------------------------------------
if ((SMALL)); then
  TM=$SMOL TL=smollm2-135m ES=(--pop 2 --batch 4 --max-new 16 --max-slots 4)
else
  TM=$QWEN TL=qwen2.5-1.5b ES=(--pop 30 --batch 200 --max-new 256 --max-slots 200)
fi
# train saves checkpoint.gguf and final.gguf after its last iteration, before
# that iteration's metrics line (9 GB for the 1.5B model: tens of seconds of
# disk, nothing to measure), so the run asks for 2 iterations and is stopped
# once metrics.jsonl holds the first one's whole line.
es_iteration() {
  local metrics=$WORK/train/metrics.jsonl pid
  rm -rf "$WORK/train"
  "$ESFT" data countdown --n 200 --seed 1 --out "$WORK/countdown.json" || return
  "$ESFT" train --task countdown --data "$WORK/countdown.json" --model "$TM" --out "$WORK/train" \
    --iters 2 --seed 1 "${ES[@]}" --backend "$BK" "${THREAD_ARGS[@]}" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if [ -s "$metrics" ] && [ -z "$(tail -c 1 "$metrics")" ]; then
      kill "$pid"
      wait "$pid"
      echo "(train stopped before its checkpoint writes)"
      cat "$metrics"
      return 0
    fi
    sleep 0.2
  done
  wait "$pid" && cat "$metrics"
}
if [ -s "$TM" ]; then
  if step "ES iteration ($TL)" train.log 240 es_iteration; then
    python3 - "$WORK/train/metrics.jsonl" "$TL" "${ES[*]}" >>"$FIGURES" <<'EOF' ||
import json, sys
m = json.loads(open(sys.argv[1]).readline())
print(f"  ES iteration {sys.argv[2]} ({sys.argv[3]}): {m['seconds']:.1f} s = generate {m['seconds_generate']:.1f}"
      f" + perturb {m['seconds_perturb']:.2f} + update {m['seconds_update']:.2f} + reward {m['seconds_reward']:.2f};"
      f" {int(m['tokens'])} tokens, {m['tokens_per_second']:.0f} tok/s")
EOF
      figure "ES iteration: $(tail -1 "$WORK/train/metrics.jsonl")"
  fi
  rm -rf "$WORK/train"
else
  skip "ES iteration ($TL)" "no model"
fi

write_summary
cat "$SUMMARY"
grep -q ' FAIL ' "$STEPS" && exit 1
exit 0

#!/usr/bin/env bash
# Sets up esft on a fresh Debian 12 machine (as root, or with sudo), idempotently:
#   1. installs the Debian packages the build needs,
#   2. fetches the default model (SmolLM2-135M-Instruct Q4_1) into the model
#      cache ($ESFT_MODEL_DIR, default models/cache/),
#   3. configures and builds into build/ (ESFT_BUILD_DIR to change).
# Then, by flag:
#   --test      runs the whole test suite: ctest on the build, ctest on an
#               AddressSanitizer + UndefinedBehaviorSanitizer build, a clang
#               build with the fuzzers, and each fuzzer for 30 s; tests
#               labelled "long" only with ESFT_LONG_TESTS=1
#   --demo      runs the main job (see README.md)
#   --no-build  stops after steps 1-2
# Each step prints what it does; its output goes to a log in build-logs/
# ($ESFT_LOG_DIR), and a failing step names itself and its log.
# Warnings never fail a user's build; ESFT_WERROR=ON (as CI sets it) makes
# every build here use -Werror.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${ESFT_BUILD_DIR:-$ROOT/build}
LOGS=${ESFT_LOG_DIR:-$ROOT/build-logs}
WERROR=${ESFT_WERROR:-OFF}
export ESFT_MODEL_DIR=${ESFT_MODEL_DIR:-$ROOT/models/cache}
MODE=build
for arg in "$@"; do
  case "$arg" in
    --test) MODE=test ;;
    --demo) MODE=demo ;;
    --no-build) MODE=none ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
  esac
done
mkdir -p "$LOGS"

log() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }
# step NAME CMD...: runs CMD with its output in $LOGS/NAME.log; on failure
# names the step and the log, shows the log's end, and stops.
step() {
  local name=$1; shift
  local logfile="$LOGS/$name.log" t0=$SECONDS rc=0
  "$@" >"$logfile" 2>&1 || rc=$?
  if [ "$rc" != 0 ]; then
    log "step '$name' failed (exit $rc) after $((SECONDS - t0)) s: $*"
    log "its log: $logfile; the last lines:"
    tail -n 25 "$logfile" >&2
    exit "$rc"
  fi
  log "  done in $((SECONDS - t0)) s (log: $logfile)"
}

# --- 1. Debian packages -------------------------------------------------------
PACKAGES=(build-essential cmake pkg-config git ca-certificates unzip python3 python3-pip
          clang libclang-rt-14-dev libcairo2-dev fonts-dejavu-core
          libopenblas-dev libcjson-dev libpcre2-dev libhwloc-dev hwloc
          pocl-opencl-icd ocl-icd-opencl-dev opencl-headers libclblast-dev clinfo
          libvulkan-dev mesa-vulkan-drivers glslc openmpi-bin libopenmpi-dev)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
if ((${#missing[@]})); then
  log "[1/3] installing Debian packages: ${missing[*]}"
  step apt-update $SUDO apt-get update
  step apt-install env DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
else
  log "[1/3] Debian packages: all ${#PACKAGES[@]} present"
fi

# --- 2. default model ---------------------------------------------------------
log "[2/3] default model (SmolLM2-135M-Instruct Q4_1) in $ESFT_MODEL_DIR"
step fetch-model bash "$ROOT/scripts/fetch-model.sh" smollm2-135m
# The test suite also checks the SentencePiece tokenizer against llama.cpp's
# ids on a real vocabulary: Gemma 3 270M's (253 MB).
if [ "$MODE" = test ]; then
  log "      test model gemma3-270m (the SentencePiece tokenizer's fixtures)"
  step fetch-model-gemma3 bash "$ROOT/scripts/fetch-model.sh" gemma3-270m
fi
# Larger models only on request (ESFT_EXTRA_MODELS="qwen2.5-coder-0.5b ..."):
# tests that need them skip without them.
for extra in ${ESFT_EXTRA_MODELS:-}; do
  log "      extra model $extra (ESFT_EXTRA_MODELS)"
  step "fetch-model-$extra" bash "$ROOT/scripts/fetch-model.sh" "$extra"
done

# --- 3. build -----------------------------------------------------------------
# Where the CUDA toolkit is installed, the cuda backend must build (ON, not
# AUTO): a broken CUDA build fails here instead of quietly dropping out.
CUDA_OPT=()
if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
  CUDA_OPT=(-DESFT_CUDA=ON)
  command -v nvcc >/dev/null 2>&1 || export PATH="/usr/local/cuda/bin:$PATH"
fi
# build NAME DIR [cmake args...]: configure and build, each a logged step
build() {
  local name=$1 dir=$2; shift 2
  # cairo ON: its packages are installed above, so plots must build (not quietly drop out)
  local args=(-S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DESFT_WERROR="$WERROR" -DESFT_CAIRO=ON "$@")
  log "  configuring $dir: cmake ${args[*]:4}"
  step "$name-configure" cmake "${args[@]}"
  log "  building $dir with $(nproc) jobs"
  step "$name-build" cmake --build "$dir" -j"$(nproc)"
}
[ "$MODE" = none ] && exit 0
log "[3/3] building esft into $BUILD${CUDA_OPT:+ (with the cuda backend)}"
build gcc "$BUILD" "${CUDA_OPT[@]}"
log "built $BUILD/esft"

# ctest DIR [env...]: the suite of one build, its output shown as it runs;
# tests labelled "long" (tens of minutes here) only with ESFT_LONG_TESTS=1
run_ctest() {
  local dir=$1; shift
  local select=(-LE long)
  [ "${ESFT_LONG_TESTS:-0}" = 1 ] && select=()
  (cd "$dir" && env "$@" ctest --output-on-failure -j2 "${select[@]}")
}

# The sanitizer build's suite. LeakSanitizer's own tracer now and then dies
# at a test's exit ("Tracer caught signal 11", "LeakSanitizer has
# encountered a fatal error") on this busy 2-core machine: that is the tool
# failing, not a finding. When that is all that went wrong (no leak, no
# AddressSanitizer or UBSan report), the failed tests run once more, alone.
run_ctest_sanitized() {
  local dir=$1; shift
  run_ctest "$dir" "$@" && return 0
  local out=$dir/Testing/Temporary/LastTest.log
  if grep -q "LeakSanitizer has encountered a fatal error" "$out" &&
     ! grep -q -e "ERROR: LeakSanitizer: detected" -e "ERROR: AddressSanitizer" -e "runtime error:" "$out"; then
    log "  LeakSanitizer's tracer crashed (not a finding): the failed tests once more, one at a time"
    (cd "$dir" && env "$@" ctest --output-on-failure --rerun-failed -j1)
  else
    return 1
  fi
}

case "$MODE" in
  test)
    log "test 1/4: the test suite ($BUILD)"
    run_ctest "$BUILD"
    log "test 2/4: AddressSanitizer + UndefinedBehaviorSanitizer build, without -march=native"
    build asan "$BUILD-asan" "${CUDA_OPT[@]}" -DESFT_SANITIZE=ON -DESFT_NATIVE=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo
    run_ctest_sanitized "$BUILD-asan" ASAN_OPTIONS=detect_leaks=1
    log "test 3/4: clang build without -march=native, fuzzers included"
    build clang "$BUILD-clang" "${CUDA_OPT[@]}" -DCMAKE_C_COMPILER=clang -DESFT_NATIVE=OFF -DESFT_FUZZ=ON
    log "test 4/4: each fuzzer for 30 s"
    ESFT_FUZZ_BUILD_DIR="$BUILD-clang" bash "$ROOT/scripts/fuzz.sh" all 30
    ;;
  demo)
    bash "$ROOT/scripts/demo.sh"
    ;;
esac

#!/usr/bin/env bash
# Sets up esft on a fresh Debian 12 machine (as root), idempotently:
#   1. installs the Debian packages the build needs,
#   2. fetches the default model (SmolLM2-135M-Instruct Q4_1) into the model
#      cache ($ESFT_MODEL_DIR, default models/cache/),
#   3. configures and builds into build/ (ESFT_BUILD_DIR to change).
# Then, by flag:
#   --test   runs the whole test suite (ctest), also under ASan+UBSan
#   --demo   runs the main job (see README.md)
#   --no-build  stops after steps 1-2
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${ESFT_BUILD_DIR:-$ROOT/build}
export ESFT_MODEL_DIR=${ESFT_MODEL_DIR:-$ROOT/models/cache}
MODE=build
for arg in "$@"; do
  case "$arg" in
    --test) MODE=test ;;
    --demo) MODE=demo ;;
    --no-build) MODE=none ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

log() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }

# --- 1. Debian packages -------------------------------------------------------
PACKAGES=(build-essential cmake pkg-config git ca-certificates unzip python3 python3-pip
          libopenblas-dev libcjson-dev libpcre2-dev libhwloc-dev hwloc
          pocl-opencl-icd ocl-icd-opencl-dev opencl-headers libclblast-dev clinfo
          libvulkan-dev mesa-vulkan-drivers glslc openmpi-bin libopenmpi-dev)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages present"
fi

# --- 2. default model ---------------------------------------------------------
bash "$ROOT/scripts/fetch-model.sh" smollm2-135m >/dev/null

# --- 3. build -----------------------------------------------------------------
# Where the CUDA toolkit is installed, the cuda backend must build (ON, not
# AUTO): a broken CUDA build fails here instead of quietly dropping out.
CUDA_OPT=()
if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
  CUDA_OPT=(-DESFT_CUDA=ON)
  command -v nvcc >/dev/null 2>&1 || export PATH="/usr/local/cuda/bin:$PATH"
fi
build() { # build DIR [cmake args...]
  local dir=$1; shift
  cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DESFT_WERROR=ON "${CUDA_OPT[@]}" "$@" >/dev/null
  cmake --build "$dir" -j"$(nproc)" >/dev/null
}
[ "$MODE" = none ] && exit 0
log "building into $BUILD"
build "$BUILD"
log "built $BUILD/esft"

case "$MODE" in
  test)
    log "running the test suite"
    (cd "$BUILD" && ctest --output-on-failure -j2)
    log "running the test suite under AddressSanitizer + UndefinedBehaviorSanitizer"
    build "$BUILD-asan" -DESFT_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
    (cd "$BUILD-asan" && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j2)
    ;;
  demo)
    bash "$ROOT/scripts/demo.sh"
    ;;
esac

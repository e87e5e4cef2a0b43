#!/usr/bin/env bash
# Peak memory against the design's floor (issue 19), one run per row: the
# peak resident set (/usr/bin/time -v) of `esft generate` and `esft train`
# on every backend esft lists (opencl/vulkan: host RSS), for SmolLM2-135M
# and Qwen2.5-Coder-0.5B where they are in the model cache. The f32 weights
# and the floor come from the plan `esft train` prints at start: generate's
# floor is the f32 weights (its working copy is the master), train's the
# master and the working copy; the KV cache and activations are the "+".
# The train rows are issue 19's: SmolLM2 with --pop 4 --max-new 16, the
# 0.5B model with --pop 2 --max-new 8. A run esft refuses (its memory
# plan exceeds what the device reports) is a row saying so. The driver
# baseline is the peak of generating with a 0.3 MB model: the driver's own
# code and data (about 0.1 GB for PoCL's and lavapipe's LLVM), which the
# last column leaves out. These OpenCL and Vulkan drivers run on the CPU,
# so their device memory is host memory and in the RSS; neither reports
# its usage (OpenCL has no such query; lavapipe lacks VK_EXT_memory_budget).
#   scripts/bench-memory.sh [BUILD_DIR]   (default build/)
#   BACKENDS="cpu opencl" limits the rows to those backends.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ESFT=${1:-$ROOT/build}/esft
DIR=${ESFT_MODEL_DIR:-$ROOT/models/cache}
THREADS=${THREADS:-2}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
[ -x "$ESFT" ] || { echo "bench-memory: no $ESFT (build first)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench-memory: /usr/bin/time is needed (apt-get install time)" >&2; exit 1; }

models=()
for m in "$DIR"/SmolLM2-135M-Instruct.Q4_1.gguf "$DIR"/[Qq]wen2.5-[Cc]oder-0.5[Bb]*.gguf; do
  [ -f "$m" ] && models+=("$m")
done
[ ${#models[@]} -gt 0 ] || { echo "bench-memory: no model in $DIR (scripts/fetch-model.sh smollm2-135m)" >&2; exit 1; }
backends=${BACKENDS:-}
[ -n "$backends" ] || backends=$("$ESFT" devices 2>/dev/null | awk 'NR > 1 && $2 == "0" && $1 ~ /^(cpu|opencl|vulkan)$/ {print $1}')

# "513.1 M" / "1.02 G" (MiB, GiB) -> GB (10^9)
gb() { awk -v v="$1" -v u="$2" 'BEGIN { printf "%.2f", v * (u == "G" ? 2^30 : 2^20) / 1e9 }'; }
# peak RSS of a command, in GB; its stderr in $TMP/err
peak() { /usr/bin/time -v "$@" >/dev/null 2>"$TMP/err" || { echo "bench-memory: failed: $* ($(why))" >&2; return 1; }
         awk '/Maximum resident set size/ { printf "%.2f", $NF * 1024 / 1e9 }' "$TMP/err"; }
# esft's own error line of the last failed command
why() { grep -m1 '^esft' "$TMP/err" || tail -1 "$TMP/err"; }

ratio() { awk -v p="$1" -v f="$2" 'BEGIN { printf "%.2f", p / f }'; }

# A driver's own code and data (PoCL's and lavapipe's LLVM, compiled
# kernels): the peak of generating with a model of 0.3 MB of weights.
"$ESFT" synth --preset tiny --out "$TMP/tiny.gguf" 2>/dev/null || { echo "bench-memory: esft synth failed" >&2; exit 1; }

echo "| backend | command | model | f32 weights | peak RSS | floor (design) | peak / floor | driver baseline | (peak - baseline) / floor |"
echo "|---|---|---|---|---|---|---|---|---|"
for be in $backends; do
  base=$(peak "$ESFT" generate --model "$TMP/tiny.gguf" --backend "$be" --threads "$THREADS" --max-new 4 --prompt Hello) ||
    continue
  for m in "${models[@]}"; do
    name=$(basename "$m" .gguf)
    common=(--model "$m" --backend "$be" --threads "$THREADS")
    case $name in
      SmolLM2*) shape=(--pop 4 --iters 1 --max-new 16) ;;
      *) shape=(--pop 2 --iters 1 --max-new 8) ;;
    esac
    train=(train "${common[@]}" --task conciseness "${shape[@]}" --out "$TMP/run" --overwrite)
    p_train=$(peak "$ESFT" "${train[@]}") || {
      echo "| $be | \`esft train --task conciseness ${shape[*]}\` | $name | | refused: $(why | tr '|' '/') | | | | |"
      continue
    }
    plan=$(grep -m1 "memory plan" "$TMP/err" || true)
    [ -n "$plan" ] || { echo "bench-memory: $be $name: train printed no plan" >&2; continue; }
    read -r mv mu <<<"$(sed 's/.*master \([0-9.]*\)\([GM]\).*/\1 \2/' <<<"$plan")"
    read -r wv wu <<<"$(sed 's/.*work \([0-9.]*\)\([GM]\).*/\1 \2/' <<<"$plan")"
    w=$(gb "$mv" "$mu")
    floor_train=$(awk -v a="$w" -v b="$(gb "$wv" "$wu")" 'BEGIN { printf "%.2f", a + b }')
    p_gen=$(peak "$ESFT" generate "${common[@]}" --max-new 4 --prompt Hello) || continue
    net() { awk -v p="$1" -v b="$base" -v f="$2" 'BEGIN { printf "%.2f", (p - b) / f }'; }
    echo "| $be | \`esft generate --max-new 4\` | $name | $w GB | $p_gen GB | $w GB + KV | $(ratio "$p_gen" "$w") | $base GB | $(net "$p_gen" "$w") |"
    echo "| $be | \`esft train --task conciseness ${shape[*]}\` | $name | $w GB | $p_train GB | $floor_train GB + KV | $(ratio "$p_train" "$floor_train") | $base GB | $(net "$p_train" "$floor_train") |"
  done
done

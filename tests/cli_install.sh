#!/usr/bin/env bash
# libesft as a user gets it: `cmake --install` into a scratch prefix, the
# shared library exporting exactly the functions include/esft.h declares,
# examples/embed.c built with pkg-config and with find_package(esft), and
# run: two ES iterations of a tiny model with the example's own reward.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=$(dirname "${ESFT_TEST_BINARY_DIR:?}")
CC=${ESFT_CC:-cc}
read -r -a CFLAGS <<<"${ESFT_EXAMPLE_CFLAGS:-}"
P=$TMP/prefix

expect 0 cmake --install "$BUILD" --prefix "$P"
LIB=$(find "$P" -name 'libesft.so' | head -1)
PC=$(find "$P" -name 'esft.pc' | head -1)
for f in "$LIB" "$PC" "$P/include/esft.h" "$(find "$P" -name esftConfig.cmake | head -1)" "$P/bin/esft"; do
  [ -n "$f" ] && [ -e "$f" ] && ok || bad "not installed: $f"
done

# exported = declared: every defined dynamic symbol is an ESFT_API function of esft.h
nm -D --defined-only "$LIB" | awk '{print $NF}' | sort >"$TMP/exported"
sed -n 's/^ESFT_API[^(]*[ *]\(esft_[a-z0-9_]*\)(.*/\1/p' "$ROOT/include/esft.h" | sort >"$TMP/declared"
[ -s "$TMP/declared" ] && ok || bad "no ESFT_API declarations found in esft.h"
if diff "$TMP/declared" "$TMP/exported" >"$TMP/diff"; then ok; else bad "libesft.so exports differ from esft.h:"; cat "$TMP/diff" >&2; fi
grep -v '^esft_' "$TMP/exported" >"$TMP/foreign" && { bad "non-esft_ symbols exported:"; head "$TMP/foreign" >&2; } || ok

# pkg-config, with the prefix moved after installing (esft.pc is relocatable)
mv "$P" "$TMP/moved"; P=$TMP/moved
PC_DIR=$(dirname "${PC/#$TMP\/prefix/$P}")
flags=$(PKG_CONFIG_PATH=$PC_DIR pkg-config --cflags --libs esft) && ok || bad "pkg-config --cflags --libs esft"
case "$flags" in *"-I$P/"*) ok ;; *) bad "pkg-config flags do not point into the moved prefix: $flags" ;; esac
# shellcheck disable=SC2086
expect 0 "$CC" -std=c11 -Wall -Wextra -pedantic -Werror "${CFLAGS[@]}" "$ROOT/examples/embed.c" $flags -o "$TMP/embed"

expect 0 "$ESFT" synth --out "$TMP/tiny.gguf"
export LD_LIBRARY_PATH=$(dirname "${LIB/#$TMP\/prefix/$P}")
expect 0 "$TMP/embed" "$TMP/tiny.gguf" "$TMP/trained.gguf" cpu
grep -q '^iteration 1: member rewards' "$TMP/out" && grep -q '^iteration 2: reward mean' "$TMP/out" &&
  grep -q '^24 responses scored in 2 iterations' "$TMP/out" && ok || { bad "embed output:"; cat "$TMP/out" >&2; }
# what it saved is a model esft (and so llama.cpp's format) reads
expect 0 "$ESFT" generate --model "$TMP/trained.gguf" --prompt "Question:" --max-new 2 --backend cpu
# a model that is not there: a message from esft_last_error, exit 1
expect 1 "$TMP/embed" "$TMP/missing.gguf" "$TMP/x.gguf" cpu
grep -q 'missing.gguf' "$TMP/err" && ok || bad "the error does not name the file: $(cat "$TMP/err")"

# find_package(esft) from a CMake project
expect 0 cmake -S "$ROOT/examples" -B "$TMP/ex" -DCMAKE_PREFIX_PATH="$P" -DCMAKE_C_COMPILER="$CC" \
  "-DCMAKE_C_FLAGS=${CFLAGS[*]}"
expect 0 cmake --build "$TMP/ex"
expect 0 "$TMP/ex/embed" "$TMP/tiny.gguf" "$TMP/trained2.gguf" cpu
cmp -s "$TMP/trained.gguf" "$TMP/trained2.gguf" && ok || bad "the two builds of embed trained different weights"
finish

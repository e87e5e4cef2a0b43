#!/usr/bin/env bash
# Downloads the .deb files a lent GPU machine needs to build esft into
# .deps/debs/ (ignored by git; the device tool carries it with `carry: .deps`).
# That machine has a compiler, CMake and CUDA but no Debian packages and no
# network: scripts/gpu-check.sh unpacks these into .deps/root with dpkg -x.
#
# Only what the build links: pcre2 (8-bit) and cJSON, runtime + headers.
# hwloc and OpenBLAS are optional (ESFT_HWLOC, ESFT_OPENBLAS) and left out.
# libpcre2-dev's links to the 16/32-bit and POSIX libraries dangle; esft
# does not use them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST=$ROOT/.deps/debs
PACKAGES=(libpcre2-8-0 libpcre2-dev libcjson1 libcjson-dev)

case "${1:-}" in
  -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
  "") ;;
  *) echo "fetch-gpu-deps.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
esac
command -v apt-get >/dev/null || { echo "fetch-gpu-deps.sh: apt-get not found (needs a Debian-like machine)" >&2; exit 1; }

# apt-get download writes into the current directory: a temp dir, so a
# failed run leaves no half set behind in .deps/debs
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download "${PACKAGES[@]}" >/dev/null 2>"$tmp/apt.err") || {
  echo "fetch-gpu-deps.sh: apt-get download failed: $(grep -v '^W:' "$tmp/apt.err" | head -1)" >&2
  exit 1
}
for p in "${PACKAGES[@]}"; do
  ls "$tmp/${p}"_*.deb >/dev/null 2>&1 || { echo "fetch-gpu-deps.sh: $p was not downloaded" >&2; exit 1; }
done
mkdir -p "$DEST"
rm -f "$DEST"/*.deb
mv "$tmp"/*.deb "$DEST"/
echo "fetch-gpu-deps.sh: $(ls "$DEST" | wc -l) packages, $(du -sh "$DEST" | cut -f1) in $DEST"

#!/usr/bin/env bash
# Checks that no source file includes a header of a higher layer:
#  -1 include/ (the public header: declarations only)
#   0 kernels/, backends/ (util/, every backend folder)
#   1 models/
#   2 frontend/ (the ES loop, tasks, evaluation, run directories)
#   3 frontend/tool/ (the command-line tool)
# Every quoted #include is resolved the way the compiler would (beside the
# file, then the include directories of the layers), and the layer of the
# header found must not be above the file's. The compiler enforces the same
# through the layered targets; this also catches relative paths
# ("../frontend/x.h") that an include directory cannot forbid.
#
#   check_layers.sh [ROOT]   exit 0 when clean, 1 listing every back-edge
# Run without ROOT inside tests/: checks the tree; the test also plants a
# back-edge in a copy and expects it to be caught.
set -u
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
SEARCH=(include backends backends/util kernels/common models frontend frontend/tasks frontend/tool)

layer_of() { # path relative to ROOT -> layer number, or empty for outside
  case "$1" in
    include/*) echo -1 ;;
    kernels/*|backends/*) echo 0 ;;
    models/*) echo 1 ;;
    frontend/tool/*) echo 3 ;;
    frontend/*) echo 2 ;;
  esac
}

bad=0 checked=0
while IFS= read -r file; do
  rel=${file#"$ROOT"/}
  mine=$(layer_of "$rel")
  [ -n "$mine" ] || continue
  dir=$(dirname "$file")
  while IFS= read -r inc; do
    found=""
    for d in "$dir" "${SEARCH[@]/#/$ROOT/}"; do
      if [ -f "$d/$inc" ]; then found=$(realpath "$d/$inc"); break; fi
    done
    [ -n "$found" ] || continue # a system or generated header
    theirs=$(layer_of "${found#"$ROOT"/}")
    checked=$((checked + 1))
    if [ -n "$theirs" ] && [ "$theirs" -gt "$mine" ]; then
      echo "back-edge: $rel (layer $mine) includes \"$inc\" = ${found#"$ROOT"/} (layer $theirs)"
      bad=$((bad + 1))
    fi
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$file")
done < <(find "$ROOT/include" "$ROOT/backends" "$ROOT/kernels" "$ROOT/models" "$ROOT/frontend" -type f \
           \( -name '*.c' -o -name '*.h' -o -name '*.cu' \) | sort)
echo "$checked includes checked, $bad back-edges"
[ "$bad" = 0 ] && [ "$checked" -gt 0 ]

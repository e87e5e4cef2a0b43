#!/usr/bin/env bash
# The layers (include -> backends/kernels -> models -> frontend -> frontend/tool) hold: no file includes
# a header of a higher layer; and the check itself catches a planted one.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")

bash "$HERE/check_layers.sh" "$ROOT" >"$TMP/out" 2>&1 && ok || { bad "layer check"; cat "$TMP/out" >&2; }

# a copy of the sources with back-edges planted: both must be reported
mkdir -p "$TMP/tree"
cp -r "$ROOT/include" "$ROOT/backends" "$ROOT/kernels" "$ROOT/models" "$ROOT/frontend" "$TMP/tree/"
echo '#include "train.h"' >>"$TMP/tree/models/synth.c"
echo '#include "../models/gguf.h"' >>"$TMP/tree/backends/noise.c"
echo '#include "progress.h"' >>"$TMP/tree/frontend/evaluate.c"
echo '#include "status.h"' >>"$TMP/tree/include/esft.h"
bash "$HERE/check_layers.sh" "$TMP/tree" >"$TMP/out" 2>&1 && bad "planted back-edges not caught" || ok
grep -q 'back-edge: models/synth.c (layer 1) includes "train.h" = frontend/train.h (layer 2)' "$TMP/out" && ok ||
  bad "models -> frontend not reported: $(cat "$TMP/out")"
grep -q 'back-edge: backends/noise.c (layer 0) includes "../models/gguf.h"' "$TMP/out" && ok ||
  bad "backends -> models not reported: $(cat "$TMP/out")"
grep -q 'back-edge: frontend/evaluate.c (layer 2) includes "progress.h" = frontend/tool/progress.h (layer 3)' "$TMP/out" && ok ||
  bad "es -> tool not reported: $(cat "$TMP/out")"
grep -q 'back-edge: include/esft.h (layer -1) includes "status.h" = backends/status.h (layer 0)' "$TMP/out" && ok ||
  bad "public header -> backends not reported: $(cat "$TMP/out")"
finish

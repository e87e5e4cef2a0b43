#!/usr/bin/env bash
# The main job on the default model with the auto-selected backend.
# Until `esft train` lands (ES fine-tuning), this shows the inference engine:
# the devices esft sees, a greedy continuation, a chat answer and the decode
# speed per batch size.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ESFT=${ESFT_BIN:-${ESFT_BUILD_DIR:-$ROOT/build}/esft}
"$ESFT" devices
echo
echo '$ esft generate --prompt "The capital of France is" --max-new 16'
"$ESFT" generate --prompt "The capital of France is" --max-new 16 --verbose
echo
echo '$ esft generate --chat --prompt "What is 7 times 6?" --max-new 48'
"$ESFT" generate --chat --prompt "What is 7 times 6?" --max-new 48 --verbose
echo
"$ESFT" bench decode --batch 1,8,32 --new 16

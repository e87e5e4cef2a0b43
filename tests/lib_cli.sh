# Shared by the tests/cli_*.sh scripts (not itself a test: the glob is cli_*.sh): counters, a scratch dir, and expect.
# Source it; end the script with `finish`.
ESFT=${ESFT_BIN:?ESFT_BIN must name the esft binary}
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# expect CODE CMD... : exit code CODE (stdout in $TMP/out, stderr in
# $TMP/err); on a failure exit, stderr must be exactly one line.
expect() {
  local want=$1; shift
  "$@" >"$TMP/out" 2>"$TMP/err"; local got=$?
  if [ "$got" != "$want" ]; then bad "exit $got (want $want): $*"; cat "$TMP/err" >&2; return 1; fi
  if [ "$want" != 0 ] && [ "$(wc -l <"$TMP/err")" != 1 ]; then
    bad "stderr is not one line: $*"; cat "$TMP/err" >&2; return 1
  fi
  ok
}

finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" = 0 ] && [ "$pass" -gt 0 ]
}

#!/usr/bin/env bash
# esft plot from the command line: one run, several runs, each format, and
# bad input refused with one line and a non-zero exit.
. "$(dirname "$0")/lib_cli.sh"

mkdir -p "$TMP/a/run" "$TMP/b/run"
for i in 1 2 3 4 5; do
  echo "{\"iter\": $i, \"reward_mean\": 0.$i, \"reward_min\": 0.0, \"reward_max\": 0.9, \"eval_accuracy\": 0.$i}"
done >"$TMP/a/run/metrics.jsonl"
for i in 1 2 3; do echo "{\"iter\": $i, \"reward_mean\": 0.$((9 - i))}"; done >"$TMP/b/run/metrics.jsonl"

# one run, default output beside it (as scripts/demo.sh uses it); an esft
# built without cairo refuses with one line, and that is all there is to test
if ! "$ESFT" plot "$TMP/a/run/metrics.jsonl" >"$TMP/out" 2>"$TMP/err"; then
  grep -q "built without cairo" "$TMP/err" && [ "$(wc -l <"$TMP/err")" = 1 ] && ok || bad "plot: $(cat "$TMP/err")"
  echo "esft plot without cairo: drawing not tested"
  finish; exit
fi
ok
[ "$(head -c 4 "$TMP/a/run/reward.png" | tail -c 3)" = PNG ] && ok || bad "no PNG at DIR/reward.png"
# two runs whose directories share a name, as directories, each format
expect 0 "$ESFT" plot "$TMP/a/run" "$TMP/b/run/metrics.jsonl" -o "$TMP/cmp.svg"
grep -q "<desc>reward per iteration; runs: a/run, b/run;" "$TMP/cmp.svg" && ok || bad "legend names: $(grep -o '<desc>.*</desc>' "$TMP/cmp.svg")"
expect 0 "$ESFT" plot "$TMP/a/run" "$TMP/b/run" -o "$TMP/cmp.pdf"
[ "$(head -c 5 "$TMP/cmp.pdf")" = "%PDF-" ] && ok || bad "no PDF"
expect 0 "$ESFT" plot "$TMP/a/run" "$TMP/b/run" -o "$TMP/cmp.PNG"

# bad input: nothing written
expect 1 "$ESFT" plot "$TMP/a/run" "$TMP/missing/metrics.jsonl" -o "$TMP/x.png"
grep -q "missing/metrics.jsonl" "$TMP/err" && ok || bad "missing file not named: $(cat "$TMP/err")"
: >"$TMP/empty.jsonl"
expect 1 "$ESFT" plot "$TMP/empty.jsonl" -o "$TMP/x.png"
grep -q "empty.jsonl: no iterations" "$TMP/err" && ok || bad "empty file: $(cat "$TMP/err")"
echo '{"iter": 1, "reward_mean": "high"}' >"$TMP/text.jsonl"
expect 1 "$ESFT" plot "$TMP/text.jsonl" -o "$TMP/x.png"
grep -q "text.jsonl:1:" "$TMP/err" && ok || bad "bad line not named: $(cat "$TMP/err")"
expect 2 "$ESFT" plot "$TMP/a/run" -o "$TMP/x.jpg"
grep -q "x.jpg.*\.png, \.svg or \.pdf" "$TMP/err" && ok || bad "extension: $(cat "$TMP/err")"
expect 2 "$ESFT" plot -o "$TMP/x.png"
[ ! -e "$TMP/x.png" ] && [ ! -e "$TMP/x.jpg" ] && ok || bad "a failed plot wrote a file"
# an existing directory as the output is refused, not replaced
mkdir "$TMP/out.png"
expect 1 "$ESFT" plot "$TMP/a/run" -o "$TMP/out.png"
[ -d "$TMP/out.png" ] && ok || bad "plot replaced a directory"
finish

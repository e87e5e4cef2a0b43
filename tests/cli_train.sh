#!/usr/bin/env bash
# esft train end to end on a tiny synthetic model: reproducibility (two runs
# give identical weights), exact resume, metrics, and one-line errors for bad
# input.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"
# tensor data of a GGUF, without metadata: compare with `esft`'s own reader
# would not be independent, so compare whole files (they must be identical).
same_file() { cmp -s "$1" "$2" && ok || bad "$1 and $2 differ"; }

"$ESFT" synth --preset tiny --out "$TMP/tiny.gguf" 2>/dev/null || { echo "synth failed"; exit 1; }
"$ESFT" synth --preset tiny --seed 2 --out "$TMP/other.gguf" 2>/dev/null
M="$TMP/tiny.gguf"
COMMON=(--model "$M" --task conciseness --pop 4 --sigma 0.05 --alpha 0.02 --max-new 6 --seed 11 --quiet)

expect 0 "$ESFT" train "${COMMON[@]}" --iters 4 --out "$TMP/a"
expect 0 "$ESFT" train "${COMMON[@]}" --iters 4 --out "$TMP/b"
same_file "$TMP/a/final.gguf" "$TMP/b/final.gguf"
[ "$(wc -l <"$TMP/a/metrics.jsonl")" = 4 ] && ok || bad "metrics.jsonl should have 4 lines"
grep -q '"reward_mean"' "$TMP/a/metrics.jsonl" && grep -q '"rewards":\[' "$TMP/a/metrics.jsonl" && ok || bad "metrics fields"
cmp -s "$M" "$TMP/a/final.gguf" && bad "training did not change the model" || ok

# 2 iterations, then resume to 4: identical to the straight run
expect 0 "$ESFT" train "${COMMON[@]}" --iters 2 --out "$TMP/c"
expect 0 "$ESFT" train --resume "$TMP/c" --iters 4 --quiet
same_file "$TMP/a/final.gguf" "$TMP/c/final.gguf"
[ "$(wc -l <"$TMP/c/metrics.jsonl")" = 4 ] && ok || bad "resumed metrics.jsonl should have 4 lines"
# bf16 working weights on the cpu: resume exact too; run.json records the
# dtype, a resume keeps it without the flag and refuses another one
BF=(--backend cpu --work-dtype bf16)
expect 0 "$ESFT" train "${COMMON[@]}" "${BF[@]}" --iters 4 --out "$TMP/bf"
expect 0 "$ESFT" train "${COMMON[@]}" "${BF[@]}" --iters 2 --out "$TMP/bfc"
grep -q '"work_dtype":[[:space:]]*"bf16"' "$TMP/bfc/run.json" && ok || bad "run.json lacks work_dtype bf16"
expect 2 "$ESFT" train --resume "$TMP/bfc" --work-dtype f32 --iters 4 --quiet
grep -q "work-dtype f32 differs from the run's bf16" "$TMP/err" && ok || bad "resume with another dtype: $(cat "$TMP/err")"
expect 0 "$ESFT" train --resume "$TMP/bfc" --backend cpu --iters 4 --quiet
same_file "$TMP/bf/final.gguf" "$TMP/bfc/final.gguf"
expect 2 "$ESFT" train "${COMMON[@]}" --work-dtype f8 --iters 1 --out "$TMP/f8"
# antithetic and rank shaping run and differ from the plain run
expect 0 "$ESFT" train "${COMMON[@]}" --iters 2 --antithetic --shaping rank --params 'blk.*' --out "$TMP/d"
# weight decay shrinks the weights: same run with and without it differs
expect 0 "$ESFT" train "${COMMON[@]}" --iters 2 --out "$TMP/p2"
expect 0 "$ESFT" train "${COMMON[@]}" --iters 2 --weight-decay 2 --out "$TMP/wd"
cmp -s "$TMP/p2/final.gguf" "$TMP/wd/final.gguf" && bad "--weight-decay had no effect" || ok
cmp -s "$TMP/p2/final.gguf" "$TMP/d/final.gguf" && bad "--antithetic/--shaping/--params had no effect" || ok
expect 2 "$ESFT" train "${COMMON[@]}" --iters 2 --weight-decay 100 --out "$TMP/wd2"
# optimizers (issue 17): a bad setting is a usage error naming its flag
for bad_opt in "--optimizer rmsprop" "--optimizer adam --beta1 1" "--optimizer adam --beta2 -0.1" \
               "--optimizer adam --eps 0" "--anchor-decay -1"; do
  # shellcheck disable=SC2086
  expect 2 "$ESFT" train "${COMMON[@]}" --iters 1 $bad_opt --out "$TMP/bo"
  flag=$(grep -o -- '--[a-z0-9-]*' <<<"$bad_opt" | tail -1)
  grep -q -- "$flag" "$TMP/err" && ok || bad "'$bad_opt' does not name $flag: $(head -2 "$TMP/err")"
done
# the checkpoint is a model esft generate loads
expect 0 "$ESFT" generate --model "$TMP/a/final.gguf" --prompt "abc" --max-new 4

# eval: KL of a model to itself is 0, of the fine-tuned model to its base > 0
expect 0 "$ESFT" eval --model "$M" --task conciseness --split train --max-new 6 --kl-base "$M" --out "$TMP/ev.jsonl"
grep -q "KL(model || base) = 0.000000 " "$TMP/out" && ok || bad "KL to itself: $(cat "$TMP/out")"
[ "$(wc -l <"$TMP/ev.jsonl")" = 2 ] && grep -q '"response"' "$TMP/ev.jsonl" && ok || bad "eval --out JSONL"
expect 0 "$ESFT" eval --model "$TMP/a/final.gguf" --task conciseness --split train --max-new 6 --kl-base "$M"
kl=$(sed -n 's/.*KL(model || base) = \([0-9.]*\) .*/\1/p' "$TMP/out")
awk -v k="$kl" 'BEGIN { exit !(k > 0) }' && ok || bad "KL of the trained model should be > 0: '$kl'"
expect 0 "$ESFT" plot "$TMP/a/metrics.jsonl" -o "$TMP/a/curve.svg"
grep -q "<svg" "$TMP/a/curve.svg" && ok || bad "plot wrote no SVG"

# bad input: one line, non-zero exit
printf '[{"context": "x", "numbers": [1,2], "target": "3"},' > "$TMP/trunc.json"
printf '[]' > "$TMP/empty.json"
printf '[{"context": "x", "target": "3"}]' > "$TMP/nonumbers.json"
expect 1 "$ESFT" train --model "$M" --task countdown --data "$TMP/trunc.json" --out "$TMP/e" --quiet
expect 1 "$ESFT" train --model "$M" --task countdown --data "$TMP/empty.json" --out "$TMP/e" --quiet
expect 1 "$ESFT" train --model "$M" --task countdown --data "$TMP/nonumbers.json" --out "$TMP/e" --quiet
grep -q "numbers" "$TMP/err" && ok || bad "missing-field error does not name the field"
expect 2 "$ESFT" train --model "$M" --task chess --out "$TMP/e"
expect 2 "$ESFT" train "${COMMON[@]}" --pop 1 --out "$TMP/e"
expect 2 "$ESFT" train "${COMMON[@]}" --pop 5 --antithetic --out "$TMP/e"
expect 2 "$ESFT" train "${COMMON[@]}" --sigma 0 --out "$TMP/e"
expect 2 "$ESFT" train "${COMMON[@]}" --sigma -0.1 --out "$TMP/e"
expect 2 "$ESFT" train "${COMMON[@]}" --shaping softmax --out "$TMP/e"
expect 2 "$ESFT" train "${COMMON[@]}" --params 'nothing.*' --out "$TMP/e"
touch "$TMP/afile"
expect 1 "$ESFT" train "${COMMON[@]}" --out "$TMP/afile/sub"
expect 2 "$ESFT" train --resume "$TMP/c" --model "$TMP/other.gguf" --iters 6 --quiet
grep -q "not the model" "$TMP/err" && ok || bad "resume with another model: $(cat "$TMP/err")"
expect 2 "$ESFT" train --resume "$TMP/c" --pop 6 --iters 6 --quiet
expect 1 "$ESFT" train --resume "$TMP/nowhere" --iters 6 --quiet

finish

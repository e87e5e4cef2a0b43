#!/usr/bin/env bash
# esft train --noise lowrank and esft bench es from the command line, on a
# tiny synthetic model: a run with the options full mode has (antithetic,
# rank shaping, weight decay, --params, eval, samples) works and records
# its mode; the optimizers run in it; bad flags and a resume in the other
# mode are refused in one line; bench es prints its comparison. The numbers themselves are checked by
# test_lowrank (exactness) and cli_mpi (ranks).
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"

"$ESFT" synth --preset tiny --out "$TMP/tiny.gguf" 2>/dev/null || { echo "synth failed"; exit 1; }
LOUD=(--model "$TMP/tiny.gguf" --task conciseness --sigma 0.05 --alpha 0.02 --max-new 6 --seed 5
   --threads 1 --backend cpu --save-dtype f32)
C=("${LOUD[@]}" --quiet)

expect 0 "$ESFT" train "${C[@]}" --pop 6 --iters 2 --noise lowrank --rank 3 --antithetic --shaping rank \
  --weight-decay 0.5 --eval-every 1 --log-samples 2 --out "$TMP/a"
grep -Eq '"noise":\s*"lowrank"' "$TMP/a/run.json" && grep -Eq '"rank":\s*3,' "$TMP/a/run.json" && ok ||
  bad "run.json does not record the mode: $(grep -E 'noise|rank' "$TMP/a/run.json")"
[ "$(wc -l <"$TMP/a/metrics.jsonl")" = 2 ] && ok || bad "want 2 metrics lines"
grep -q '"eval_reward"' "$TMP/a/metrics.jsonl" && ok || bad "no eval in the metrics"
[ "$(wc -l <"$TMP/a/samples.jsonl")" = 4 ] && ok || bad "want 4 sample lines: $(wc -l <"$TMP/a/samples.jsonl")"

# --params picks matrices as in full mode (test_lowrank checks that 1-D
# tensors stay bit-identical)
expect 0 "$ESFT" train "${C[@]}" --pop 4 --iters 1 --noise lowrank --params 'blk.0.attn_q.weight' --out "$TMP/p"
cmp -s "$TMP/tiny.gguf" "$TMP/p/final.gguf" && bad "--params: nothing trained" || ok

# the memory plan lists the factors: 6 members x rank 3 x 4 bytes x the
# rows + columns of every matrix (2 layers: 1696 each, embedding 364) = 0.15M
"$ESFT" train "${LOUD[@]}" --pop 6 --iters 1 --noise lowrank --rank 3 --out "$TMP/m" 2>"$TMP/plan" >/dev/null
grep -q "memory plan .*, scratch .*, factors 0.2M$" "$TMP/plan" && ok || bad "plan: $(grep 'memory plan' "$TMP/plan")"
# members read the base weights: with f32 work there is no working copy
# (the tiny model's master is 0.3M), with bf16 work one of 2 bytes a weight
grep -q "memory plan .*: master 0.3M, work 0.0M," "$TMP/plan" && ok || bad "f32 work copy: $(grep 'memory plan' "$TMP/plan")"
"$ESFT" train "${LOUD[@]}" --pop 2 --iters 1 --noise lowrank --work-dtype bf16 --out "$TMP/m16" 2>"$TMP/plan" >/dev/null
grep -q "memory plan .*: master 0.3M, work 0.2M," "$TMP/plan" && ok || bad "bf16 work copy: $(grep 'memory plan' "$TMP/plan")"

# the optimizers take the low-rank gradient (test_optimizer: bit-identical
# resume; test_backend_ops: the fused op against a double reference)
expect 0 "$ESFT" train "${C[@]}" --pop 4 --iters 2 --noise lowrank --rank 2 --optimizer adam --alpha 1e-3 \
  --out "$TMP/adam"
[ -f "$TMP/adam/optstate-2.gguf" ] && ok || bad "lowrank adam: no optstate-2.gguf"
cmp -s "$TMP/tiny.gguf" "$TMP/adam/final.gguf" && bad "lowrank adam: nothing trained" || ok
expect 0 "$ESFT" train "${C[@]}" --pop 4 --iters 1 --noise lowrank --anchor-decay 10 --out "$TMP/anchor"

# refusals, one line each
expect 2 "$ESFT" train "${C[@]}" --pop 4 --noise sideways --out "$TMP/bad"
expect 2 "$ESFT" train "${C[@]}" --pop 4 --rank 2 --out "$TMP/bad"
expect 2 "$ESFT" train "${C[@]}" --pop 4 --noise lowrank --rank 0 --out "$TMP/bad"
expect 2 "$ESFT" train "${C[@]}" --pop 4 --noise lowrank --params 'output_norm.weight' --out "$TMP/bad"
grep -q "1-D tensor output_norm.weight" "$TMP/err" && ok || bad "1-D refusal: $(cat "$TMP/err")"
# --resume with the other mode
expect 2 "$ESFT" train --resume "$TMP/a" --iters 3 --noise full --threads 1 --backend cpu --quiet
grep -q -- "--noise full differs from the run's lowrank" "$TMP/err" && ok || bad "resume refusal: $(cat "$TMP/err")"
expect 2 "$ESFT" train --resume "$TMP/a" --iters 3 --rank 2 --threads 1 --backend cpu --quiet

# bench es, both modes
expect 0 "$ESFT" bench es --model "$TMP/tiny.gguf" --pop 3 --batch 2 --rank 2 --new 4 --backend cpu --threads 1
grep -q "ES generation (decode)" "$TMP/out" && grep -q "bench decode at the same batch" "$TMP/out" && ok ||
  bad "bench es output: $(cat "$TMP/out")"
expect 0 "$ESFT" bench es --model "$TMP/tiny.gguf" --pop 2 --batch 1 --noise full --new 2 --backend cpu --threads 1
expect 2 "$ESFT" bench es --model "$TMP/tiny.gguf" --noise odd
expect 0 "$ESFT" bench es --help
finish

#!/usr/bin/env bash
# esft export and esft info on a tiny synthetic model (no download, no
# Python): GGUF -> Hugging Face directory (f32) -> esft continues prompts
# exactly as the GGUF; the directory -> GGUF again, the same; a non-empty
# --out is refused without --force; train --save-format hf|both writes
# final-hf/; info describes GGUF files and directories alike. Usage errors
# exit 2, runtime ones 1, each with one line on stderr.
source "$(dirname "$0")/lib_cli.sh"

expect 0 "$ESFT" export --help
expect 0 "$ESFT" info --help
M=$TMP/tiny.gguf
expect 0 "$ESFT" synth --preset tiny --out "$M"
expect 2 "$ESFT" export "$M"
grep -q -- "--out" "$TMP/err" && ok || bad "missing --out not named: $(cat "$TMP/err")"
expect 2 "$ESFT" export "$M" --out "$TMP/x" --format onnx
expect 2 "$ESFT" export "$M" --out "$TMP/x" --dtype q8_0
expect 1 "$ESFT" export "$TMP/missing.gguf" --out "$TMP/x"
grep -q "missing.gguf" "$TMP/err" && ok || bad "missing model not named: $(cat "$TMP/err")"

gen() { expect 0 "$ESFT" generate --model "$1" --prompt "hello world" --max-new 12 --backend cpu && cp "$TMP/out" "$2"; }
gen "$M" "$TMP/gguf.txt"
expect 0 "$ESFT" export "$M" --out "$TMP/hf" --dtype f32
for f in config.json model.safetensors tokenizer.json tokenizer_config.json generation_config.json; do
  [ -s "$TMP/hf/$f" ] && ok || bad "export wrote no $f"
done
gen "$TMP/hf" "$TMP/hf.txt"
cmp -s "$TMP/gguf.txt" "$TMP/hf.txt" && ok || bad "the exported directory continues differently from the GGUF"
expect 0 "$ESFT" export "$TMP/hf" --format gguf --dtype f32 --out "$TMP/back.gguf"
gen "$TMP/back.gguf" "$TMP/back.txt"
cmp -s "$TMP/gguf.txt" "$TMP/back.txt" && ok || bad "GGUF -> HF -> GGUF continues differently"
# the default bf16 export loads too
expect 0 "$ESFT" export "$M" --out "$TMP/hf16"
grep -q '"bfloat16"' "$TMP/hf16/config.json" && ok || bad "bf16 export does not say bfloat16"
expect 0 "$ESFT" generate --model "$TMP/hf16" --prompt hi --max-new 4 --backend cpu

# existing outputs
expect 1 "$ESFT" export "$M" --out "$TMP/hf"
grep -q -- "--force" "$TMP/err" && ok || bad "non-empty --out: $(cat "$TMP/err")"
expect 0 "$ESFT" export "$M" --out "$TMP/hf" --force
expect 1 "$ESFT" export "$TMP/hf" --format gguf --out "$TMP/back.gguf"
expect 1 "$ESFT" export "$M" --out "$M" --force
grep -q "not a directory" "$TMP/err" && ok || bad "file as --out: $(cat "$TMP/err")"
expect 0 "$ESFT" export "$M" --out "$TMP/slash/"
[ -f "$TMP/slash/config.json" ] && ok || bad "--out DIR/ not written as DIR"
ls "$TMP" | grep -q '\.tmp\.\|\.old\.' && bad "temporary directory left behind" || ok

# info: the same facts from the GGUF and the directory
expect 0 "$ESFT" info "$M"
grep -q "architecture:  llama" "$TMP/out" && grep -q "2 layers, width 64" "$TMP/out" && ok || bad "info: $(cat "$TMP/out")"
grep -q "trains:        20 tensors, 80960 parameters" "$TMP/out" && ok || bad "info trains: $(grep trains "$TMP/out")"
expect 0 "$ESFT" info "$TMP/hf" --params 'blk.*.ffn_*' --json
grep -q '"format":	"huggingface"' "$TMP/out" && ok || bad "info --json format: $(head -3 "$TMP/out")"
# ffn_norm (64) + gate, up, down (3 x 96 x 64), two layers
grep -A3 '"trains"' "$TMP/out" | grep -q '"parameters":	36992' && ok || bad "info --params count: $(grep -A3 trains "$TMP/out")"
expect 1 "$ESFT" info "$TMP/missing"

# train --save-format: final-hf/ holds final.gguf's weights
A=(--task conciseness --pop 2 --batch 1 --max-new 4 --iters 1 --seed 5 --backend cpu --quiet --save-dtype f32)
expect 0 "$ESFT" train --model "$M" "${A[@]}" --save-format both --out "$TMP/run"
[ -f "$TMP/run/final.gguf" ] && [ -f "$TMP/run/final-hf/model.safetensors" ] && ok || bad "--save-format both: $(ls "$TMP/run")"
gen "$TMP/run/final.gguf" "$TMP/final.txt"
gen "$TMP/run/final-hf" "$TMP/final-hf.txt"
cmp -s "$TMP/final.txt" "$TMP/final-hf.txt" && ok || bad "final-hf continues differently from final.gguf"
expect 0 "$ESFT" train --model "$M" "${A[@]}" --save-format hf --out "$TMP/run2"
[ ! -e "$TMP/run2/final.gguf" ] && [ -f "$TMP/run2/final-hf/config.json" ] && ok || bad "--save-format hf: $(ls "$TMP/run2")"
grep -q '"save_format":	"hf"' "$TMP/run2/run.json" && ok || bad "run.json lacks save_format"
expect 2 "$ESFT" train --model "$M" "${A[@]}" --save-format onnx --out "$TMP/run3"
finish

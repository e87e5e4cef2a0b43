#!/usr/bin/env bash
# esft with --model DIR, a Hugging Face directory: broken ones are refused
# with exit 1 and one line naming the file; the SmolLM2 directory (when
# scripts/make-hf-test-models.sh made it) continues prompts exactly as the
# GGUF it was made from, and a run started from it resumes (the base is
# recognised by its tensors) while another model is refused.
source "$(dirname "$0")/lib_cli.sh"

D=$TMP/hf; mkdir -p "$D"
expect 1 "$ESFT" generate --model "$D" --prompt hi --backend cpu
grep -q "config.json" "$TMP/err" && ok || bad "missing config.json not named: $(cat "$TMP/err")"
echo '{"model_type": "gemma3", "hidden_size": 8}' >"$D/config.json"
echo '{"model": {"type": "BPE", "vocab": {}, "merges": []}, "pre_tokenizer": null}' >"$D/tokenizer.json"
expect 1 "$ESFT" generate --model "$D" --prompt hi --backend cpu
grep -q "gemma3" "$TMP/err" && ok || bad "unsupported model_type not named: $(cat "$TMP/err")"

CACHE=${ESFT_MODEL_DIR:-$(dirname "$0")/../models/cache}
# same_text GGUF DIR PROMPT...: greedy 16 tokens of each prompt are the same text
same_text() {
  local gguf=$1 dir=$2 prompt
  shift 2
  for prompt in "$@"; do
    expect 0 "$ESFT" generate --model "$gguf" --prompt "$prompt" --max-new 16 --backend cpu
    cp "$TMP/out" "$TMP/gguf.txt"
    expect 0 "$ESFT" generate --model "$dir" --prompt "$prompt" --max-new 16 --backend cpu
    cmp -s "$TMP/out" "$TMP/gguf.txt" && ok || bad "$dir and $gguf continue '$prompt' differently"
  done
}
if [ -f "$CACHE/SmolLM2-135M-Instruct-hf/config.json" ] && [ -f "$CACHE/SmolLM2-135M-Instruct.Q4_1.gguf" ]; then
  same_text "$CACHE/SmolLM2-135M-Instruct.Q4_1.gguf" "$CACHE/SmolLM2-135M-Instruct-hf" \
    "The capital of France is" "def fibonacci(n):"
  # a run from a directory resumes; another model is refused
  A=(--task conciseness --pop 2 --batch 1 --max-new 8 --sigma 0.02 --seed 3 --backend cpu --quiet)
  expect 0 "$ESFT" train --model "$CACHE/SmolLM2-135M-Instruct-hf" "${A[@]}" --iters 1 --out "$TMP/run"
  expect 0 "$ESFT" train --resume "$TMP/run" --iters 2 --quiet
  [ "$(wc -l <"$TMP/run/metrics.jsonl")" = 2 ] && ok || bad "resumed metrics.jsonl should have 2 lines"
  expect 2 "$ESFT" train --resume "$TMP/run" --model "$CACHE/SmolLM2-135M-Instruct.Q4_1.gguf" --iters 3 --quiet
  grep -q "not the model" "$TMP/err" && ok || bad "resume with another model: $(cat "$TMP/err")"
else
  echo "note: SmolLM2-135M-Instruct-hf absent: the comparison with the GGUF is skipped"
fi
# Gemma 3 270M as a directory transformers wrote from the GGUF (f32; its
# tokenizer.json SentencePiece-style BPE with byte fallback): the same text
# as the GGUF, greedy
if [ -f "$CACHE/gemma-3-270m-hf/config.json" ] && [ -f "$CACHE/gemma-3-270m-q4_k_m.gguf" ]; then
  same_text "$CACHE/gemma-3-270m-q4_k_m.gguf" "$CACHE/gemma-3-270m-hf" \
    "The Eiffel Tower is in the city of" "def fibonacci(n):"
else
  echo "note: gemma-3-270m-hf absent: the Gemma comparison with the GGUF is skipped"
fi
finish

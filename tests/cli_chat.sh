#!/usr/bin/env bash
# --chat, --template and --system on generate, eval and train: a model with
# no template or an unknown one is refused in one line naming the fallback
# flag; --template picks a family; a chat run records its template and
# system turn, resumes exactly, and refuses a resume with another template.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"
FALLBACK="--template chatml|llama3|gemma|mistral|none"

expect 0 "$ESFT" synth --preset tiny --out "$TMP/plain.gguf"
expect 0 "$ESFT" synth --preset tiny --out "$TMP/vicuna.gguf" \
  --chat-template "{% for m in messages %}USER: {{ m['content'] }}{% endfor %}ASSISTANT:"
expect 0 "$ESFT" synth --preset tiny --out "$TMP/chatml.gguf" \
  --chat-template "{% for turn in messages %}<|im_start|>{{ turn.role }} {{ turn.content }}<|im_end|>{% endfor %}"

# refusals: one line, exit 2, the fallback flag named
for cmd in "generate --prompt hi --max-new 1" "eval --task conciseness --limit 1 --max-new 1"; do
  expect 2 "$ESFT" $cmd --model "$TMP/vicuna.gguf" --chat || continue
  grep -q "chat template (tokenizer.chat_template) is not one esft knows; name one with $FALLBACK" "$TMP/err" \
    && ok || bad "$cmd, unknown template: $(cat "$TMP/err")"
  expect 2 "$ESFT" $cmd --model "$TMP/plain.gguf" --chat || continue
  grep -q "the model has no chat template (tokenizer.chat_template); name one with $FALLBACK" "$TMP/err" \
    && ok || bad "$cmd, no template: $(cat "$TMP/err")"
  expect 2 "$ESFT" $cmd --model "$TMP/plain.gguf" --chat --template jinja
  grep -q -- "--template jinja: unknown template (use chatml|llama3|gemma|mistral|none)" "$TMP/err" \
    && ok || bad "$cmd --template jinja: $(cat "$TMP/err")"
  expect 2 "$ESFT" $cmd --model "$TMP/plain.gguf" --system "be brief"
  grep -q -- "--template and --system need --chat" "$TMP/err" && ok || bad "$cmd --system alone: $(cat "$TMP/err")"
  # the synthetic vocabulary has ChatML's special tokens, not Llama 3's
  expect 2 "$ESFT" $cmd --model "$TMP/plain.gguf" --chat --template llama3
  grep -q "chat template llama3: the tokenizer has no special token <|start_header_id|>" "$TMP/err" \
    && ok || bad "$cmd --template llama3: $(cat "$TMP/err")"
done

# accepted: the fallback flag, and the model's own ChatML template
expect 0 "$ESFT" generate --model "$TMP/vicuna.gguf" --chat --template chatml --prompt hi --max-new 2
expect 0 "$ESFT" generate --model "$TMP/plain.gguf" --chat --template none --prompt hi --max-new 2
# the prompt's token count shows the template: "hi" is 2 byte tokens; ChatML
# adds <|im_start|> "user\n" <|im_end|> "\n" <|im_start|> "assistant\n" = 1+5+1+1+1+10
# and a system turn <|im_start|> "system\n" "S" <|im_end|> "\n" = 1+7+1+1+1 more
printf '{"prompt": "hi"}\n' >"$TMP/p.jsonl"
tokens() { sed -n 's/.*"prompt_tokens":\([0-9]*\).*/\1/p' "$TMP/out"; }
expect 0 "$ESFT" generate --model "$TMP/chatml.gguf" --prompts "$TMP/p.jsonl" --max-new 1
[ "$(tokens)" = 2 ] && ok || bad "plain prompt tokens: $(cat "$TMP/out")"
expect 0 "$ESFT" generate --model "$TMP/chatml.gguf" --prompts "$TMP/p.jsonl" --max-new 1 --chat
[ "$(tokens)" = 21 ] && ok || bad "chat prompt tokens: $(cat "$TMP/out")"
expect 0 "$ESFT" generate --model "$TMP/chatml.gguf" --prompts "$TMP/p.jsonl" --max-new 1 --chat --system S
[ "$(tokens)" = 32 ] && ok || bad "chat + system prompt tokens: $(cat "$TMP/out")"
expect 0 "$ESFT" eval --model "$TMP/chatml.gguf" --task conciseness --limit 2 --max-new 2 --chat --system S

# train: the run records the template; resume is exact and keeps it
M="$TMP/chatml.gguf"
COMMON=(--model "$M" --task conciseness --pop 4 --sigma 0.05 --alpha 0.02 --max-new 6 --seed 11 --quiet)
expect 0 "$ESFT" train "${COMMON[@]}" --iters 3 --out "$TMP/plain_run"
grep -q '"chat":[[:space:]]*false' "$TMP/plain_run/run.json" && ! grep -q chat_template "$TMP/plain_run/run.json" \
  && ok || bad "conciseness without --chat is not a chat run: $(cat "$TMP/plain_run/run.json")"
expect 0 "$ESFT" train "${COMMON[@]}" --chat --system "Be brief." --iters 3 --out "$TMP/a"
grep -q '"chat_template":[[:space:]]*"chatml"' "$TMP/a/run.json" && grep -q '"system":[[:space:]]*"Be brief."' "$TMP/a/run.json" \
  && ok || bad "run.json lacks the template: $(cat "$TMP/a/run.json")"
cmp -s "$TMP/a/final.gguf" "$TMP/plain_run/final.gguf" && bad "--chat did not change training" || ok
expect 0 "$ESFT" train "${COMMON[@]}" --chat --system "Be brief." --iters 2 --out "$TMP/b"
expect 2 "$ESFT" train --resume "$TMP/b" --iters 3 --template none --quiet
grep -q -- "--template none differs from the run's chatml" "$TMP/err" && ok || bad "resume, other template: $(cat "$TMP/err")"
expect 2 "$ESFT" train --resume "$TMP/b" --iters 3 --system "Be long." --quiet
grep -q -- "--system 'Be long.' differs from the run's 'Be brief.'" "$TMP/err" && ok || bad "resume, other system: $(cat "$TMP/err")"
expect 0 "$ESFT" train --resume "$TMP/b" --iters 3 --quiet
cmp -s "$TMP/a/final.gguf" "$TMP/b/final.gguf" && ok || bad "a resumed chat run differs from a straight one"
expect 2 "$ESFT" train "${COMMON[@]}" --system "x" --iters 1 --out "$TMP/c"
grep -q -- "--template and --system need --chat" "$TMP/err" && ok || bad "train --system alone: $(cat "$TMP/err")"
expect 2 "$ESFT" train "${COMMON[@]}" --model "$TMP/vicuna.gguf" --chat --iters 1 --out "$TMP/d"
grep -q "name one with $FALLBACK" "$TMP/err" && ok || bad "train, unknown template: $(cat "$TMP/err")"
finish

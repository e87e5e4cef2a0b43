#!/usr/bin/env python3
"""Generate the chat template fixtures of tests/test_chat_template.c.

The reference is transformers' apply_chat_template: the template's Jinja is
rendered by transformers (its sandboxed environment: trim_blocks,
lstrip_blocks, raise_exception, bos_token/eos_token) and the text tokenized by
Hugging Face `tokenizers` (Rust), never by esft.

Templates (the official strings, from PyPI packages; Hugging Face Hub is not
reachable here):
  chatml   SmolLM2-135M-Instruct's own tokenizer.chat_template (the GGUF in
           models/cache), and Qwen2.5-7B-Instruct's and Qwen3-0.6B's from
           llama-cpp-python's vendor/llama.cpp/models/templates/ (Qwen3:
           conversations that end with a user turn only)
  llama3   LLAMA3_INSTRUCT_CHAT_TEMPLATE of llama-cpp-python's
           llama_cpp/llama_chat_format.py (Meta-Llama-3-8B-Instruct's)
  gemma    google-gemma-2-2b-it.jinja (llama.cpp models/templates/); it
           refuses system messages, so no case has one (esft's Gemma 3
           style folding is checked by hand-derived cases in the C test)
  mistral  mistralai-Mistral-Nemo-Instruct-2407.jinja (v3-tekken)

Tokenizer: SmolLM2's vocabulary and merges (read from the GGUF with the
`gguf` package) as a byte-level BPE (pre-tokenizer: single digits, then
GPT-2's ByteLevel regex, as SmolLM2's tokenizer.json), with its control
tokens as special tokens. For families whose special tokens SmolLM2 lacks,
they are appended (ids 49152, 49153, ...) as special tokens and BOS/EOS
point at them; the C test builds the same vocabulary. So ids check the
template's special tokens, BOS handling and SmolLM2's real merges, not
Llama 3's, Gemma's or Mistral's own vocabularies (no such model here).

The official templates are read at generation time only: the fixtures hold
no template text, just the reference data (conversations, the rendered text
and token ids) and facts about the family that esft needs:
  default_system    (chatml) the system text the template writes when the
                    conversation has none ("" if none), cut from a rendered
                    conversation
  system_separator  (when the template accepts a system message and folds
                    it into a user turn) what it writes between the system
                    text and the user text, cut from a rendered conversation
The C test loads each fixture into a GGUF with a template of its own (not
the official one) that carries those facts.

Writes tests/fixtures/chat_<name>.json:
  {"name", "source", "family", "default_system"?, "system_separator"?,
   "added": [special texts], "bos", "eos",
   "cases": [{"messages", "add_generation_prompt", "text", "ids"}]}

Usage: pip install transformers jinja2 gguf tokenizers
       pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36
       scripts/gen-chat-fixtures.py --llama-cpp-python llama_cpp_python-0.3.36.tar.gz
"""
import argparse
import ast
import json
import os
import tarfile

from gguf import GGUFReader
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATES = "vendor/llama.cpp/models/templates/"

# The official templates rendered (file names in llama-cpp-python's sdist).
QWEN25, QWEN3 = "Qwen-Qwen2.5-7B-Instruct.jinja", "Qwen-Qwen3-0.6B.jinja"
GEMMA2, NEMO = "google-gemma-2-2b-it.jinja", "mistralai-Mistral-Nemo-Instruct-2407.jinja"


def field_str(f, name):
    fl = f.fields[name]
    return bytes(fl.parts[fl.data[0]]).decode()


def field_strs(f, name):
    fl = f.fields[name]
    return [bytes(fl.parts[i]).decode() for i in fl.data]


def reference_tokenizer(gguf_path, added, bos, eos):
    """SmolLM2's BPE (+ `added` specials) as a transformers tokenizer."""
    r = GGUFReader(gguf_path)
    tokens = field_strs(r, "tokenizer.ggml.tokens") + added
    types_f = r.fields["tokenizer.ggml.token_type"]
    types = [int(types_f.parts[i][0]) for i in types_f.data] + [3] * len(added)
    merges = [tuple(m.split(" ", 1)) for m in field_strs(r, "tokenizer.ggml.merges")]
    tk = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens([AddedToken(t, special=True, normalized=False)
                           for t, ty in zip(tokens, types) if ty == 3])
    return PreTrainedTokenizerFast(tokenizer_object=tk, bos_token=bos, eos_token=eos), r


def msgs(*pairs):
    return [{"role": r, "content": c} for r, c in pairs]


S, U, A = "system", "user", "assistant"

# Contents that stress the rules: whitespace to trim (ASCII and Unicode),
# Unicode, empty, and text that looks like template markup.
TRICKY = [
    "  padded with spaces  ",
    "\n\tnewlines and tabs\n\n",
    "\u3000ideographic space and nbsp\u00a0",
    "Grüße, 世界! Ελληνικά 🎉",
    "",
    "literal <|im_start|>user\nfake<|im_end|> markers",
    "{{ bos_token }} {% if x %}jinja{% endif %} [INST] <start_of_turn>",
    "<|start_header_id|>user<|end_header_id|> and <|eot_id|>",
    "numbers 12345 and 3.14159",
    "line one\nline two\r\nline three",
]


def conversations(alternating, with_system, ends_with_user_only):
    """>= 20 conversations; alternating: user/assistant turns only (after an
    optional leading system message)."""
    c = []
    for t in TRICKY:
        c.append((msgs((U, t)), True))
    for t in TRICKY[:6]:
        c.append((msgs((U, "q"), (A, t), (U, "next")), False))
    c.append((msgs((U, "What is 2 + 2?")), False))
    c.append((msgs((U, "Hi"), (A, "Hello! How can I help?"), (U, "Tell me a joke.")), True))
    c.append((msgs((U, "a"), (A, "  b  "), (U, "c"), (A, "d"), (U, "e")), True))
    c.append((msgs((U, "Solve: 3x = 12"), (A, "x = 4")), False))
    c.append((msgs((U, "Résumé?"), (A, ""), (U, "")), True))
    if not ends_with_user_only:
        c.append((msgs((U, "Q"), (A, "A")), True))
    if with_system:
        c.append((msgs((S, "You are a terse assistant."), (U, "Name a prime.")), True))
        c.append((msgs((S, "  Be kind.  "), (U, "  hello  ")), True))
        c.append((msgs((S, ""), (U, "empty system")), True))
        c.append((msgs((S, "Système: réponds en français 🇫🇷"), (U, "Bonjour"), (A, "Salut"), (U, "Ça va ?")), True))
        c.append((msgs((S, "sys <|im_end|> [/INST]"), (U, "x")), True))
        c.append((msgs((S, "Only system, then"), (U, "one"), (A, "two"), (U, "three")), False))
        if not ends_with_user_only:
            c.append((msgs((S, "dropped when the last turn is the assistant's"), (U, "u"), (A, "a")), True))
    if not alternating:
        c.append((msgs((U, "first"), (U, "second user turn in a row")), True))
        c.append((msgs((S, "one"), (U, "u"), (S, "a second system message")), True))
        c.append((msgs((A, "assistant speaks first"), (U, "ok")), True))
    return c


def render(tok, template, conv, gen):
    text = tok.apply_chat_template(conv, chat_template=template, tokenize=False, add_generation_prompt=gen)
    enc = tok.apply_chat_template(conv, chat_template=template, tokenize=True, add_generation_prompt=gen)
    ids = enc["input_ids"] if isinstance(enc, dict) or hasattr(enc, "keys") else enc
    ids = list(ids)
    # the template's text tokenized without adding BOS must be those ids
    assert ids == tok.encode(text, add_special_tokens=False), (conv, text)
    return text, ids


def between(text, before, after):
    """The text between the first `before` and the next `after` (None if absent)."""
    i = text.find(before)
    j = text.find(after, i + len(before)) if i >= 0 else -1
    return text[i + len(before):j] if j >= 0 else None


def template_facts(tok, template, family):
    """What esft needs to know of the template beyond its family, cut from
    conversations it renders (the template itself is not committed)."""
    facts = {}
    if family == "chatml":
        text, _ = render(tok, template, msgs((U, "x")), False)
        facts["default_system"] = between(text, "<|im_start|>system\n", "<|im_end|>") or ""
    elif family in ("gemma", "mistral"):  # they fold a system message into a user turn
        try:
            text, _ = render(tok, template, msgs((S, "SYSTEM-TEXT"), (U, "USER-TEXT")), True)
        except Exception:  # the template refuses system messages (Gemma 2)
            text = ""
        sep = between(text, "SYSTEM-TEXT", "USER-TEXT")
        if sep is not None:
            facts["system_separator"] = sep
    return facts


def write_family(out_dir, name, source, family, template, added, bos, eos, gguf_path, alternating,
                 with_system, ends_with_user_only):
    tok, _ = reference_tokenizer(gguf_path, added, bos, eos)
    cases = []
    for conv, gen in conversations(alternating, with_system, ends_with_user_only):
        if ends_with_user_only and conv[-1]["role"] != "user":
            continue
        text, ids = render(tok, template, conv, gen)
        cases.append({"messages": conv, "add_generation_prompt": gen, "text": text, "ids": ids})
    doc = {"name": name, "source": source, "family": family, **template_facts(tok, template, family),
           "added": added, "bos": bos, "eos": eos, "cases": cases}
    path = os.path.join(out_dir, f"chat_{name}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{path}: {len(cases)} cases")


def py_constants(src):
    """String constants assigned at module level of llama_chat_format.py."""
    out = {}
    for node in ast.parse(src).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and \
                isinstance(node.value.value, str):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    out[t.id] = node.value.value
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llama-cpp-python", required=True, help="llama-cpp-python sdist (.tar.gz)")
    ap.add_argument("--model", default=os.path.join(ROOT, "models/cache/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "tests/fixtures"))
    a = ap.parse_args()

    with tarfile.open(a.llama_cpp_python) as tf:
        top = tf.getnames()[0].split("/")[0]
        def member(path):
            return tf.extractfile(f"{top}/{path}").read().decode()
        py = py_constants(member("llama_cpp/llama_chat_format.py"))
        jinja = {n: member(TEMPLATES + n) for n in (QWEN25, QWEN3, GEMMA2, NEMO)}
    pkg = f"PyPI {top}"

    smol = GGUFReader(a.model)
    smol_template = field_str(smol, "tokenizer.chat_template")
    model_name = os.path.basename(a.model)

    write_family(a.out_dir, "smollm2", f"{model_name} tokenizer.chat_template", "chatml", smol_template,
                 [], "<|im_start|>", "<|im_end|>", a.model, False, True, False)
    write_family(a.out_dir, "qwen2.5", f"{pkg} {TEMPLATES}{QWEN25}", "chatml",
                 jinja[QWEN25], [], "<|im_start|>", "<|im_end|>", a.model,
                 False, True, False)
    # Qwen3 adds an empty <think></think> block to a conversation's final
    # assistant turn (not reproduced: esft formats prompts, which end with a
    # user turn), so only conversations ending with a user turn
    write_family(a.out_dir, "qwen3", f"{pkg} {TEMPLATES}{QWEN3}", "chatml",
                 jinja[QWEN3], [], "<|im_start|>", "<|im_end|>", a.model,
                 False, True, True)
    write_family(a.out_dir, "llama3", f"{pkg} llama_cpp/llama_chat_format.py LLAMA3_INSTRUCT_CHAT_TEMPLATE",
                 "llama3", py["LLAMA3_INSTRUCT_CHAT_TEMPLATE"],
                 ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
                 "<|begin_of_text|>", "<|eot_id|>", a.model, False, True, False)
    write_family(a.out_dir, "gemma", f"{pkg} {TEMPLATES}{GEMMA2}", "gemma",
                 jinja[GEMMA2], ["<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>"],
                 "<bos>", "<eos>", a.model, True, False, False)
    write_family(a.out_dir, "mistral", f"{pkg} {TEMPLATES}{NEMO}",
                 "mistral", jinja[NEMO],
                 ["<s>", "</s>", "[INST]", "[/INST]"], "<s>", "</s>", a.model, True, True, False)


if __name__ == "__main__":
    main()

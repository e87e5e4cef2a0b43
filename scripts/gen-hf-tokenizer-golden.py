#!/usr/bin/env python3
"""Tokenizer fixtures for Hugging Face directories, from the tokenizers library.

For each Hugging Face model directory given (made by scripts/gguf-to-hf.py,
e.g. models/cache/SmolLM2-135M-Instruct-hf), tokenizes every case of
tests/data/tokenizer_corpus.txt with the directory's tokenizer.json through
the `tokenizers` library (encode(text, add_special_tokens=False): added and
special tokens in the text are matched, as esft's parse_special) and writes
tests/fixtures/tokenizer_<name>.txt in the format tests/test_tokenizer.c
reads: a '#' header (model = the directory's name, pre = the pre-tokenizer
esft must recognise) then one line of ids per case. The ids never come from
esft.

Usage (needs tokenizers):
  scripts/gen-hf-tokenizer-golden.py NAME=DIR:PRE [NAME=DIR:PRE ...]
e.g.
  scripts/gen-hf-tokenizer-golden.py \\
      smollm2hf=models/cache/SmolLM2-135M-Instruct-hf:smollm \\
      smollm2hf_qwen2=models/cache/SmolLM2-135M-Instruct-hf-qwen2:qwen2 \\
      smollm2hf_llama-bpe=models/cache/SmolLM2-135M-Instruct-hf-llama-bpe:llama-bpe
"""
import os
import sys

import tokenizers
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenizer_corpus import read_corpus  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "tests", "data", "tokenizer_corpus.txt")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cases = read_corpus(CORPUS)
    for arg in sys.argv[1:]:
        name, rest = arg.split("=", 1)
        directory, pre = rest.rsplit(":", 1)
        tk = Tokenizer.from_file(os.path.join(directory, "tokenizer.json"))
        path = os.path.join(ROOT, "tests", "fixtures", f"tokenizer_{name}.txt")
        with open(path, "w") as f:
            for k, v in [("model", os.path.basename(os.path.normpath(directory))), ("pre", pre),
                         ("parse_special", 1), ("reference", f"tokenizers {tokenizers.__version__}"),
                         ("corpus", "data/tokenizer_corpus.txt")]:
                f.write(f"# {k}: {v}\n")
            for text in cases:
                f.write(" ".join(str(i) for i in tk.encode(text, add_special_tokens=False).ids) + "\n")
        print(f"wrote {path} ({len(cases)} lines)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Generate tokenizer golden fixtures with llama.cpp (via llama-cpp-python).

The ids in tests/fixtures/tokenizer_*.txt come from llama.cpp's own
tokenizer, never from esft, so tests/test_tokenizer.c compares esft against an
independent reference.

For every case of tests/data/tokenizer_corpus.txt (one case per line, see
unescape() in tokenizer_corpus.py for the escapes) this script writes one line of space-separated
token ids, tokenized with add_special=False and parse_special=True (or False
for the *_nospecial fixture).

To cover pre-tokenizers other than the model's own without downloading other
models, it also writes temporary vocab-only GGUF copies of the model's
metadata (no tensors) with tokenizer.ggml.pre replaced, and tokenizes the
corpus with each. The temporary files are deleted; the C test reproduces them
by loading the real model with a pre-tokenizer override
(esft_tokenizer_from_gguf_ex). Names llama.cpp groups with a covered
pre-tokenizer are checked to give llama.cpp the same ids and listed in
tokenizer_<name>_aliases.txt (the script fails if one does not).

Everything is done twice: with the model's vocabulary (tokenizer_<name>_*)
and with the "augmented-v1" vocabulary (tokenizer_<name>aug_*, see
augment_v1), which adds multi-digit, whole-word, user-defined and nested
special tokens so that the pre-tokenizers and special-token rules give
different ids (with SmolLM2's own vocabulary qwen2, llama-bpe and dbrx
coincide on every case).

It also writes tokenizer_<name>_meta.txt: vocabulary size, BOS/EOS/EOT ids,
the end-of-generation set (llama_vocab_is_eog) and an FNV-1a 64-bit hash of
every token's piece (llama_token_to_piece with special=True).

Usage (needs llama-cpp-python and gguf, e.g. /opt/refenv/bin/python):
  scripts/gen-tokenizer-golden.py [--model PATH] [--name smollm2]
                                  [--pre gpt-2,qwen2,...] [--no-augmented]
                                  [--out-dir DIR]
Another model, e.g. Qwen2.5-Coder (pre qwen2):
  scripts/gen-tokenizer-golden.py --name qwen25coder --no-augmented --pre '' \
      --model models/cache/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
The C test runs every fixture whose model file is present (models/cache or
$ESFT_MODEL_DIR) and skips the others.
"""

import argparse
import ctypes
import os
import sys
import tempfile

import gguf
import llama_cpp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenizer_corpus import read_corpus  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = os.path.join(ROOT, "models", "cache", "SmolLM2-135M-Instruct.Q4_1.gguf")
CORPUS = os.path.join(ROOT, "tests", "data", "tokenizer_corpus.txt")
# Pre-tokenizers esft implements (models/tokenizer.c), by llama.cpp name:
# representative -> other names llama.cpp groups with it. Each representative
# gets a fixture made from a copy of the model's vocabulary with
# tokenizer.ggml.pre replaced; each other name is checked to give llama.cpp
# the same ids on the whole corpus and listed in tokenizer_<name>_aliases.txt.
PRE_GROUPS = {
    "gpt-2": ["phi-2", "jina-es", "jina-de", "mpt", "olmo", "jais"],
    "smollm": ["starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b"],
    "qwen2": ["deepseek-r1-qwen", "stablelm2"],
    "llama-bpe": ["llama3", "llama-v3", "falcon3", "pixtral"],
    "dbrx": ["smaug-bpe"],
    "default": [],
    "falcon": [],
}


_log_cb = None


def quiet_llama():
    global _log_cb

    @llama_cpp.llama_log_callback
    def cb(level, text, user):  # noqa: ARG001
        pass

    _log_cb = cb
    llama_cpp.llama_log_set(_log_cb, ctypes.c_void_p(0))


class Vocab:
    def __init__(self, path):
        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        self.model = llama_cpp.llama_model_load_from_file(path.encode(), params)
        if not self.model:
            raise RuntimeError(f"llama.cpp could not load {path}")
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)

    def close(self):
        llama_cpp.llama_model_free(self.model)

    def tokenize(self, text, parse_special):
        b = text.encode("utf-8")
        cap = len(b) + 16
        buf = (llama_cpp.llama_token * cap)()
        n = llama_cpp.llama_tokenize(self.vocab, b, len(b), buf, cap, False, parse_special)
        if n < 0:
            raise RuntimeError("token buffer too small")
        return list(buf[:n])

    def piece(self, tok):
        buf = ctypes.create_string_buffer(256)
        n = llama_cpp.llama_token_to_piece(self.vocab, tok, buf, 256, 0, True)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(self.vocab, tok, buf, -n, 0, True)
        return buf.raw[:n]

    def detokenize(self, ids):
        arr = (llama_cpp.llama_token * max(1, len(ids)))(*ids)
        cap = 64 + 64 * len(ids)
        buf = ctypes.create_string_buffer(cap)
        n = llama_cpp.llama_detokenize(self.vocab, arr, len(ids), buf, cap, False, True)
        if n < 0:
            raise RuntimeError("detokenize buffer too small")
        return buf.raw[:n]


def field_value(field):
    """(value, type, sub_type) of a GGUFReader field, ready for GGUFWriter."""
    vt = field.types[0]
    if vt == gguf.GGUFValueType.ARRAY:
        sub = field.types[-1]
        if sub == gguf.GGUFValueType.STRING:
            return [bytes(field.parts[i]) for i in field.data], vt, sub
        return [field.parts[i].tolist()[0] for i in field.data], vt, sub
    if vt == gguf.GGUFValueType.STRING:
        return bytes(field.parts[field.data[0]]), vt, None
    return field.parts[field.data[0]].tolist()[0], vt, None


def augment_v1(tokens, types, merges):
    """The "augmented-v1" vocabulary: the model's, plus tokens that make the
    pre-tokenizers and special-token rules tell apart on the corpus (SmolLM2's
    own vocabulary has single digits only, no user-defined tokens and no
    nested special tokens). tests/test_tokenizer.c builds the same file.
      - "00".."99" with merges "a b", then "000".."999" with merges "ab c"
        (so \\p{N}{1,3} differs from \\p{N} and \\p{N}+);
      - "Supercalifragilisticexpialidocious" without merges (found whole only
        by pre-tokenizers that ignore merges, llama3's);
      - user-defined "<think>", "</think>"; control "<|tool|>", "<|tool|>call"
        (one special token inside another)."""
    d = [f"{a}{b}" for a in range(10) for b in range(10)]
    t = [f"{a}{b}{c}" for a in range(10) for b in range(10) for c in range(10)]
    extra = ["Supercalifragilisticexpialidocious", "<think>", "</think>", "<|tool|>", "<|tool|>call"]
    tokens = tokens + [x.encode() for x in d + t + extra]
    types = types + [1] * (len(d) + len(t)) + [1, 4, 4, 3, 3]
    merges = merges + [f"{x[0]} {x[1]}".encode() for x in d] + [f"{x[:2]} {x[2]}".encode() for x in t]
    return tokens, types, merges


VOCABS = {"": None, "augmented-v1": augment_v1}


def write_vocab(src, dst, pre, vocab):
    """Vocab-only GGUF (no tensors) with every key of src; pre and the
    vocabulary variant applied."""
    r = gguf.GGUFReader(src)
    arch = bytes(r.fields["general.architecture"].parts[r.fields["general.architecture"].data[0]])
    w = gguf.GGUFWriter(dst, arch.decode())
    arrays = {}
    for key in ("tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges"):
        arrays[key] = field_value(r.fields[key])
    if VOCABS[vocab]:
        tk, ty, mg = VOCABS[vocab](arrays["tokenizer.ggml.tokens"][0], arrays["tokenizer.ggml.token_type"][0],
                                   arrays["tokenizer.ggml.merges"][0])
        arrays["tokenizer.ggml.tokens"] = (tk,) + arrays["tokenizer.ggml.tokens"][1:]
        arrays["tokenizer.ggml.token_type"] = (ty,) + arrays["tokenizer.ggml.token_type"][1:]
        arrays["tokenizer.ggml.merges"] = (mg,) + arrays["tokenizer.ggml.merges"][1:]
    for key, field in r.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        if key == "tokenizer.ggml.pre":
            w.add_key_value(key, pre, gguf.GGUFValueType.STRING)
            continue
        val, vt, sub = arrays[key] if key in arrays else field_value(field)
        w.add_key_value(key, val, vt, sub)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def fnv1a64(data, h=0xCBF29CE484222325):
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def write_fixture(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for k, v in header:
            f.write(f"# {k}: {v}\n")
        for ids in rows:
            f.write(" ".join(str(i) for i in ids) + "\n")
    print(f"wrote {path} ({len(rows)} lines)")


def header(model_file, vocab, pre, special):
    h = [("model", model_file)]
    if vocab:
        h.append(("vocab", vocab))
    h += [("pre", pre), ("parse_special", int(special)),
          ("reference", f"llama-cpp-python {llama_cpp.__version__}"),
          ("corpus", "data/tokenizer_corpus.txt")]
    return h


def write_meta(path, v, model_file, vocab):
    n_vocab = llama_cpp.llama_vocab_n_tokens(v.vocab)
    h = 0xCBF29CE484222325
    for t in range(n_vocab):
        p = v.piece(t)
        h = fnv1a64(len(p).to_bytes(4, "little") + p, h)
    eog = [t for t in range(n_vocab) if llama_cpp.llama_vocab_is_eog(v.vocab, t)]
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(f"# model: {model_file}\n")
        if vocab:
            f.write(f"# vocab: {vocab}\n")
        f.write(f"# reference: llama-cpp-python {llama_cpp.__version__}\n")
        f.write(f"n_vocab {n_vocab}\n")
        f.write(f"bos {llama_cpp.llama_vocab_bos(v.vocab)}\n")
        f.write(f"eos {llama_cpp.llama_vocab_eos(v.vocab)}\n")
        f.write(f"eot {llama_cpp.llama_vocab_eot(v.vocab)}\n")
        f.write(f"add_bos {int(llama_cpp.llama_vocab_get_add_bos(v.vocab))}\n")
        f.write("eog " + " ".join(str(t) for t in eog) + "\n")
        f.write(f"pieces_fnv1a64 {h:016x}\n")
    print(f"wrote {path}")


def suite(args, cases, vocab, stem, tmp):
    """Fixtures for one vocabulary variant. Returns False on an alias mismatch."""
    model_file = os.path.basename(args.model)
    own_pre = gguf.GGUFReader(args.model).fields["tokenizer.ggml.pre"]
    own_pre = bytes(own_pre.parts[own_pre.data[0]]).decode()
    out = lambda suffix: os.path.join(args.out_dir, f"tokenizer_{stem}{suffix}.txt")  # noqa: E731

    def load(pre):
        if pre == own_pre and not vocab:
            return Vocab(args.model)
        path = os.path.join(tmp, f"vocab-{pre}.gguf")
        write_vocab(args.model, path, pre, vocab)
        v = Vocab(path)
        os.unlink(path)
        return v

    results = {}
    v = load(own_pre)
    try:
        for special in (True, False):
            rows = [v.tokenize(c, special) for c in cases]
            if special:
                results[own_pre] = rows
            for c, ids in zip(cases, rows):
                if v.detokenize(ids) != c.encode("utf-8"):
                    print(f"note: llama.cpp does not round-trip {c!r}", file=sys.stderr)
            write_fixture(out("" if special else "_nospecial"), header(model_file, vocab, own_pre, special), rows)
        write_meta(out("_meta"), v, model_file, vocab)
    finally:
        v.close()

    aliases = []
    ok = True
    for rep, names in PRE_GROUPS.items():
        if rep not in args.pre.split(","):
            continue
        for pre in [rep] + names:
            if pre not in results:
                ov = load(pre)
                try:
                    results[pre] = [ov.tokenize(c, True) for c in cases]
                finally:
                    ov.close()
            if pre == rep:
                if pre != own_pre:
                    write_fixture(out(f"_{pre}"), header(model_file, vocab, pre, True), results[pre])
            elif results[pre] == results[rep]:
                aliases.append((pre, rep))
            else:
                print(f"MISMATCH: llama.cpp gives different ids for pre {pre!r} and {rep!r}", file=sys.stderr)
                ok = False
    with open(out("_aliases"), "w", encoding="utf-8", newline="\n") as f:
        f.write(f"# model: {model_file}\n")
        if vocab:
            f.write(f"# vocab: {vocab}\n")
        f.write(f"# reference: llama-cpp-python {llama_cpp.__version__}\n")
        f.write("# <pre name> <pre whose fixture llama.cpp reproduces exactly with it>\n")
        for pre, rep in aliases:
            f.write(f"{pre} {rep}\n")
    print(f"wrote {out('_aliases')} ({len(aliases)} aliases)")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--name", default="smollm2", help="fixture name stem")
    ap.add_argument("--pre", default=",".join(PRE_GROUPS),
                    help="comma-separated representative pre-tokenizers to cover ('' for none)")
    ap.add_argument("--no-augmented", action="store_true",
                    help="skip the augmented-v1 vocabulary fixtures (tokenizer_<name>aug_*)")
    ap.add_argument("--corpus", default=CORPUS)
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "tests", "fixtures"))
    args = ap.parse_args()

    quiet_llama()
    cases = read_corpus(args.corpus)
    os.makedirs(args.out_dir, exist_ok=True)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        ok &= suite(args, cases, "", args.name, tmp)
        if not args.no_augmented:
            ok &= suite(args, cases, "augmented-v1", args.name + "aug", tmp)
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()

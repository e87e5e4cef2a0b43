#!/usr/bin/env python3
"""Do llama.cpp and esft read esft's saved models the same way?

Loads each final.gguf (any --save-dtype: f32, bf16, f16, q8_0) with llama.cpp
through llama-cpp-python, decodes a few prompts greedily, and compares the
continuations with `esft generate` on the same file and prompts.

    scripts/check-final-llamacpp.py RUN_DIR|FILE.gguf ... [--esft build/esft]
        [--max-new 32] [--threads 2] [--prompts FILE.jsonl] [--f32 FILE.gguf]

A RUN_DIR means RUN_DIR/final.gguf. Prints, per file, its type and size,
how many prompts tokenize to the same number of tokens, how many greedy
continuations are identical, and per prompt how many of llama.cpp's tokens
agree with esft's text before the first difference. Exits 1 when an f32
file does not agree on every prompt (both read the same f32 numbers, so any
difference is a bug, short of a near-tie between two logits that a different
summation order breaks the other way); for bf16/f16/q8_0 both read the same
stored weights, but llama.cpp also rounds the activations to that type (or to
q8_0) before each product while esft keeps them in f32, so some greedy paths
part: it reports, and does not fail.

With --f32 FILE (the f32 final.gguf, or a checkpoint.gguf, of the same run),
it also has llama.cpp's own quantizer (llama_model_quantize) convert that
file to the type of each bf16/f16/q8_0 file given, and checks that every
tensor has the same type and bytes as esft's file (fails otherwise): esft
then writes exactly what llama.cpp would have produced itself.

A reference check run by hand, not in CI. Needs:
    python3 -m venv /tmp/llvenv && /tmp/llvenv/bin/pip install llama-cpp-python numpy gguf
(llama-cpp-python compiles llama.cpp: about 10 minutes on 2 cores).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

FILE_TYPES = {0: "f32", 1: "f16", 7: "q8_0", 32: "bf16"}  # llama.h enum llama_ftype

DEFAULT_PROMPTS = [
    "The capital of France is",
    "Solve: 3 + 5 =",
    "Once upon a time, in a small village,",
    "def fibonacci(n):",
    "The three primary colors are",
    "List three fruits:",
    "<|im_start|>user\nWhat is the boiling point of water?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nWrite a haiku about the sea.<|im_end|>\n<|im_start|>assistant\n",
]


def model_files(paths):
    out = []
    for p in paths:
        f = os.path.join(p, "final.gguf") if os.path.isdir(p) else p
        if not os.path.isfile(f):
            sys.exit(f"check-final-llamacpp: {f}: no such file")
        out.append(f)
    return out


def esft_responses(esft, model, prompts, max_new, threads):
    """esft generate's greedy continuations: [(text bytes, prompt tokens)]."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for p in prompts:
            f.write(json.dumps({"prompt": p}) + "\n")
        path = f.name
    try:
        r = subprocess.run([esft, "generate", "--model", model, "--prompts", path, "--max-new", str(max_new),
                            "--backend", "cpu", "--threads", str(threads)],
                           capture_output=True, text=True, check=False)
    finally:
        os.unlink(path)
    if r.returncode != 0:
        sys.exit(f"check-final-llamacpp: esft generate --model {model}: {r.stderr.strip()}")
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    rows.sort(key=lambda o: o["index"])
    return [(o["response"].encode("utf-8"), o["prompt_tokens"]) for o in rows]


def llama_greedy(llm, llama_cpp, prompt, max_new):
    """llama.cpp's greedy continuation: (generated token ids, prompt tokens)."""
    ids = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
    vocab = llama_cpp.llama_model_get_vocab(llm.model) if hasattr(llama_cpp, "llama_model_get_vocab") else None
    out = []
    for tok in llm.generate(ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0, reset=True):
        eog = llama_cpp.llama_vocab_is_eog(vocab, tok) if vocab is not None else tok == llm.token_eos()
        if eog or len(out) == max_new:
            break
        out.append(tok)
    return out, len(ids)


def agreeing_tokens(llm, tokens, esft_text):
    """How many leading llama.cpp tokens spell a prefix of esft's text."""
    k = 0
    while k < len(tokens) and esft_text.startswith(llm.detokenize(tokens[:k + 1])):
        k += 1
    return k


def same_as_quantizer(llama_cpp, f32_path, model, ftype_id):
    """Tensors of `model` vs llama.cpp's quantization of f32_path to the same
    type: (identical, different)."""
    import ctypes
    import numpy as np
    from gguf import GGUFReader
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "quantized.gguf")
        p = llama_cpp.llama_model_quantize_default_params()
        p.ftype = ftype_id
        if llama_cpp.llama_model_quantize(f32_path.encode(), out.encode(), ctypes.byref(p)) != 0:
            sys.exit(f"check-final-llamacpp: llama.cpp could not quantize {f32_path}")
        theirs = {t.name: t for t in GGUFReader(out).tensors}
        same = diff = 0
        for t in GGUFReader(model).tensors:
            u = theirs.get(t.name)
            ok = u is not None and u.tensor_type == t.tensor_type and \
                np.array_equal(np.asarray(t.data).view(np.uint8), np.asarray(u.data).view(np.uint8))
            same, diff = same + ok, diff + (not ok)
        return same, diff


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", help="run directories (their final.gguf) or GGUF files")
    ap.add_argument("--esft", default=os.path.join(os.path.dirname(__file__), "..", "build", "esft"))
    ap.add_argument("--max-new", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompts", help='JSONL of {"prompt": ...} (default: a built-in set of 8)')
    ap.add_argument("--f32", help="the run's f32 model: compare with llama.cpp's quantizer (needs gguf)")
    a = ap.parse_args()
    try:
        import llama_cpp
    except ImportError:
        sys.exit("check-final-llamacpp: needs llama-cpp-python (pip install llama-cpp-python numpy)")
    prompts = DEFAULT_PROMPTS
    if a.prompts:
        with open(a.prompts) as f:
            prompts = [json.loads(line)["prompt"] for line in f if line.strip()]
    failed = False
    for model in model_files(a.paths):
        llm = llama_cpp.Llama(model_path=model, n_ctx=512, n_threads=a.threads, n_batch=512, verbose=False)
        ftype = FILE_TYPES.get(int(llm.metadata.get("general.file_type", -1)), "?")
        ours = esft_responses(a.esft, model, prompts, a.max_new, a.threads)
        same_text = same_prompt = 0
        lines = []
        for prompt, (text, n_prompt) in zip(prompts, ours):
            tokens, n_ids = llama_greedy(llm, llama_cpp, prompt, a.max_new)
            theirs = llm.detokenize(tokens)
            agree = agreeing_tokens(llm, tokens, text)
            same_text += theirs == text
            same_prompt += n_ids == n_prompt
            lines.append(f"    {agree:3d}/{len(tokens):<3d} tokens agree{'' if theirs == text else ' (differs)'}"
                         f"  {prompt[:40]!r}")
            if theirs != text:
                lines.append(f"        llama.cpp: {theirs[:100]!r}\n        esft:      {text[:100]!r}")
        size = os.path.getsize(model) / 1e6
        print(f"{model}: {ftype}, {size:.1f} MB: prompts tokenized alike {same_prompt}/{len(prompts)}, "
              f"greedy continuations identical {same_text}/{len(prompts)}")
        print("\n".join(lines))
        if ftype == "f32" and (same_text != len(prompts) or same_prompt != len(prompts)):
            failed = True
        ftype_id = int(llm.metadata.get("general.file_type", 0))
        if a.f32 and ftype_id != 0:
            same, diff = same_as_quantizer(llama_cpp, a.f32, model, ftype_id)
            print(f"    llama.cpp's quantizer on {a.f32}: {same} tensors byte-identical, {diff} differ")
            failed = failed or diff > 0
        del llm
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

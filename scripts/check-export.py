#!/usr/bin/env python3
"""Do transformers and llama.cpp run esft's exported models as esft does?

    scripts/check-export.py [--esft build/esft] [--model FILE.gguf] [--max-new 24]
        [--threads 2] [--work DIR] [--keep]

With the default model (SmolLM2-135M-Instruct Q4_1 in the model cache):
  1. GGUF -> HF: `esft export MODEL --format hf --dtype f32` and bf16.
  2. GGUF -> HF -> esft: `esft generate --model DIR` continues every prompt
     with the same text as on the GGUF (identical greedy tokens), and the
     prompts tokenize to as many tokens.
  3. transformers: AutoTokenizer gives esft's number of prompt tokens, and
     AutoModelForCausalLM.from_pretrained(DIR) decodes greedily to esft's
     continuation (f32: must be identical; bf16: loads, agreement reported).
  4. HF -> GGUF -> llama.cpp: `esft export DIR --format gguf --dtype f32`,
     loaded by llama-cpp-python, continues every prompt as esft does.

Exits 0 when every f32 comparison agrees, 1 otherwise, 77 (skip) when torch
or transformers is missing or the model is absent (without llama-cpp-python
step 4 is skipped with a note).
Runs on the CPU: about a minute on two cores.
"""
import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

PROMPTS = [
    "The capital of France is",
    "Solve: 3 + 5 =",
    "Once upon a time, in a small village,",
    "def fibonacci(n):",
    "List three fruits: 1.",
    "<|im_start|>user\nWhat is the boiling point of water?<|im_end|>\n<|im_start|>assistant\n",
]


def skip(msg):
    print(f"skip: {msg}")
    sys.exit(77)


def esft_run(esft, *args):
    r = subprocess.run([esft, *args], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        sys.exit(f"check-export: esft {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def esft_responses(esft, model, max_new, threads):
    """[(continuation text, prompt token count)] of esft generate's greedy decoding."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for p in PROMPTS:
            f.write(json.dumps({"prompt": p}) + "\n")
        path = f.name
    try:
        out = esft_run(esft, "generate", "--model", model, "--prompts", path, "--max-new", str(max_new),
                       "--backend", "cpu", "--threads", str(threads))
    finally:
        os.unlink(path)
    rows = sorted((json.loads(line) for line in out.splitlines() if line.strip()), key=lambda o: o["index"])
    return [(o["response"], o["prompt_tokens"]) for o in rows]


def transformers_responses(hf_dir, max_new, torch, transformers):
    """[(continuation text, prompt token count)] of transformers' greedy decoding."""
    tok = transformers.AutoTokenizer.from_pretrained(hf_dir)
    key = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
    model = transformers.AutoModelForCausalLM.from_pretrained(hf_dir, **{key: torch.float32})
    model.eval()
    stop = model.generation_config.eos_token_id
    stop = set(stop if isinstance(stop, list) else [stop])
    out = []
    for p in PROMPTS:
        ids = tok(p, return_tensors="pt").input_ids
        with torch.no_grad():
            gen = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new, do_sample=False,
                                 pad_token_id=min(stop))
        new = gen[0, ids.shape[1]:].tolist()
        while new and new[-1] in stop:  # esft does not print the token it stops at
            new.pop()
        out.append((tok.decode(new, skip_special_tokens=False, clean_up_tokenization_spaces=False), ids.shape[1]))
    return out


def llama_cpp_responses(gguf, max_new, threads, llama_cpp):
    spec = importlib.util.spec_from_file_location("cfl", os.path.join(HERE, "check-final-llamacpp.py"))
    cfl = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cfl)
    llm = llama_cpp.Llama(model_path=gguf, n_ctx=512, n_threads=threads, n_batch=512, verbose=False)
    out = []
    for p in PROMPTS:
        tokens, n_ids = cfl.llama_greedy(llm, llama_cpp, p, max_new)
        out.append((llm.detokenize(tokens).decode("utf-8", errors="replace"), n_ids))
    del llm
    return out


def compare(name, ours, theirs, must):
    same_text = sum(a[0] == b[0] for a, b in zip(ours, theirs))
    same_len = sum(a[1] == b[1] for a, b in zip(ours, theirs))
    ok = same_text == len(ours) and same_len == len(ours)
    print(f"{name}: prompts tokenized alike {same_len}/{len(ours)}, greedy continuations identical "
          f"{same_text}/{len(ours)}{'' if ok else ' (must agree)' if must else ' (reported)'}")
    for p, a, b in zip(PROMPTS, ours, theirs):
        if a != b:
            print(f"    {p[:40]!r}\n        esft:  {a[0][:90]!r} ({a[1]} prompt tokens)\n"
                  f"        other: {b[0][:90]!r} ({b[1]} prompt tokens)")
    return ok or not must


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--esft", default=os.path.join(HERE, "..", "build", "esft"))
    cache = os.environ.get("ESFT_MODEL_DIR", os.path.join(HERE, "..", "models", "cache"))
    ap.add_argument("--model", default=os.path.join(cache, "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--max-new", type=int, default=24)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", help="directory for the exported models (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the exported models")
    a = ap.parse_args()
    if not os.path.exists(a.model):
        skip(f"{a.model} absent")
    try:
        import torch
        import transformers
    except ImportError as e:
        skip(f"needs torch and transformers ({e})")
    try:
        import llama_cpp
    except ImportError:
        llama_cpp = None
    torch.set_num_threads(a.threads)
    work = a.work or tempfile.mkdtemp(prefix="esft-check-export.")
    os.makedirs(work, exist_ok=True)
    ok = True
    try:
        hf32, hf16, back = (os.path.join(work, n) for n in ("hf-f32", "hf-bf16", "back-f32.gguf"))
        esft_run(a.esft, "export", a.model, "--format", "hf", "--dtype", "f32", "--out", hf32, "--force")
        esft_run(a.esft, "export", a.model, "--format", "hf", "--out", hf16, "--force")
        esft_run(a.esft, "export", hf32, "--format", "gguf", "--dtype", "f32", "--out", back, "--force")
        ours = esft_responses(a.esft, a.model, a.max_new, a.threads)
        ok &= compare("GGUF -> HF f32 -> esft", ours, esft_responses(a.esft, hf32, a.max_new, a.threads), True)
        ok &= compare("GGUF -> HF f32 -> transformers", ours,
                      transformers_responses(hf32, a.max_new, torch, transformers), True)
        ours16 = esft_responses(a.esft, hf16, a.max_new, a.threads)
        compare("GGUF -> HF bf16: esft vs transformers", ours16,
                transformers_responses(hf16, a.max_new, torch, transformers), False)
        if llama_cpp:
            ok &= compare("GGUF -> HF f32 -> GGUF f32 -> llama.cpp", ours,
                          llama_cpp_responses(back, a.max_new, a.threads, llama_cpp), True)
        else:
            print("GGUF -> HF f32 -> GGUF f32 -> llama.cpp: skipped (no llama-cpp-python)")
    finally:
        if not a.keep and not a.work:
            shutil.rmtree(work, ignore_errors=True)
    print("check-export:", "agree" if ok else "DISAGREE")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Generate independent reference outputs for the esft forward pass.

Run with the reference venv:

    /opt/refenv/bin/python scripts/gen-reference.py [--model PATH] [--out DIR] [--name NAME]

Works for the GGUF architectures transformers dequantises (llama, qwen2): the
default is SmolLM2-135M-Instruct (the committed fixtures); tests/model_parity.sh
runs it on other models (e.g. Qwen2.5-Coder-0.5B) into a temporary directory.

Needs: gguf, numpy, torch, transformers (+ accelerate, for GGUF loading),
llama-cpp-python.

What it does
------------
* Tokenizes a fixed list of prompts with llama.cpp (add_bos=True, which
  prepends BOS only when the GGUF's tokenizer.ggml.add_bos_token asks, as
  esft does; SmolLM2 and Qwen2.5 do not, Gemma 3 does;
  special=True: "<|im_start|>" etc. become their special ids).  Those ids are
  THE input ids of every reference below; no BOS is prepended (the GGUF says
  tokenizer.ggml.add_bos_token = false).
* Reference 1 (the one to test against): transformers + torch in float32.
  transformers dequantises the GGUF with gguf-py and un-permutes q/k back to
  the HF layout.  The script checks that the loaded weights are float32, that
  lm_head is tied to embed_tokens exactly when the GGUF has no output.weight,
  and that a few of them equal an
  independent gguf-py dequantisation bit for bit.
  For each prompt: last-position logits of one forward over the prompt ids
  (full vocab, float32), and a greedy 32-token continuation (manual argmax
  with the KV cache, EOS not special-cased: all 32 tokens are stored, and the
  first EOS position, if any, is recorded).
* Reference 2 (informational): llama.cpp, greedy first 8 tokens per prompt
  (manual argmax over llama.cpp's logits, no sampler, so no repetition
  penalty), and llama.cpp's last-position logits for prompt 0.

Outputs (in --out, default tests/fixtures/; NAME from --name, default smollm2):
  NAME_reference.json   prompts, ids, continuations, metadata
  NAME_logits.f32       raw little-endian float32 [n_prompts][n_vocab]
"""

import argparse
import hashlib
import json
import os
import platform
import sys
import time

import numpy as np

T0 = time.time()

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = os.path.join(REPO, "models", "cache", "SmolLM2-135M-Instruct.Q4_1.gguf")
DEFAULT_OUT = os.path.join(REPO, "tests", "fixtures")

N_GREEDY_HF = 32
N_GREEDY_LLAMACPP = 8

SYS = ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, "
       "trained by Hugging Face<|im_end|>\n")
COUNTDOWN = ("Using the numbers [19, 36, 55, 7], create an equation that equals 65. "
             "You can use basic arithmetic operations (+, -, *, /) and each number "
             "can only be used once. Show your work in <think> </think> tags. And "
             "return the final answer in <answer> </answer> tags, for example "
             "<answer> (1 + 2) / 3 </answer>.")

# (name, text).  Order is the order of the rows in NAME_logits.f32.
PROMPTS = [
    ("capital_france", "The capital of France is"),
    ("story_village", "Once upon a time, in a small village nestled between the mountains,"),
    ("code_fibonacci", "def fibonacci(n):"),
    ("math_multiply", "Question: What is 17 multiplied by 23?\nAnswer:"),
    ("countdown_raw", COUNTDOWN),
    ("chat_2plus2", "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"),
    ("chat_system_haiku", SYS + "<|im_start|>user\nWrite a haiku about the ocean.<|im_end|>\n"
                                "<|im_start|>assistant\n"),
    ("chat_countdown_think", SYS + "<|im_start|>user\n" + COUNTDOWN + "<|im_end|>\n"
                                   "<|im_start|>assistant\nLet me solve this step by step.\n<think>"),
    ("french", "La tour Eiffel est située à"),
    ("german", "Der schnellste Weg von München nach Berlin ist"),
    ("spanish", "El agua hierve a una temperatura de"),
    ("chinese", "中国的首都是"),
    ("russian", "Москва — столица"),
    ("code_c_main", "#include <stdio.h>\n\nint main(void) {\n"),
    ("json_object", '{"name": "Alice", "age": 30, "city": '),
    ("counting", "1, 2, 3, 4, 5, 6,"),
    ("pangram_repeat", "The quick brown fox jumps over the lazy dog. The quick brown fox"),
    ("science_photosynthesis", "Photosynthesis is the process by which"),
    ("history_moon", "In 1969, Neil Armstrong became the first person to"),
    ("single_token", "Hello"),
    ("emoji", "I love pizza \U0001F355 because"),
    ("math_solve_x", "Solve for x: 2x + 3 = 11.\nStep 1:"),
    ("code_sql", "SELECT name, email FROM users WHERE"),
    ("code_indent", "    for i in range(10):\n        print("),
    ("long_paragraph",
     "The Industrial Revolution, which began in Great Britain in the late 18th century, "
     "marked a major turning point in human history. Almost every aspect of daily life was "
     "influenced in some way. In particular, average income and population began to exhibit "
     "unprecedented sustained growth. Some economists have said the most important effect of "
     "the Industrial Revolution was that the standard of living for the general population "
     "in the western world began to increase consistently for the first time in history. "
     "The textile industry was the first to use modern production methods, and"),
]


def log(*a):
    print(f"[{time.time() - T0:7.1f}s]", *a, flush=True)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def gguf_meta(path):
    import gguf
    r = gguf.GGUFReader(path)

    def scalar(key):
        f = r.fields.get(key)
        if f is None:
            return None
        if f.types[0] == gguf.GGUFValueType.STRING:
            return bytes(f.parts[f.data[0]]).decode()
        return f.parts[f.data[0]].tolist()[0]

    arch = scalar("general.architecture")
    keys = ["general.architecture", "general.name", "general.file_type"]
    keys += [f"{arch}.{k}" for k in (
        "block_count", "context_length", "embedding_length", "feed_forward_length",
        "attention.head_count", "attention.head_count_kv", "rope.freq_base",
        "rope.dimension_count", "attention.layer_norm_rms_epsilon", "vocab_size")]
    keys += ["tokenizer.ggml.model", "tokenizer.ggml.pre",
            "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_space_prefix",
            "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
            "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id"]
    meta = {k: scalar(k) for k in keys}
    meta["has_output_weight"] = any(t.name == "output.weight" for t in r.tensors)
    meta["n_tensors"] = len(r.tensors)
    # qwen2 GGUFs carry no vocab_size key: the token list is the vocabulary
    meta["n_vocab"] = meta[f"{arch}.vocab_size"] or len(r.fields["tokenizer.ggml.tokens"].data)
    return r, meta


def check_weights_against_gguf(reader, model, n_head, n_head_kv, n_layer, permuted, norm_offset=0.0):
    """Compare a few HF parameters with an independent gguf-py dequantisation.

    GGUF llama q/k are stored row-permuted (convert_hf_to_gguf's permute):
    within each head, GGUF row (2*i + j) = HF row (j*half + i), i < half =
    head_dim/2, j in {0, 1}; i.e. GGUF interleaves the two HF halves, which is
    why llama.cpp rotates adjacent pairs (NORM rope) on it.  Undo that
    here and require exact equality, proving both the dequantisation and the
    un-permute that transformers applied.  Architectures whose GGUF keeps the
    HF row order (qwen2: NEOX rope) pass permuted=False.  Gemma's GGUF norm
    weights are stored as 1 + w (llama.cpp's converter adds the 1 that
    Gemma's RMSNorm applies): norm_offset=1 subtracts it again."""
    import gguf
    import torch
    tensors = {t.name: t for t in reader.tensors}

    def deq(name):
        t = tensors[name]
        return gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)

    def unpermute(w, nh):
        rows, cols = w.shape
        hd = rows // nh
        return w.reshape(nh, hd // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)

    sd = model.state_dict()
    last = n_layer - 1
    q_perm, k_perm = (n_head, n_head_kv) if permuted else (None, None)
    checks = [
        ("token_embd.weight", "model.embed_tokens.weight", None),
        ("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight", q_perm),
        ("blk.0.attn_k.weight", "model.layers.0.self_attn.k_proj.weight", k_perm),
        ("blk.0.attn_v.weight", "model.layers.0.self_attn.v_proj.weight", None),
        ("blk.0.ffn_down.weight", "model.layers.0.mlp.down_proj.weight", None),
        (f"blk.{last}.attn_q.weight", f"model.layers.{last}.self_attn.q_proj.weight", q_perm),
        (f"blk.{last}.attn_norm.weight", f"model.layers.{last}.input_layernorm.weight", None),
        ("output_norm.weight", "model.norm.weight", None),
    ]
    if "output.weight" in tensors:
        checks.append(("output.weight", "lm_head.weight", None))
    out = {}
    for gname, hname, perm in checks:
        w = deq(gname)
        if perm is not None:
            w = unpermute(w, perm)
        if "norm" in gname:
            w = w - np.float32(norm_offset)
        h = sd[hname].detach().cpu().numpy()
        assert h.dtype == np.float32, (hname, h.dtype)
        assert w.shape == h.shape, (gname, w.shape, h.shape)
        d = float(np.max(np.abs(w - h)))
        out[hname] = d
        assert d == 0.0, f"{hname} differs from gguf-py dequant of {gname}: {d}"
    return out


def write_f32_copy(src, dst):
    """The same model with every tensor dequantised to f32 by gguf-py, so that
    llama.cpp computes in f32 too (no 8-bit activations in its matmuls)."""
    import gguf
    r = gguf.GGUFReader(src)
    w = gguf.GGUFWriter(dst, arch=r.fields["general.architecture"].contents())
    for name, f in r.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        vt = f.types[0]
        val = 0 if name == "general.file_type" else f.contents()
        if vt == gguf.GGUFValueType.ARRAY:
            w.add_key_value(name, val, vt, sub_type=f.types[-1])
        else:
            w.add_key_value(name, val, vt)
    for t in r.tensors:
        data = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        w.add_tensor(t.name, data.reshape([int(d) for d in reversed(t.shape)]),
                     raw_dtype=gguf.GGMLQuantizationType.F32)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def llamacpp_greedy(model_path, ids_list, n_new, threads, f32_cache):
    """Greedy tokens by manual argmax (no sampler, no repetition penalty)."""
    import llama_cpp
    kw = dict(type_k=0, type_v=0, flash_attn=False) if f32_cache else {}
    llm = llama_cpp.Llama(model_path=model_path, n_ctx=512, n_batch=512, n_threads=threads,
                          logits_all=False, verbose=False, **kw)
    n_vocab = llm.n_vocab()
    out, logits0 = [], None
    for i, ids in enumerate(ids_list):
        llm.reset()
        llm.eval(ids)
        toks = []
        for step in range(n_new):
            row = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1),
                                        shape=(n_vocab,)).astype(np.float32)
            if i == 0 and step == 0:
                logits0 = row.copy()
            toks.append(int(np.argmax(row)))
            if step < n_new - 1:
                llm.eval([toks[-1]])
        out.append(toks)
    return out, logits0


def add_llamacpp_f32(doc, model_path, threads, logits_all=None):
    """Adds llamacpp_f32_greedy8 per prompt: llama.cpp on an f32 copy of the
    same dequantised weights, with an f32 KV cache."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        f32_path = os.path.join(tmp, "model-f32.gguf")
        write_f32_copy(model_path, f32_path)
        ids_list = [p["input_ids"] for p in doc["prompts"]]
        greedy, logits0 = llamacpp_greedy(f32_path, ids_list, N_GREEDY_LLAMACPP, threads, True)
    agree = 0
    for p, toks in zip(doc["prompts"], greedy):
        p["llamacpp_f32_greedy8"] = toks
        agree += p["hf_greedy32"][:N_GREEDY_LLAMACPP] == toks
    info = {"impl": ("llama-cpp-python on an f32 GGUF written by gguf-py from the same "
                     "dequantised weights; KV cache f32 (type_k = type_v = 0), no flash "
                     "attention; greedy by manual argmax"),
            "hf_vs_llamacpp_f32_greedy8_full_agreement": agree}
    if logits_all is not None:
        info["prompt0_max_abs_diff_vs_hf"] = float(np.abs(logits_all[0] - logits0).max())
    doc["llamacpp_f32_reference"] = info
    log("llama.cpp f32: greedy-8 agrees with HF on", agree, "/", len(greedy), "prompts")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--name", default="smollm2",
                    help="output file prefix: NAME_reference.json, NAME_logits.f32")
    ap.add_argument("--only-llamacpp-f32", action="store_true",
                    help="only (re)compute the llama.cpp f32 reference in the existing JSON")
    args = ap.parse_args()
    if args.only_llamacpp_f32:
        json_path = os.path.join(args.out, f"{args.name}_reference.json")
        with open(json_path, encoding="utf-8") as f:
            doc = json.load(f)
        logits = np.fromfile(os.path.join(args.out, f"{args.name}_logits.f32"), dtype="<f4")
        add_llamacpp_f32(doc, os.path.abspath(args.model), args.threads,
                         logits.reshape(len(doc["prompts"]), -1))
        with open(json_path, "w", encoding="utf-8") as f:
            f.write(to_json(doc))
            f.write("\n")
        return

    import gguf
    import llama_cpp
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(args.threads)
    model_path = os.path.abspath(args.model)
    model_dir, model_file = os.path.split(model_path)

    reader, meta = gguf_meta(model_path)
    n_vocab = meta["n_vocab"]
    eos_id = meta["tokenizer.ggml.eos_token_id"]
    add_bos = meta["tokenizer.ggml.add_bos_token"]
    log("gguf metadata:", json.dumps(meta))

    # ---- tokenization (llama.cpp) -------------------------------------
    llm = llama_cpp.Llama(model_path=model_path, n_ctx=512, n_batch=512,
                          n_threads=args.threads, logits_all=False, verbose=False)
    assert llm.n_vocab() == n_vocab
    ids_list = [llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
                for _, text in PROMPTS]
    for (name, _), ids in zip(PROMPTS, ids_list):
        assert 0 < len(ids) <= 256, (name, len(ids))
    log("tokenized", len(ids_list), "prompts; lengths", [len(x) for x in ids_list])

    def detok(ids):
        return llm.detokenize(ids, special=True).decode("utf-8", errors="replace")

    # Informational: the tokenizer transformers builds from the GGUF.
    hf_tok_agree = None
    try:
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(model_dir, gguf_file=model_file)
        bos = [meta["tokenizer.ggml.bos_token_id"]] if add_bos else []
        hf_tok_agree = [bos + tok.encode(text, add_special_tokens=False) == ids
                        for (_, text), ids in zip(PROMPTS, ids_list)]
        log("HF-from-GGUF tokenizer agrees with llama.cpp on",
            sum(hf_tok_agree), "/", len(PROMPTS), "prompts")
    except Exception as e:  # noqa: BLE001
        log("HF tokenizer comparison skipped:", repr(e))

    # ---- transformers float32 reference ---------------------------------
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, gguf_file=model_file, dtype=torch.float32,
        attn_implementation="eager")
    model.eval()
    dtypes = {str(p.dtype) for p in model.parameters()}
    assert dtypes == {"torch.float32"}, dtypes
    tied = (model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr())
    assert tied == (not meta["has_output_weight"]) == bool(model.config.tie_word_embeddings)
    cfg = model.config
    log("HF model loaded:", type(model).__name__, "params",
        sum(p.numel() for p in model.parameters()), "dtype", dtypes, "tied", tied)
    weight_check = check_weights_against_gguf(
        reader, model, cfg.num_attention_heads, cfg.num_key_value_heads,
        cfg.num_hidden_layers, meta["general.architecture"] == "llama",
        1.0 if meta["general.architecture"] == "gemma3" else 0.0)
    log("HF weights == gguf-py dequant (+q/k un-permute):", weight_check)

    logits_all = np.zeros((len(PROMPTS), n_vocab), dtype=np.float32)
    hf_greedy, hf_margins, hf_first_eos = [], [], []
    with torch.no_grad():
        for i, ids in enumerate(ids_list):
            x = torch.tensor([ids], dtype=torch.long)
            out = model(input_ids=x, use_cache=True)
            last = out.logits[0, -1].float()
            logits_all[i] = last.numpy()
            # Greedy continuation with the KV cache, starting from this forward.
            past = out.past_key_values
            toks, margins = [], []
            cur = last
            for step in range(N_GREEDY_HF):
                top2 = torch.topk(cur, 2)
                t = int(torch.argmax(cur))  # first index among ties
                toks.append(t)
                margins.append(float(top2.values[0] - top2.values[1]))
                if step == N_GREEDY_HF - 1:
                    break
                o = model(input_ids=torch.tensor([[t]]), past_key_values=past, use_cache=True)
                past = o.past_key_values
                cur = o.logits[0, -1].float()
            hf_greedy.append(toks)
            hf_margins.append(margins)
            hf_first_eos.append(toks.index(eos_id) if eos_id in toks else None)
    log("HF reference done")

    # Consistency check: greedy via full recompute (no KV cache) for prompt 0.
    with torch.no_grad():
        seq = list(ids_list[0])
        for _ in range(N_GREEDY_HF):
            seq.append(int(torch.argmax(model(torch.tensor([seq])).logits[0, -1])))
    nocache_agrees = seq[len(ids_list[0]):] == hf_greedy[0]
    log("HF greedy prompt 0: KV-cache vs full recompute agree:", nocache_agrees)

    # ---- llama.cpp reference -------------------------------------------
    lc_greedy, lc_logits0 = [], None
    for i, ids in enumerate(ids_list):
        llm.reset()
        llm.eval(ids)
        toks = []
        for step in range(N_GREEDY_LLAMACPP):
            # logits_all=False: llama-cpp-python no longer copies logits into
            # llm.scores, so read the last row straight from the context.
            row = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1),
                                        shape=(n_vocab,)).astype(np.float32)
            if i == 0 and step == 0:
                lc_logits0 = row.copy()
            t = int(np.argmax(row))
            toks.append(t)
            if step < N_GREEDY_LLAMACPP - 1:
                llm.eval([t])
        lc_greedy.append(toks)
    log("llama.cpp reference done")

    # ---- summary ----------------------------------------------------------
    per_prompt = []
    n_agree8 = 0
    for i, (name, text) in enumerate(PROMPTS):
        hf8 = hf_greedy[i][:N_GREEDY_LLAMACPP]
        lc8 = lc_greedy[i]
        common = next((k for k in range(N_GREEDY_LLAMACPP) if hf8[k] != lc8[k]),
                      N_GREEDY_LLAMACPP)
        n_agree8 += common == N_GREEDY_LLAMACPP
        lg = logits_all[i]
        top = np.argsort(-lg, kind="stable")[:5]
        per_prompt.append({
            "index": i,
            "name": name,
            "text": text,
            "n_input_ids": len(ids_list[i]),
            "input_ids": ids_list[i],
            "hf_logits_top5": [[int(t), round(float(lg[t]), 5)] for t in top],
            "hf_logits_stats": {"min": float(lg.min()), "max": float(lg.max()),
                                "mean": float(lg.mean()), "std": float(lg.std())},
            "hf_greedy32": hf_greedy[i],
            "hf_greedy32_text": detok(hf_greedy[i]),
            "hf_greedy32_first_eos": hf_first_eos[i],
            "hf_greedy32_top1_top2_margin": [round(m, 5) for m in hf_margins[i]],
            "llamacpp_greedy8": lc8,
            "llamacpp_greedy8_text": detok(lc8),
            "hf_llamacpp_greedy8_common_prefix": common,
            "hf_tokenizer_agrees": None if hf_tok_agree is None else hf_tok_agree[i],
        })

    d0 = np.abs(logits_all[0] - lc_logits0)
    lc0_info = {
        "max_abs_diff_vs_hf": float(d0.max()),
        "mean_abs_diff_vs_hf": float(d0.mean()),
        "argmax": int(np.argmax(lc_logits0)),
        "top5": [[int(t), round(float(lc_logits0[t]), 5)]
                 for t in np.argsort(-lc_logits0, kind="stable")[:5]],
    }

    os.makedirs(args.out, exist_ok=True)
    logits_path = os.path.join(args.out, f"{args.name}_logits.f32")
    logits_all.astype("<f4").tofile(logits_path)

    doc = {
        "description": (f"Independent reference outputs for the {meta['general.name']} "
                        "GGUF, generated by scripts/gen-reference.py."),
        "model_file": model_file,
        "model_sha256": sha256(model_path),
        "input_ids_note": ("Token ids from llama.cpp tokenize(text, add_bos=True, special=True): "
                           "BOS first exactly when the GGUF's add_bos_token is true. "
                           "These ids are the inputs of every reference here."),
        "hf_reference": {
            "impl": "transformers AutoModelForCausalLM.from_pretrained(gguf_file=...)",
            "dtype": "float32 (weights dequantised from GGUF by gguf-py; activations f32)",
            "attn_implementation": "eager",
            "logits": ("last-position logits of one forward over input_ids (position 0 is "
                       "the first input id, no BOS)"),
            "greedy": (f"{N_GREEDY_HF} tokens by argmax (first index among ties), using "
                       "the KV cache after the prompt forward; EOS is not special-cased "
                       "(hf_greedy32_first_eos gives its first index or null); no "
                       "repetition penalty. hf_greedy32_top1_top2_margin[k] = logit gap "
                       "between best and second-best token at step k: small gaps mark "
                       "steps where a correct implementation may legitimately diverge."),
            "weights_equal_gguf_py_dequant_max_abs_diff": weight_check,
            "greedy_kv_cache_matches_full_recompute_prompt0": nocache_agrees,
        },
        "llamacpp_reference": {
            "impl": "llama-cpp-python Llama(n_ctx=512).eval(ids); argmax of llama_get_logits_ith(-1); "
                    "no sampler, no repetition penalty",
            "note": ("llama.cpp computes quantised matmuls with activations quantised to "
                     "8 bits, so its logits differ from the f32 reference; informational."),
            "greedy_n": N_GREEDY_LLAMACPP,
            "prompt0_last_logits": lc0_info,
        },
        "logits_file": {
            "name": f"{args.name}_logits.f32",
            "layout": (f"raw little-endian float32, row-major [{len(PROMPTS)}][{n_vocab}]: "
                       "row i = hf_reference last-position logits of prompts[i]"),
            "n_prompts": len(PROMPTS),
            "n_vocab": n_vocab,
            "bytes": os.path.getsize(logits_path),
            "sha256": sha256(logits_path),
        },
        "gguf_metadata": meta,
        "summary": {
            "n_prompts": len(PROMPTS),
            "hf_vs_llamacpp_greedy8_full_agreement": n_agree8,
            "prompt0_logits_max_abs_diff_hf_vs_llamacpp": lc0_info["max_abs_diff_vs_hf"],
            "hf_tokenizer_agrees_with_llamacpp": (None if hf_tok_agree is None
                                                  else sum(hf_tok_agree)),
        },
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "gguf": getattr(gguf, "__version__", None) or _pkg_version("gguf"),
            "llama_cpp_python": llama_cpp.__version__,
            "torch_threads": torch.get_num_threads(),
        },
        "prompts": per_prompt,
    }
    add_llamacpp_f32(doc, model_path, args.threads, logits_all)
    json_path = os.path.join(args.out, f"{args.name}_reference.json")
    with open(json_path, "w", encoding="utf-8") as f:
        f.write(to_json(doc))
        f.write("\n")

    # ---- printed summary --------------------------------------------------
    print()
    print(f"{'#':>2} {'name':24} {'len':>4} {'agree8':>6} {'eos@':>4} {'minmargin8':>10}  hf greedy text")
    for p in per_prompt:
        mm = min(p["hf_greedy32_top1_top2_margin"][:N_GREEDY_LLAMACPP])
        print(f"{p['index']:>2} {p['name']:24} {p['n_input_ids']:>4} "
              f"{p['hf_llamacpp_greedy8_common_prefix']:>4}/8 "
              f"{str(p['hf_greedy32_first_eos']):>4} {mm:>10.4f}  "
              f"{p['hf_greedy32_text'][:60]!r}")
    print()
    print(f"HF vs llama.cpp greedy-8 fully agree on {n_agree8}/{len(PROMPTS)} prompts")
    print(f"prompt 0 last-position logits: max|HF - llama.cpp| = {lc0_info['max_abs_diff_vs_hf']:.5f}"
          f", mean = {lc0_info['mean_abs_diff_vs_hf']:.5f}")
    print(f"wrote {json_path} ({os.path.getsize(json_path)} bytes)")
    print(f"wrote {logits_path} ({os.path.getsize(logits_path)} bytes)")
    log("total time")


def to_json(obj, indent=0):
    """json with one key per line, but lists of scalars (and lists of short
    scalar pairs) kept on one line, so the file stays readable."""
    pad, pad1 = " " * indent, " " * (indent + 1)

    def flat(v):
        return not isinstance(v, (dict, list)) or (
            isinstance(v, list) and all(not isinstance(e, (dict, list)) for e in v))

    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{pad1}{json.dumps(k, ensure_ascii=False)}: {to_json(v, indent + 1)}"
                 for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list):
        if all(flat(e) for e in obj):
            return json.dumps(obj, ensure_ascii=False)
        items = [pad1 + to_json(e, indent + 1) for e in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(obj, ensure_ascii=False)


def _pkg_version(name):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:  # noqa: BLE001
        return None


if __name__ == "__main__":
    sys.exit(main())

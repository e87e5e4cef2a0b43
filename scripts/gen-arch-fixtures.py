#!/usr/bin/env python3
"""Random-weight Qwen3 / Llama 3 / Gemma 3 models and their transformers
outputs: the fixtures of tests/test_arch.c.

Run with an environment that has torch, transformers (>= 5), gguf, numpy:

    /tmp/peer-venv/bin/python scripts/gen-arch-fixtures.py [--out tests/fixtures/arch]

For each architecture it builds a small model with
AutoModelForCausalLM.from_config (seeded weights, scaled so that greedy
choices have clear margins), rounds the weights to f16, and writes
  NAME-hf/     config.json, model.safetensors (f16), tokenizer.json,
               tokenizer_config.json, as save_pretrained writes them
  NAME.gguf    the same weights under llama.cpp's names, shapes and
               conventions (llama q/k rows permuted per head, Gemma norms
               stored as 1 + w, Llama 3 frequency factors as rope_freqs.weight),
               matrices f16, vectors f32
  NAME.json    prompts (token ids), last-position logits of each prompt and a
               32-token greedy continuation, computed by transformers in f32.
The tokenizer is a tiny byte-level BPE (256 byte tokens and a few merges):
the test is about the forward pass, which sees token ids only.
"""

import argparse
import json
import math
import os

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM

import gguf

VOCAB = 320
N_GREEDY = 32
PROMPTS = [
    [5, 17, 200, 33, 91, 42, 7],
    [100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111],
    [250, 3, 77, 77, 77, 19, 300, 12, 5, 64, 128, 255, 1, 2, 90, 91, 92, 93, 9],
]


def byte_chars():
    """GPT-2's printable stand-in character of each byte."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return [out[b] for b in range(256)]


def tiny_vocab():
    """256 byte tokens, merges of a few letter pairs, unnamed ids padded."""
    chars = byte_chars()
    tokens = list(chars)
    merges = []
    for a, b in ["th", "he", "in", "er", "an", "re", "on", "at", "en", "nd"]:
        merges.append((a, b))
        tokens.append(a + b)
    return tokens, merges


def write_tokenizer(dirname, tokens, merges):
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
            "vocab": {t: i for i, t in enumerate(tokens)},
            "merges": [[a, b] for a, b in merges],
        },
    }
    with open(os.path.join(dirname, "tokenizer.json"), "w") as f:
        json.dump(tok, f, ensure_ascii=False)
    with open(os.path.join(dirname, "tokenizer_config.json"), "w") as f:
        json.dump({"add_bos_token": False, "model_max_length": 256}, f)


def configs():
    common = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-6,
                  bos_token_id=1, eos_token_id=2, pad_token_id=None)
    qwen3 = transformers.Qwen3Config(num_hidden_layers=2, head_dim=32, tie_word_embeddings=True,
                                     rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                                     **common)
    llama3 = transformers.LlamaConfig(num_hidden_layers=2, head_dim=16, tie_word_embeddings=False,
                                      rope_parameters={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                       "high_freq_factor": 4.0,
                                                       "original_max_position_embeddings": 64,
                                                       "rope_theta": 500000.0},
                                      **common)
    # llama.cpp's Gemma 3: every 6th layer global, the others sliding
    gemma3 = transformers.Gemma3TextConfig(num_hidden_layers=6, head_dim=16, tie_word_embeddings=True,
                                           sliding_window=4, query_pre_attn_scalar=24,
                                           hidden_activation="gelu_pytorch_tanh",
                                           final_logit_softcapping=None, attn_logit_softcapping=None,
                                           rope_parameters={
                                               "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                                               "full_attention": {"rope_type": "default", "rope_theta": 1000000.0}},
                                           **common)
    assert gemma3.layer_types == ["sliding_attention"] * 5 + ["full_attention"], gemma3.layer_types
    return {"qwen3": qwen3, "llama3": llama3, "gemma3": gemma3}


def randomise(model, name, gen):
    """Weights large enough that logits have clear argmax margins; norms
    near their identity (Gemma's w near 0, the others' near 1)."""
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if p.dim() == 1:
                base = 0.0 if name == "gemma3" else 1.0
                p.copy_(base + 0.2 * torch.randn(p.shape, generator=gen))
            elif "lm_head" in pname:
                p.copy_(torch.randn(p.shape, generator=gen) * (4.0 / math.sqrt(p.shape[1])))
            elif "embed" in pname:
                p.copy_(torch.randn(p.shape, generator=gen) * (0.3 if name == "gemma3" else 1.0))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * (1.2 / math.sqrt(p.shape[1])))
            p.copy_(p.half().float())  # what the f16 files hold


def reference(model):
    out = []
    with torch.no_grad():
        for ids in PROMPTS:
            logits = model(torch.tensor([ids])).logits[0, -1].float()
            seq = list(ids)
            greedy, margins = [], []
            for _ in range(N_GREEDY):
                lg = model(torch.tensor([seq])).logits[0, -1].float()
                top = torch.topk(lg, 2).values
                margins.append(float(top[0] - top[1]))
                t = int(torch.argmax(lg))
                greedy.append(t)
                seq.append(t)
            out.append({"input_ids": ids, "logits": [float(x) for x in logits], "greedy": greedy,
                        "min_margin": min(margins)})
    return out


def permute_rows(w, n_heads):
    """llama.cpp's GGUF row order for llama q/k: per head, the first and
    second halves of the rotary pairs interleaved."""
    rows, cols = w.shape
    return w.reshape(n_heads, 2, rows // n_heads // 2, cols).swapaxes(1, 2).reshape(rows, cols)


def llama3_freq_factors(cfg):
    rp = cfg.rope_parameters
    base, hd = rp["rope_theta"], cfg.head_dim
    factor, lo, hi = rp["factor"], rp["low_freq_factor"], rp["high_freq_factor"]
    old = rp["original_max_position_embeddings"]
    out = []
    for i in range(0, hd, 2):
        wavelen = 2 * math.pi * base ** (i / hd)
        if wavelen < old / hi:
            out.append(1.0)
        elif wavelen > old / lo:
            out.append(factor)
        else:
            smooth = (old / wavelen - lo) / (hi - lo)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


LAYER_NAMES = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "self_attn.q_norm": "attn_q_norm",
    "self_attn.k_norm": "attn_k_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "pre_feedforward_layernorm": "ffn_norm",
    "post_feedforward_layernorm": "post_ffw_norm",
}


def gguf_name(hf, arch):
    if hf == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf == "model.norm.weight":
        return "output_norm.weight"
    if hf == "lm_head.weight":
        return "output.weight"
    parts = hf.split(".")
    assert parts[0] == "model" and parts[1] == "layers", hf
    layer, rest, kind = parts[2], ".".join(parts[3:-1]), parts[-1]
    if rest == "post_attention_layernorm":
        mapped = "post_attention_norm" if arch == "gemma3" else "ffn_norm"
    else:
        mapped = LAYER_NAMES[rest]
    return "blk.%s.%s.%s" % (layer, mapped, kind)


def write_gguf(path, name, cfg, model, tokens, merges):
    arch = {"qwen3": "qwen3", "llama3": "llama", "gemma3": "gemma3"}[name]
    w = gguf.GGUFWriter(path, arch)
    w.add_name(name)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_key_length(cfg.head_dim)
    w.add_value_length(cfg.head_dim)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_vocab_size(VOCAB)
    if arch == "gemma3":
        w.add_rope_freq_base(cfg.rope_parameters["full_attention"]["rope_theta"])
        w.add_sliding_window(cfg.sliding_window)
        # llama.cpp takes head_dim^-0.5; a different query_pre_attn_scalar is
        # written as the attention scale
        w.add_float32("gemma3.attention.scale", cfg.query_pre_attn_scalar ** -0.5)
    else:
        w.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
    w.add_rope_dimension_count(cfg.head_dim)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    names = tokens + ["[PAD%d]" % i for i in range(len(tokens), VOCAB)]
    w.add_token_list(names)
    w.add_token_types([1] * len(tokens) + [5] * (VOCAB - len(tokens)))
    w.add_token_merges(["%s %s" % m for m in merges])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(False)
    sd = model.state_dict()
    if cfg.tie_word_embeddings:
        sd.pop("lm_head.weight", None)
    for hf, t in sd.items():
        a = t.float().numpy()
        gn = gguf_name(hf, arch)
        if arch == "llama" and ".attn_q." in gn:
            a = permute_rows(a, cfg.num_attention_heads)
        if arch == "llama" and ".attn_k." in gn:
            a = permute_rows(a, cfg.num_key_value_heads)
        if arch == "gemma3" and gn.endswith("norm.weight"):
            a = a + 1.0  # llama.cpp stores Gemma's (1 + w)
        w.add_tensor(gn, a.astype(np.float16) if a.ndim == 2 else a.astype(np.float32))
    if name == "llama3":
        w.add_tensor("rope_freqs.weight", llama3_freq_factors(cfg))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "arch"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    tokens, merges = tiny_vocab()
    for i, (name, cfg) in enumerate(configs().items()):
        torch.manual_seed(1000 + i)
        gen = torch.Generator().manual_seed(1000 + i)
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32, attn_implementation="eager")
        model.eval()
        randomise(model, name, gen)
        ref = reference(model)
        hf_dir = os.path.join(args.out, name + "-hf")
        model.half().save_pretrained(hf_dir, safe_serialization=True)
        model.float()
        write_tokenizer(hf_dir, tokens, merges)
        write_gguf(os.path.join(args.out, name + ".gguf"), name, cfg, model, tokens, merges)
        with open(os.path.join(args.out, name + ".json"), "w") as f:
            json.dump({"arch": name, "transformers": transformers.__version__, "n_vocab": VOCAB,
                       "prompts": ref}, f)
        print(name, "min greedy margin", min(r["min_margin"] for r in ref),
              "logit range", min(min(r["logits"]) for r in ref), max(max(r["logits"]) for r in ref))


if __name__ == "__main__":
    main()

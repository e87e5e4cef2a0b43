#!/usr/bin/env python3
"""Make Hugging Face model directories from a llama/qwen2 GGUF, for tests.

tokenizer.json is built with the tokenizers library from the GGUF's
vocabulary, merges and control tokens, with the pre-tokenizer pipeline the
original model's tokenizer.json has for the GGUF's tokenizer.ggml.pre
(smollm: Digits + ByteLevel; qwen2 / llama-bpe: a Split regex + ByteLevel;
gpt-2: ByteLevel). tokenizer_config.json carries the special tokens and the
chat template; config.json is transformers' LlamaConfig / Qwen2Config
(save_pretrained). The weights are dequantised with gguf-py, renamed to
Hugging Face names, and for llama the q/k rows are put back in Hugging Face
order (llama.cpp's converter interleaves them for its rotary embedding;
this is transformers' reverse permutation). They are written with the
safetensors library: f32, or bf16 (rounded to nearest even), in one file
or in shards with a model.safetensors.index.json. Torch is not needed.

Usage (needs transformers, tokenizers, gguf, safetensors, numpy):
  scripts/gguf-to-hf.py GGUF OUT_DIR [--dtype f32|bf16] [--shards N] [--pre NAME]
--pre replaces the pre-tokenizer (e.g. qwen2, llama-bpe) to exercise the
other pipelines with the same vocabulary. SmolLM2-135M: ~20 s, 540 MB (f32)
or 270 MB (bf16).
"""
import argparse
import json
import os
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize
from safetensors import TensorSpec, serialize_file
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, Qwen2Config

LAYER_NAMES = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_q.bias": "self_attn.q_proj.bias",
    "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.bias": "self_attn.v_proj.bias",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
GLOBAL_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}


def hf_name(name):
    if name in GLOBAL_NAMES:
        return GLOBAL_NAMES[name]
    blk, layer, rest = name.split(".", 2)
    assert blk == "blk", name
    return f"model.layers.{int(layer)}.{LAYER_NAMES[rest]}"


def unpermute(w, n_head):
    """Inverse of llama.cpp's q/k permutation: rows (head, pair, half) from (head, half, pair)."""
    half = w.shape[0] // n_head // 2
    return w.reshape(n_head, half, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def bf16_bits(x):
    """f32 -> bf16 bit patterns, round to nearest even (as torch does)."""
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


def field(reader, key, default=None):
    if key not in reader.fields:
        return default
    return reader.fields[key].contents()


# Hugging Face's split regexes of the Qwen2 and Llama 3 tokenizers.
SPLIT_QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")
SPLIT_LLAMA3 = SPLIT_QWEN2.replace(r"|\p{N}|", r"|\p{N}{1,3}|")


def pre_tokenizer(pre):
    if pre == "smollm":
        return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    if pre in ("qwen2", "llama-bpe"):
        split = SPLIT_QWEN2 if pre == "qwen2" else SPLIT_LLAMA3
        return pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(split), behavior="isolated"),
                                        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    if pre == "gpt-2":
        return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    sys.exit(f"gguf-to-hf: pre-tokenizer {pre!r} not handled")


def write_tokenizer(reader, out, pre):
    tokens = field(reader, "tokenizer.ggml.tokens")
    types = field(reader, "tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ", 1)) for m in field(reader, "tokenizer.ggml.merges")]
    vocab = {t: i for i, t in enumerate(tokens)}
    tk = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=(pre == "llama-bpe")))
    tk.pre_tokenizer = pre_tokenizer(pre)
    tk.decoder = decoders.ByteLevel()
    # control tokens (type 3) are the special ones; user-defined (4) are added, not special
    tk.add_special_tokens([AddedToken(t, special=True, normalized=False)
                           for t, ty in zip(tokens, types) if ty == 3])
    tk.add_tokens([AddedToken(t, special=False, normalized=False)
                   for t, ty in zip(tokens, types) if ty == 4])
    tk.save(os.path.join(out, "tokenizer.json"))

    def name(key):
        i = field(reader, key)
        return None if i is None else tokens[i]
    cfg = {"tokenizer_class": "GPT2Tokenizer", "model_max_length": 8192,
           "bos_token": name("tokenizer.ggml.bos_token_id"), "eos_token": name("tokenizer.ggml.eos_token_id"),
           "unk_token": name("tokenizer.ggml.unknown_token_id"),
           "pad_token": name("tokenizer.ggml.padding_token_id"),
           "add_bos_token": bool(field(reader, "tokenizer.ggml.add_bos_token", False)),
           "chat_template": field(reader, "tokenizer.chat_template")}
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({k: v for k, v in cfg.items() if v is not None}, f, indent=2, ensure_ascii=False)


def write_config(reader, out, dtype, tied):
    arch = field(reader, "general.architecture")
    k = lambda s, d=None: field(reader, f"{arch}.{s}", d)
    cls = {"llama": LlamaConfig, "qwen2": Qwen2Config}[arch]
    n_head = k("attention.head_count")
    cfg = cls(vocab_size=len(field(reader, "tokenizer.ggml.tokens")), hidden_size=k("embedding_length"),
              intermediate_size=k("feed_forward_length"), num_hidden_layers=k("block_count"),
              num_attention_heads=n_head, num_key_value_heads=k("attention.head_count_kv", n_head),
              max_position_embeddings=k("context_length"), rms_norm_eps=k("attention.layer_norm_rms_epsilon"),
              rope_theta=k("rope.freq_base", 10000.0), tie_word_embeddings=tied,
              bos_token_id=field(reader, "tokenizer.ggml.bos_token_id"),
              eos_token_id=field(reader, "tokenizer.ggml.eos_token_id"),
              torch_dtype="bfloat16" if dtype == "bf16" else "float32")
    cfg.save_pretrained(out)


def read_weights(reader):
    arch = field(reader, "general.architecture")
    n_head = field(reader, f"{arch}.attention.head_count")
    n_kv = field(reader, f"{arch}.attention.head_count_kv", n_head)
    out = {}
    for t in reader.tensors:
        w = dequantize(t.data, t.tensor_type).astype(np.float32)
        w = w.reshape([int(x) for x in reversed(t.shape.tolist())])
        if arch == "llama" and t.name.endswith(("attn_q.weight", "attn_q.bias")):
            w = unpermute(w, n_head)
        elif arch == "llama" and t.name.endswith(("attn_k.weight", "attn_k.bias")):
            w = unpermute(w, n_kv)
        out[hf_name(t.name)] = np.ascontiguousarray(w)
    return out


def write_shard(path, tensors, dtype):
    keep = []
    specs = {}
    for name, w in tensors.items():
        data = bf16_bits(w) if dtype == "bf16" else w
        keep.append(data)
        specs[name] = TensorSpec(dtype="bfloat16" if dtype == "bf16" else "float32",
                                 shape=list(w.shape), data_ptr=data.ctypes.data, data_len=data.nbytes)
    serialize_file(specs, path, metadata={"format": "pt"})
    return sum(k.nbytes for k in keep)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("gguf")
    ap.add_argument("out")
    ap.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--pre", help="pre-tokenizer to write instead of the GGUF's")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    reader = GGUFReader(a.gguf)
    weights = read_weights(reader)
    tied = "lm_head.weight" not in weights
    write_tokenizer(reader, a.out, a.pre or field(reader, "tokenizer.ggml.pre", "gpt-2"))
    write_config(reader, a.out, a.dtype, tied)
    names = list(weights)
    if a.shards == 1:
        write_shard(os.path.join(a.out, "model.safetensors"), weights, a.dtype)
    else:
        per = (len(names) + a.shards - 1) // a.shards
        weight_map, total = {}, 0
        for s in range(a.shards):
            fname = f"model-{s + 1:05d}-of-{a.shards:05d}.safetensors"
            part = {n: weights[n] for n in names[s * per:(s + 1) * per]}
            total += write_shard(os.path.join(a.out, fname), part, a.dtype)
            weight_map.update({n: fname for n in part})
        with open(os.path.join(a.out, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    print(f"{a.out}: {len(names)} tensors, {a.dtype}, {a.shards} file(s)", file=sys.stderr)


if __name__ == "__main__":
    main()

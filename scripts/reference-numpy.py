#!/usr/bin/env python3
"""Plain-numpy Llama forward pass straight from the GGUF file, written the way
the C implementation works (raw GGUF tensor layout, llama.cpp conventions),
checked against the fixtures that scripts/gen-reference.py wrote.

    /opt/refenv/bin/python scripts/reference-numpy.py [--dtype f32|f64] [--greedy N]

Only numpy is needed (the GGUF reader and the Q4_1 / Q8_0 / F32 dequantisers
are written out here).  This is a readable spec of the forward pass:

* GGUF tensor dims are listed ne0-first: a 2-D tensor [ne0, ne1] holds ne1
  rows of ne0 contiguous values.  A weight W with dims [n_in, n_out] computes
  y[o] = sum_i W[o][i] * x[i]  (row o is contiguous).
* Q4_1 block (20 bytes, 32 values): f16 d, f16 m, 16 bytes qs;
  value j (0..15) = (qs[j] & 15) * d + m, value j+16 = (qs[j] >> 4) * d + m.
* Q8_0 block (34 bytes, 32 values): f16 d, 32 x int8 q; value = q * d.
* RMSNorm: x * w / sqrt(mean(x^2) + eps).
* RoPE, llama.cpp "NORM" style, applied to the q/k exactly as stored in the
  GGUF (the converter already permuted the HF rows): for each head, rotate
  adjacent pairs (x[2i], x[2i+1]) by angle pos * base^(-2i/head_dim).
* GQA: query head h uses kv head h / (n_head / n_head_kv).
* Attention scale 1/sqrt(head_dim), causal softmax.
* FFN: down(silu(gate(x)) * up(x)).  Tied output: logits = token_embd . x.
"""

import argparse
import json
import os
import struct
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = os.path.join(REPO, "models", "cache", "SmolLM2-135M-Instruct.Q4_1.gguf")
DEFAULT_FIX = os.path.join(REPO, "tests", "fixtures")

GGML_F32, GGML_F16, GGML_Q4_1, GGML_Q8_0 = 0, 1, 3, 8


# ---------------------------------------------------------------- GGUF reader
class GGUF:
    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self.buf = f.read()
        self.off = 0
        magic, version = struct.unpack_from("<4sI", self.buf, 0)
        assert magic == b"GGUF" and version in (2, 3), (magic, version)
        self.off = 8
        n_tensors, n_kv = self._u("<QQ")
        self.meta = {}
        for _ in range(n_kv):
            key = self._str()
            (vt,) = self._u("<I")
            self.meta[key] = self._val(vt)
        self.tensors = {}
        for _ in range(n_tensors):
            name = self._str()
            (nd,) = self._u("<I")
            dims = list(self._u("<" + "Q" * nd))
            ttype, toff = self._u("<IQ")
            self.tensors[name] = (dims, ttype, toff)
        align = self.meta.get("general.alignment", 32)
        self.data_start = (self.off + align - 1) // align * align

    def _u(self, fmt):
        v = struct.unpack_from(fmt, self.buf, self.off)
        self.off += struct.calcsize(fmt)
        return v

    def _str(self):
        (n,) = self._u("<Q")
        s = self.buf[self.off:self.off + n].decode("utf-8")
        self.off += n
        return s

    _SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f",
               7: "<?", 10: "<Q", 11: "<q", 12: "<d"}

    def _val(self, vt):
        if vt in self._SCALAR:
            return self._u(self._SCALAR[vt])[0]
        if vt == 8:
            return self._str()
        if vt == 9:
            et, n = self._u("<IQ")
            return [self._val(et) for _ in range(n)]
        raise ValueError(f"gguf value type {vt}")

    def tensor(self, name):
        """Dequantised tensor as float32 numpy array of shape reversed(dims),
        i.e. [n_rows][row_len] for 2-D."""
        dims, ttype, toff = self.tensors[name]
        n = int(np.prod(dims))
        start = self.data_start + toff
        if ttype == GGML_F32:
            a = np.frombuffer(self.buf, dtype="<f4", count=n, offset=start).copy()
        elif ttype == GGML_F16:
            a = np.frombuffer(self.buf, dtype="<f2", count=n, offset=start).astype(np.float32)
        elif ttype == GGML_Q4_1:
            nb = n // 32
            blk = np.frombuffer(self.buf, dtype=np.uint8, count=nb * 20, offset=start).reshape(nb, 20)
            d = blk[:, 0:2].copy().view("<f2").astype(np.float32)
            m = blk[:, 2:4].copy().view("<f2").astype(np.float32)
            qs = blk[:, 4:20]
            q = np.concatenate([qs & 15, qs >> 4], axis=1).astype(np.float32)
            a = (q * d + m).reshape(-1)
        elif ttype == GGML_Q8_0:
            nb = n // 32
            blk = np.frombuffer(self.buf, dtype=np.uint8, count=nb * 34, offset=start).reshape(nb, 34)
            d = blk[:, 0:2].copy().view("<f2").astype(np.float32)
            q = blk[:, 2:34].copy().view(np.int8).astype(np.float32)
            a = (q * d).reshape(-1)
        else:
            raise ValueError(f"{name}: ggml type {ttype} not handled")
        return a.reshape(list(reversed(dims)))


# ---------------------------------------------------------------- model
class Llama:
    def __init__(self, g, dtype):
        a = "llama"
        m = g.meta
        self.n_layer = m[f"{a}.block_count"]
        self.d = m[f"{a}.embedding_length"]
        self.n_head = m[f"{a}.attention.head_count"]
        self.n_head_kv = m[f"{a}.attention.head_count_kv"]
        self.hd = self.d // self.n_head
        self.rope_dim = m.get(f"{a}.rope.dimension_count", self.hd)
        self.base = m[f"{a}.rope.freq_base"]
        self.eps = m[f"{a}.attention.layer_norm_rms_epsilon"]
        self.dtype = dtype
        T = lambda n: g.tensor(n).astype(dtype)  # noqa: E731
        self.embd = T("token_embd.weight")
        self.out = T("output.weight") if "output.weight" in g.tensors else self.embd
        self.out_norm = T("output_norm.weight")
        self.layers = []
        for i in range(self.n_layer):
            p = f"blk.{i}."
            self.layers.append({k: T(p + k + ".weight") for k in (
                "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                "ffn_norm", "ffn_gate", "ffn_up", "ffn_down")})

    def rms(self, x, w):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps) * w

    def rope(self, x, pos):
        # x: [T, n_heads, hd]; NORM style: adjacent pairs.
        half = self.rope_dim // 2
        inv = self.base ** (-np.arange(half, dtype=np.float64) * 2.0 / self.rope_dim)
        ang = np.asarray(pos, dtype=np.float64)[:, None] * inv[None, :]   # [T, half]
        c = np.cos(ang).astype(self.dtype)[:, None, :]
        s = np.sin(ang).astype(self.dtype)[:, None, :]
        y = x.copy()
        x0 = x[..., 0:self.rope_dim:2]
        x1 = x[..., 1:self.rope_dim:2]
        y[..., 0:self.rope_dim:2] = x0 * c - x1 * s
        y[..., 1:self.rope_dim:2] = x0 * s + x1 * c
        return y

    def new_cache(self):
        return [{"k": np.zeros((0, self.n_head_kv, self.hd), self.dtype),
                 "v": np.zeros((0, self.n_head_kv, self.hd), self.dtype)}
                for _ in range(self.n_layer)]

    def forward(self, ids, cache):
        """Process ids (positions continue after what is cached); return
        logits of the last position."""
        n_past = cache[0]["k"].shape[0]
        T = len(ids)
        pos = np.arange(n_past, n_past + T)
        x = self.embd[np.asarray(ids)]                                   # [T, d]
        group = self.n_head // self.n_head_kv
        scale = self.dtype(1.0 / np.sqrt(self.hd))  # np.float64 scalar would upcast f32
        mask = np.triu(np.full((T, n_past + T), -np.inf, dtype=self.dtype), k=n_past + 1)
        for L, c in zip(self.layers, cache):
            h = self.rms(x, L["attn_norm"])
            q = (h @ L["attn_q"].T).reshape(T, self.n_head, self.hd)
            k = (h @ L["attn_k"].T).reshape(T, self.n_head_kv, self.hd)
            v = (h @ L["attn_v"].T).reshape(T, self.n_head_kv, self.hd)
            q, k = self.rope(q, pos), self.rope(k, pos)
            c["k"] = np.concatenate([c["k"], k])
            c["v"] = np.concatenate([c["v"], v])
            K = np.repeat(c["k"], group, axis=1)                          # [S, H, hd]
            V = np.repeat(c["v"], group, axis=1)
            s = np.einsum("thd,shd->hts", q, K) * scale + mask[None]
            s = s - s.max(axis=-1, keepdims=True)
            p = np.exp(s)
            p /= p.sum(axis=-1, keepdims=True)
            o = np.einsum("hts,shd->thd", p, V).reshape(T, self.d)
            x = x + o @ L["attn_output"].T
            h = self.rms(x, L["ffn_norm"])
            gte = h @ L["ffn_gate"].T
            up = h @ L["ffn_up"].T
            x = x + ((gte / (1.0 + np.exp(-gte))) * up) @ L["ffn_down"].T
        assert x.dtype == self.dtype, x.dtype
        x = self.rms(x[-1:], self.out_norm)
        return (x @ self.out.T)[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--fixtures", default=DEFAULT_FIX)
    ap.add_argument("--dtype", choices=["f32", "f64"], default="f32")
    ap.add_argument("--greedy", type=int, default=8,
                    help="greedy tokens to generate and compare per prompt (0: none)")
    args = ap.parse_args()
    t0 = time.time()

    g = GGUF(args.model)
    model = Llama(g, np.float32 if args.dtype == "f32" else np.float64)
    with open(os.path.join(args.fixtures, "smollm2_reference.json"), encoding="utf-8") as f:
        ref = json.load(f)
    lf = ref["logits_file"]
    ref_logits = np.fromfile(os.path.join(args.fixtures, lf["name"]), dtype="<f4").reshape(
        lf["n_prompts"], lf["n_vocab"])
    print(f"loaded model ({args.dtype}) in {time.time() - t0:.1f}s")

    worst, n_argmax, n_greedy = 0.0, 0, 0
    for p in ref["prompts"]:
        i = p["index"]
        cache = model.new_cache()
        lg = model.forward(p["input_ids"], cache)
        d = float(np.max(np.abs(lg.astype(np.float64) - ref_logits[i])))
        worst = max(worst, d)
        am = int(np.argmax(lg)) == int(np.argmax(ref_logits[i]))
        n_argmax += am
        line = f"{i:>2} {p['name']:24} max|d|={d:.2e} argmax {'ok' if am else 'DIFF'}"
        if args.greedy:
            toks = []
            for k in range(args.greedy):
                t = int(np.argmax(lg))
                toks.append(t)
                if k < args.greedy - 1:
                    lg = model.forward([t], cache)
            want = p["hf_greedy32"][:args.greedy]
            ok = toks == want
            n_greedy += ok
            line += f" greedy{args.greedy} {'ok' if ok else 'DIFF ' + str(toks)}"
        print(line, flush=True)
    n = len(ref["prompts"])
    print(f"max |numpy - HF| over all prompts' last logits: {worst:.3e}; "
          f"argmax agree {n_argmax}/{n}" + (f"; greedy{args.greedy} agree {n_greedy}/{n}"
                                              if args.greedy else ""))
    print(f"time {time.time() - t0:.1f}s")
    return 0 if n_argmax == n and (not args.greedy or n_greedy == n) else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Generate independent reference fixtures for esft's quant/gguf tests.

Uses the `gguf` Python package (gguf-py, maintained with llama.cpp) and numpy
as the reference implementation; esft's C tests only compare against what
this script writes. Run with the reference environment:

    /opt/refenv/bin/python scripts/gen-quant-fixtures.py \
        [--out tests/fixtures] [--model models/cache/SmolLM2-135M-Instruct.Q4_1.gguf]

Outputs (all little-endian):

tests/fixtures/quant_<type>.bin          dequantisation fixtures
tests/fixtures/quant_<type>_from_f32.bin quantisation/conversion fixtures
    header: b"EQFX", u32 version (1), u32 kind (0 = dequant, 1 = quantize),
            u32 ggml type id, u32 n_elements, u32 n_bytes
    kind 0: n_bytes raw block bytes, then n_elements f32 expected values
    kind 1: n_elements f32 inputs, then n_bytes expected encoded bytes

tests/fixtures/gguf_pyref.gguf           a small GGUF written by gguf-py's
    GGUFWriter with every metadata value type, nested arrays and ten tensors
    of different types/shapes (alignment 64); see gen_gguf_ref().

tests/fixtures/smollm2_gguf_facts.txt    what gguf-py reads from the real model
    (only when the model file exists): header counts, every key's type and
    value (arrays: length and a few items), every tensor's type, shape,
    absolute data offset and size, order-independent checksums (xor and
    wrapping sum of the f32 bit patterns) of each fully dequantised tensor,
    and the first 8 dequantised values of two tensors.
"""
import argparse
import os
import struct
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT
from gguf import quants

MAGIC = b"EQFX"


def write_fixture(path, kind, qtype, n_elems, data_bytes, f32):
    assert f32.dtype == np.float32 and f32.size == n_elems
    with open(path, "wb") as fp:
        fp.write(MAGIC)
        fp.write(struct.pack("<5I", 1, kind, int(qtype), n_elems, len(data_bytes)))
        if kind == 0:
            fp.write(data_bytes)
            fp.write(f32.astype("<f4").tobytes())
        else:
            fp.write(f32.astype("<f4").tobytes())
            fp.write(data_bytes)


def random_finite_f16(rng, n, lo_exp=0, hi_exp=30):
    """Random f16 bit patterns with exponent field in [lo_exp, hi_exp] (finite)."""
    sign = rng.integers(0, 2, n, dtype=np.uint16) << 15
    exp = rng.integers(lo_exp, hi_exp + 1, n, dtype=np.uint16) << 10
    man = rng.integers(0, 1024, n, dtype=np.uint16)
    return (sign | exp | man).astype(np.uint16)


def blocks_random(rng, qtype, n_blocks, f16_fields):
    """Random valid block bytes: every byte random, f16 fields forced finite.
    f16_fields: byte offsets of f16 scales inside a block."""
    bs, ts = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, (n_blocks, ts), dtype=np.uint8)
    for off in f16_fields:
        # mostly moderate magnitudes, some extremes incl. subnormals/zero
        h = random_finite_f16(rng, n_blocks, 0, 30)
        moderate = random_finite_f16(rng, n_blocks, 5, 16)
        pick = rng.random(n_blocks) < 0.75
        h = np.where(pick, moderate, h).astype(np.uint16)
        raw[:, off:off + 2] = h.view(np.uint8).reshape(n_blocks, 2)
    return raw


def blocks_quantized(rng, qtype, n_blocks):
    bs, _ = gguf.GGML_QUANT_SIZES[qtype]
    scales = np.exp(rng.uniform(-8, 4, (n_blocks, 1))).astype(np.float32)
    x = (rng.standard_normal((n_blocks, bs)) * scales).astype(np.float32)
    x[0, :] = 0.0  # an all-zero block (d = 0 path)
    q = quants.quantize(x, qtype)
    return np.ascontiguousarray(q, dtype=np.uint8).reshape(n_blocks, -1)


def gen_dequant(out, rng):
    # type -> (number of blocks, f16 field offsets, can gguf-py quantize it)
    specs = {
        QT.Q4_0: (64, [0], True),
        QT.Q4_1: (64, [0, 2], True),
        QT.Q5_0: (48, [0], True),
        QT.Q5_1: (48, [0, 2], True),
        QT.Q8_0: (64, [0], True),
        QT.Q2_K: (10, [80, 82], False),
        QT.Q3_K: (10, [108], False),
        QT.Q4_K: (12, [0, 2], False),
        QT.Q5_K: (10, [0, 2], False),
        QT.Q6_K: (12, [208], False),
    }
    total = 0
    for qtype, (nb, f16_off, can_q) in specs.items():
        if can_q:
            half = nb // 2
            raw = np.concatenate([blocks_quantized(rng, qtype, half),
                                  blocks_random(rng, qtype, nb - half, f16_off)])
        else:
            raw = blocks_random(rng, qtype, nb, f16_off)
        raw = np.ascontiguousarray(raw)
        ref = quants.dequantize(raw.reshape(-1), qtype).astype(np.float32).reshape(-1)
        bs, ts = gguf.GGML_QUANT_SIZES[qtype]
        assert ref.size == nb * bs and raw.size == nb * ts
        assert np.all(np.isfinite(ref)), qtype
        path = os.path.join(out, f"quant_{qtype.name.lower()}.bin")
        write_fixture(path, 0, qtype, ref.size, raw.tobytes(), ref)
        total += os.path.getsize(path)

    # F16: every class of bit pattern (zeros, subnormals, normals, inf, NaN).
    special = np.array([0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x0400, 0x3c00, 0xbc00,
                        0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7e00, 0xfe00, 0x7c01, 0x7fff,
                        0x3555, 0x0200], dtype=np.uint16)
    h = np.concatenate([special, rng.integers(0, 65536, 2048 - special.size, dtype=np.uint16)])
    ref = quants.dequantize(h.view(np.uint8), QT.F16).astype(np.float32)
    path = os.path.join(out, "quant_f16.bin")
    write_fixture(path, 0, QT.F16, h.size, h.tobytes(), ref)
    total += os.path.getsize(path)

    b = np.concatenate([special, rng.integers(0, 65536, 1024 - special.size, dtype=np.uint16)])
    ref = quants.dequantize(b.view(np.uint8), QT.BF16).astype(np.float32).reshape(-1)
    path = os.path.join(out, "quant_bf16.bin")
    write_fixture(path, 0, QT.BF16, b.size, b.tobytes(), ref)
    total += os.path.getsize(path)
    return total


def f32_from_bits(bits):
    return np.array(bits, dtype=np.uint32).view(np.float32)


def gen_quantize(out, rng):
    total = 0
    # Inputs for conversions: special values, exact ties, boundaries, random bits.
    sp = [0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000,
          0x7f800001, 0x7fa00000, 0x00000001, 0x80000001, 0x007fffff, 0x00800000,
          0x3f800000, 0xbf800000, 0x477fe000, 0x477fefff, 0x477ff000, 0x477ff001,
          0x47800000, 0x33800000, 0x33000000, 0x33000001, 0x32ffffff, 0x33c00000,
          0x387fc000, 0x387fe000, 0x38800000, 0x387ff000, 0x3f801000, 0x3f803000,
          0x3f801001, 0x3f802fff, 0x3f808000, 0x3f818000, 0x3f808001, 0x7f7fffff,
          0xff7fffff, 0x7f7f8000, 0x7f7f7fff, 0x3f7fffff, 0x00008000, 0x00018000]
    sp = f32_from_bits(sp)
    # random bit patterns over the whole range and moderate random values
    rbits = rng.integers(0, 2**32, 1200, dtype=np.uint64).astype(np.uint32).view(np.float32)
    rmod = (rng.standard_normal(700) * np.exp(rng.uniform(-20, 12, 700))).astype(np.float32)
    # f16 ties: midpoints between adjacent f16 values are exactly representable in f32
    hh = rng.integers(0, 0x7bff, 300, dtype=np.uint16)
    lo = hh.view(np.float16).astype(np.float32)
    hi = (hh + 1).astype(np.uint16).view(np.float16).astype(np.float32)
    ties16 = ((lo.astype(np.float64) + hi.astype(np.float64)) / 2).astype(np.float32)
    x16 = np.concatenate([sp, rbits, rmod, ties16]).astype(np.float32)
    x16 = x16[: (x16.size // 32) * 32]
    with np.errstate(over="ignore", invalid="ignore"):
        h = x16.astype(np.float16)
    path = os.path.join(out, "quant_f16_from_f32.bin")
    write_fixture(path, 1, QT.F16, x16.size, h.view(np.uint16).astype("<u2").tobytes(), x16)
    total += os.path.getsize(path)

    # bf16 ties: x = upper16 << 16 | 0x8000 exactly halfway
    up = rng.integers(0, 0xff7f, 300, dtype=np.uint32)
    tiesb = ((up << 16) | 0x8000).astype(np.uint32).view(np.float32)
    xb = np.concatenate([sp, rbits, rmod, tiesb]).astype(np.float32)
    xb = xb[: (xb.size // 32) * 32]
    bq = quants.quantize(xb.reshape(1, -1), QT.BF16).reshape(-1)
    path = os.path.join(out, "quant_bf16_from_f32.bin")
    write_fixture(path, 1, QT.BF16, xb.size, bq.tobytes(), xb)
    total += os.path.getsize(path)

    # Q8_0 (gguf-py's Q8_0 quantiser is bit-exact with ggml's reference).
    nb = 64
    scales = np.exp(rng.uniform(-10, 8, (nb, 1))).astype(np.float32)
    x = (rng.standard_normal((nb, 32)) * scales).astype(np.float32)
    x[0] = 0.0
    x[1] = np.arange(32, dtype=np.float32) - 16.0       # exact values, ties on rounding
    x[2] = (np.arange(32, dtype=np.float32) - 15.5) * 8  # .5 multiples
    x[3, :] = 1e-30                                      # d underflows to 0 in f16
    q = quants.quantize(x, QT.Q8_0).reshape(-1)
    path = os.path.join(out, "quant_q8_0_from_f32.bin")
    write_fixture(path, 1, QT.Q8_0, x.size, q.tobytes(), x.reshape(-1))
    total += os.path.getsize(path)
    return total


def field_scalar(f):
    t = gguf.GGUFValueType(f.types[0])
    part = f.parts[f.data[0]]
    if t == gguf.GGUFValueType.STRING:
        return bytes(part).hex()
    if t in (gguf.GGUFValueType.FLOAT32,):
        return "%08x" % int(np.asarray(part).view(np.uint32)[0])
    if t in (gguf.GGUFValueType.FLOAT64,):
        return "%016x" % int(np.asarray(part).view(np.uint64)[0])
    if t == gguf.GGUFValueType.BOOL:
        return str(int(np.asarray(part)[0]))
    return str(int(np.asarray(part)[0]))


def gen_facts(out, model):
    r = gguf.GGUFReader(model)
    lines = []
    lines.append("file %s" % os.path.basename(model))
    lines.append("size %d" % os.path.getsize(model))
    lines.append("version %d" % int(r.fields["GGUF.version"].parts[-1][0]))
    kvs = [(k, f) for k, f in r.fields.items() if not k.startswith("GGUF.")]
    lines.append("n_kv %d" % len(kvs))
    lines.append("n_tensors %d" % len(r.tensors))
    lines.append("alignment %d" % r.alignment)
    lines.append("data_offset %d" % r.data_offset)
    vt = gguf.GGUFValueType
    for k, f in kvs:
        t = vt(f.types[0])
        if t == vt.ARRAY:
            et = vt(f.types[1]) if len(f.types) > 1 else vt.UINT8
            n = len(f.data)
            lines.append("arr %s %d %d" % (k, int(et), n))
            picks = sorted(set(i for i in (0, 1, 2, n // 2, n - 1) if 0 <= i < n))
            for i in picks:
                part = f.parts[f.data[i]]
                if et == vt.STRING:
                    v = bytes(part).hex() or "-"
                elif et == vt.FLOAT32:
                    v = "%08x" % int(np.asarray(part).view(np.uint32)[0])
                else:
                    v = str(int(np.asarray(part)[0]))
                lines.append("item %s %d %s" % (k, i, v))
        else:
            v = field_scalar(f)
            lines.append("kv %s %d %s" % (k, int(t), v or "-"))
    first8 = {}
    for t in r.tensors:
        shape = [int(s) for s in t.field.parts[3]]  # ne[] as stored (ne0 first)
        deq = quants.dequantize(np.asarray(t.data), t.tensor_type).astype(np.float32).reshape(-1)
        bits = deq.view(np.uint32)
        xor = int(np.bitwise_xor.reduce(bits)) if bits.size else 0
        s = int(bits.astype(np.uint64).sum() & np.uint64(0xFFFFFFFFFFFFFFFF))
        lines.append("tensor %s %d %d %s %d %d %08x %016x" % (
            t.name, int(t.tensor_type), len(shape), ",".join(str(x) for x in shape),
            int(t.data_offset), int(t.n_bytes), xor, s))
        if t.name in ("token_embd.weight", "blk.0.attn_q.weight"):
            first8[t.name] = " ".join("%08x" % int(b) for b in bits[:8])
    for name, v in first8.items():
        lines.append("first8 %s %s" % (name, v))
    path = os.path.join(out, "smollm2_gguf_facts.txt")
    with open(path, "w") as fp:
        fp.write("\n".join(lines) + "\n")
    return os.path.getsize(path)


# Tensors of the small reference GGUF: (name, ggml type, ne in ggml order).
# Tensor k's byte i is (i * 131 + k * 17 + 7) & 0xff; test_gguf.c builds the
# same file with esft's writer and must produce identical bytes.
REF_TENSORS = [
    ("tok.f32", QT.F32, [3, 5]),
    ("blk.0.f16", QT.F16, [7]),
    ("blk.0.bf16", QT.BF16, [4, 2, 3]),
    ("blk.1.q8_0", QT.Q8_0, [64, 2]),
    ("blk.1.q4_k", QT.Q4_K, [256]),
    ("blk.2.q6_k", QT.Q6_K, [256, 1, 1, 2]),
    ("x.i32", QT.I32, [5]),
    ("x.iq2_xxs", QT.IQ2_XXS, [256]),
    ("x.q4_0", QT.Q4_0, [32, 3]),
    ("last.f32", QT.F32, [16]),  # 64 bytes: the file ends without padding
]


def gen_gguf_ref(out):
    """A small GGUF written by gguf-py's GGUFWriter with every value type."""
    import math
    vt = gguf.GGUFValueType
    path = os.path.join(out, "gguf_pyref.gguf")
    w = gguf.GGUFWriter(path, "llama")
    w.kv_data[0].clear()           # put general.alignment first, then the arch
    w.add_custom_alignment(64)
    w.add_architecture()
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -100)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4000000000)
    w.add_int32("t.i32", -2000000000)
    w.add_float32("t.f32", 3.140625)
    w.add_bool("t.bool", True)
    w.add_bool("t.bool0", False)
    w.add_string("t.str", "h\u00e9llo w\u00f6rld \u2713 \U0001f642 \u65e5\u672c\u8a9e")
    w.add_key_value("t.str_nul", b"a\x00b", vt.STRING)
    w.add_key_value("t.str_empty", "", vt.STRING)  # add_string() skips empty strings
    w.add_uint64("t.u64", 2**63 + 5)
    w.add_int64("t.i64", -(2**63) + 1)
    w.add_float64("t.f64", -1.5e300)
    w.add_key_value("t.arr_u8", [1, 2, 255], vt.ARRAY, sub_type=vt.UINT8)
    w.add_key_value("t.arr_i8", [-128, 0, 127], vt.ARRAY, sub_type=vt.INT8)
    w.add_key_value("t.arr_u16", [0, 65535], vt.ARRAY, sub_type=vt.UINT16)
    w.add_key_value("t.arr_i16", [-32768, 32767], vt.ARRAY, sub_type=vt.INT16)
    w.add_key_value("t.arr_u32", [0, 4294967295], vt.ARRAY, sub_type=vt.UINT32)
    w.add_key_value("t.arr_i32", [-2147483648, 2147483647, 5], vt.ARRAY, sub_type=vt.INT32)
    w.add_key_value("t.arr_f32", [0.5, -2.25, math.ldexp(1.0, -140)], vt.ARRAY, sub_type=vt.FLOAT32)
    w.add_key_value("t.arr_bool", [True, False, True], vt.ARRAY, sub_type=vt.BOOL)
    w.add_key_value("t.arr_u64", [2**64 - 1, 0], vt.ARRAY, sub_type=vt.UINT64)
    w.add_key_value("t.arr_i64", [-(2**63), 2**63 - 1], vt.ARRAY, sub_type=vt.INT64)
    w.add_key_value("t.arr_f64", [1e-310, -0.0, 2.5], vt.ARRAY, sub_type=vt.FLOAT64)
    w.add_key_value("t.arr_str", ["a", "\u03b2\u03b3", "\U0001f642", ""], vt.ARRAY, sub_type=vt.STRING)
    w.add_key_value("t.arr_arr_str", [["x", "y"], ["z"], ["\u00fc", "v", "w"]], vt.ARRAY,
                    sub_type=vt.ARRAY)
    w.add_key_value("t.arr3", [[[1, 2], [3]], [[4]]], vt.ARRAY, sub_type=vt.ARRAY)
    for k, (name, qt, ne) in enumerate(REF_TENSORS):
        bs, ts = gguf.GGML_QUANT_SIZES[qt]
        row = ne[0] // bs * ts
        nbytes = row
        for d in ne[1:]:
            nbytes *= d
        data = ((np.arange(nbytes, dtype=np.uint64) * 131 + k * 17 + 7) & 0xff).astype(np.uint8)
        shape = list(reversed(ne[1:])) + [row]
        w.add_tensor(name, data.reshape(shape), raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    # sanity: gguf-py reads back what it wrote
    r = gguf.GGUFReader(path)
    assert len(r.tensors) == len(REF_TENSORS) and r.alignment == 64
    for t, (name, qt, ne) in zip(r.tensors, REF_TENSORS):
        assert t.name == name and t.tensor_type == qt and t.data_offset % 64 == 0
    return os.path.getsize(path)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(root, "tests", "fixtures"))
    mdir = os.environ.get("ESFT_MODEL_DIR", os.path.join(root, "models", "cache"))
    ap.add_argument("--model", default=os.path.join(mdir, "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--seed", type=int, default=20240601)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    total = gen_dequant(a.out, rng) + gen_quantize(a.out, rng)
    print("quant fixtures: %d bytes" % total)
    print("gguf-py reference file: %d bytes" % gen_gguf_ref(a.out))
    if os.path.exists(a.model):
        print("model facts: %d bytes" % gen_facts(a.out, a.model))
    else:
        print("model %s absent: facts not regenerated" % a.model, file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Independent reference for sqz's GGUF block codecs (tests/kernels/gguf_blocks_test.cpp): gguf-py.

Writes a binary record stream to stdout, one record per tensor:
    u32 name_len (0 ends the stream), name (utf-8), u32 ggml_type, u64 n_weights, u32 has_input,
    [f32 input[n_weights] when has_input], u8 blocks[n_weights / block_weights * block_bytes],
    f32 output[n_weights]
(little-endian). `output` is gguf.quants.dequantize(blocks); `blocks` are random (dequant mode),
gguf.quants.quantize(input) (quant mode) or a GGUF file's tensor data (model mode).

Usage:
    gguf_blocks_ref.py table                      one line per type: name ggml_type block_weights block_bytes
    gguf_blocks_ref.py dequant SEED NWEIGHTS TYPE...
    gguf_blocks_ref.py quant SEED NWEIGHTS TYPE...
    gguf_blocks_ref.py model FILE.gguf
"""
import struct
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGML_QUANT_SIZES, GGUFReader
from gguf import quants

# Byte offsets of the fp16 scale fields in each block (IQ1_M spreads its fp16 scale over the top
# nibbles of four uint16 at offset 48; handled separately).
HALF_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
    T.IQ2_XXS: [0], T.IQ2_XS: [0], T.IQ2_S: [0], T.IQ3_XXS: [0], T.IQ3_S: [0], T.IQ1_S: [0],
    T.IQ4_NL: [0], T.IQ4_XS: [0], T.IQ1_M: [],
}

# Finite fp16 values at the edges: zeros, smallest/largest subnormals, smallest normal, one, largest.
SPECIAL_HALVES = np.array([0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x83FF, 0x0400, 0x8400,
                           0x3C00, 0xBC00, 0x7BFF, 0xFBFF, 0x1000, 0x5800], dtype=np.uint16)


def qtype_of(name):
    return T[name.upper()]


def random_halves(rng, n):
    """n finite fp16 bit patterns: mostly uniform over all finite values (every exponent, both signs,
    subnormals included), a quarter drawn from SPECIAL_HALVES."""
    h = rng.integers(0, 1 << 16, size=n, dtype=np.uint32).astype(np.uint16)
    inf_nan = (h & 0x7C00) == 0x7C00
    h[inf_nan] &= np.uint16(0xBFFF)  # clear an exponent bit: finite
    special = rng.random(n) < 0.25
    h[special] = rng.choice(SPECIAL_HALVES, size=int(special.sum()))
    return h


def random_blocks(rng, qtype, n_blocks):
    _, bb = GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, bb), dtype=np.uint8)
    for off in HALF_FIELDS[qtype]:
        raw[:, off:off + 2] = random_halves(rng, n_blocks).view(np.uint8).reshape(n_blocks, 2)
    if qtype == T.IQ1_M:
        h = random_halves(rng, n_blocks)
        sc = raw[:, 48:56].copy().view(np.uint16)  # (n_blocks, 4)
        for k in range(4):
            nib = ((h >> np.uint16(4 * k)) & np.uint16(0xF)).astype(np.uint16)
            sc[:, k] = (sc[:, k] & np.uint16(0x0FFF)) | (nib << np.uint16(12))
        raw[:, 48:56] = sc.view(np.uint8)
    return raw


def random_rows(rng, n):
    """Weights in 32-weight groups of very different magnitudes and shapes: gaussian, heavy-tailed,
    single outliers, all zero, constant, repeated values (ties), tiny (fp16-subnormal scales)."""
    x = np.empty(n, dtype=np.float32)
    for g in range(0, n, 32):
        kind = rng.integers(0, 8)
        mag = np.float32(10.0 ** rng.uniform(-4, 2))
        if kind == 0:
            v = np.zeros(32)
        elif kind == 1:
            v = np.full(32, rng.normal()) * mag
        elif kind == 2:
            v = rng.integers(-3, 4, size=32) * mag  # ties
        elif kind == 3:
            v = rng.standard_t(2, size=32) * mag
        elif kind == 4:
            v = rng.normal(size=32) * mag
            v[rng.integers(0, 32)] *= 30
        elif kind == 5:
            v = rng.normal(size=32) * np.float32(1e-6)
        else:
            v = rng.normal(size=32) * mag
        x[g:g + 32] = v
    return x


def write_record(out, name, qtype, n, blocks, output, inp=None):
    nb = name.encode()
    out.write(struct.pack("<I", len(nb)) + nb)
    out.write(struct.pack("<IQI", int(qtype), n, 0 if inp is None else 1))
    if inp is not None:
        out.write(np.ascontiguousarray(inp, dtype="<f4").tobytes())
    out.write(np.ascontiguousarray(blocks, dtype=np.uint8).tobytes())
    out.write(np.ascontiguousarray(output, dtype="<f4").tobytes())


def main():
    mode = sys.argv[1]
    out = sys.stdout.buffer
    if mode == "table":
        for name in ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K",
                     "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "IQ1_M"]:
            bw, bb = GGML_QUANT_SIZES[T[name]]
            print(name, int(T[name]), bw, bb)
        return
    if mode in ("dequant", "quant"):
        seed, n = int(sys.argv[2]), int(sys.argv[3])
        for name in sys.argv[4:]:
            qtype = qtype_of(name)
            bw, _ = GGML_QUANT_SIZES[qtype]
            assert n % bw == 0, (name, n, bw)
            rng = np.random.default_rng([seed, int(qtype)])
            if mode == "dequant":
                blocks = random_blocks(rng, qtype, n // bw)
                with np.errstate(over="ignore", invalid="ignore"):
                    output = quants.dequantize(blocks, qtype).reshape(-1)
                write_record(out, name, qtype, n, blocks, output)
            else:
                x = random_rows(rng, n)
                blocks = quants.quantize(x.reshape(1, -1), qtype)
                output = quants.dequantize(blocks, qtype).reshape(-1)
                write_record(out, name, qtype, n, blocks, output, inp=x)
    elif mode == "model":
        reader = GGUFReader(sys.argv[2])
        for t in reader.tensors:
            qtype = T(t.tensor_type)
            if qtype not in HALF_FIELDS:  # F32/F16/BF16 and types sqz does not decode here
                continue
            n = int(np.prod([int(d) for d in t.shape]))
            output = quants.dequantize(t.data, qtype).reshape(-1)
            write_record(out, t.name, qtype, n, np.asarray(t.data).reshape(-1), output)
    else:
        sys.exit(f"unknown mode {mode}")
    out.write(struct.pack("<I", 0))
    out.flush()


if __name__ == "__main__":
    main()

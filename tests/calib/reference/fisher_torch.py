#!/usr/bin/python3
"""Independent Fisher reference for sqz's calibration (tests/calib/fisher_torch_test.cpp).

A LLaMA written from scratch on torch autograd, in float64: reads the checkpoint itself (a Hugging Face
directory with config.json + *.safetensors in F32/F16/BF16, or a llama2.c v0 .bin), and for each token
window (batch 1) computes loss = mean next-token cross-entropy over the window's n-1 predictions, its
gradient with respect to every linear weight, and sums grad^2 over the windows in float64.

Usage: fisher_torch.py MODEL WINDOWS OUT_DIR
  WINDOWS: int32 little-endian: n_windows, ctx, then n_windows * ctx token ids.
  OUT_DIR/manifest.json: {"losses": [...], "tensors": {name: {"file": ..., "shape": [...]}}}
  OUT_DIR/<name>.f64: the Fisher of that weight, float64 little-endian, row-major [out, in].
"""
import json
import os
import struct
import sys

import numpy as np
import torch


def die(msg):
    sys.stderr.write("fisher_torch.py: " + msg + "\n")
    sys.exit(1)


# ---- checkpoint readers (no sqz code involved) ----

def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        die(f"{path}: too short for a safetensors header")
    (hlen,) = struct.unpack("<Q", raw[:8])
    if 8 + hlen > len(raw):
        die(f"{path}: header length {hlen} runs past the end of the file")
    header = json.loads(raw[8:8 + hlen])
    base = 8 + hlen
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        buf = raw[base + b:base + end]
        dt = e["dtype"]
        if dt == "F32":
            a = np.frombuffer(buf, dtype="<f4").astype(np.float64)
        elif dt == "F16":
            a = np.frombuffer(buf, dtype="<f2").astype(np.float64)
        elif dt == "BF16":
            # bf16 is the high half of an fp32.
            a = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        else:
            die(f"{path}: tensor {name} has dtype {dt} (only F32/F16/BF16 are supported)")
        out[name] = torch.from_numpy(a.reshape(e["shape"]).copy())
    return out


def load_hf(d):
    with open(os.path.join(d, "config.json")) as f:
        j = json.load(f)
    cfg = {
        "dim": j["hidden_size"], "hidden": j["intermediate_size"], "layers": j["num_hidden_layers"],
        "heads": j["num_attention_heads"], "kv_heads": j.get("num_key_value_heads", j["num_attention_heads"]),
        "vocab": j["vocab_size"], "eps": j.get("rms_norm_eps", 1e-6), "theta": j.get("rope_theta", 10000.0),
        "tied": j.get("tie_word_embeddings", False),
        "interleaved": j.get("rope_layout", "rotate_half") == "interleaved",
    }
    cfg["head_dim"] = j.get("head_dim") or cfg["dim"] // cfg["heads"]
    w = {}
    files = sorted(f for f in os.listdir(d) if f.endswith(".safetensors"))
    if not files:
        die(f"{d}: no *.safetensors file")
    for f in files:
        w.update(read_safetensors(os.path.join(d, f)))
    if "lm_head.weight" not in w:
        cfg["tied"] = True
        w["lm_head.weight"] = w["model.embed_tokens.weight"]
    return cfg, w


def load_llama2c(path):
    with open(path, "rb") as f:
        raw = f.read()
    dim, hidden, layers, heads, kv_heads, vocab, seq = struct.unpack("<7i", raw[:28])
    cfg = {"dim": dim, "hidden": hidden, "layers": layers, "heads": heads, "kv_heads": kv_heads,
           "vocab": abs(vocab), "eps": 1e-5, "theta": 10000.0, "tied": vocab > 0, "interleaved": True,
           "head_dim": dim // heads}
    floats = np.frombuffer(raw[28:], dtype="<f4").astype(np.float64)
    pos = 0

    def take(*shape):
        nonlocal pos
        n = int(np.prod(shape))
        if pos + n > floats.size:
            die(f"{path}: file too short for its header")
        a = torch.from_numpy(floats[pos:pos + n].reshape(shape).copy())
        pos += n
        return a

    kvd = kv_heads * cfg["head_dim"]
    L = "model.layers.{}."
    w = {"model.embed_tokens.weight": take(cfg["vocab"], dim)}
    # llama2.c stores each kind of tensor for all layers together, in this order (run.c's memory_map_weights).
    for key, shape in [("input_layernorm", (dim,)), ("self_attn.q_proj", (dim, dim)), ("self_attn.k_proj", (kvd, dim)),
                       ("self_attn.v_proj", (kvd, dim)), ("self_attn.o_proj", (dim, dim)),
                       ("post_attention_layernorm", (dim,)), ("mlp.gate_proj", (hidden, dim)),
                       ("mlp.down_proj", (dim, hidden)), ("mlp.up_proj", (hidden, dim))]:
        for l in range(layers):
            w[L.format(l) + key + ".weight"] = take(*shape)
    w["model.norm.weight"] = take(dim)
    take(seq * cfg["head_dim"])  # freq_cis_real + freq_cis_imag (half head_dim each), unused
    w["lm_head.weight"] = w["model.embed_tokens.weight"] if cfg["tied"] else take(cfg["vocab"], dim)
    return cfg, w


# ---- the model ----

LINEARS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]


def rmsnorm(x, w, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w


def rope(x, cfg):
    # x: [T, heads, hd]. HF computes inv_freq = 1 / theta^(2i/d) in float32; the angle t * inv_freq here is
    # then taken in float64.
    T, _, hd = x.shape
    inv_freq = (1.0 / (cfg["theta"] ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))).to(torch.float32)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq.to(torch.float64)[None, :]  # [T, hd/2]
    cos, sin = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
    if cfg["interleaved"]:  # pairs (2i, 2i+1), as llama2.c / Meta's original
        x0, x1 = x[..., 0::2], x[..., 1::2]
        return torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1).reshape(x.shape)
    # HF rotate-half: pairs (i, i + hd/2)
    x0, x1 = x[..., :hd // 2], x[..., hd // 2:]
    return torch.cat([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1)


def loss_of_window(cfg, w, ids):
    T = ids.shape[0]
    nh, nkv, hd = cfg["heads"], cfg["kv_heads"], cfg["head_dim"]
    x = w["model.embed_tokens.weight"][ids]
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    for l in range(cfg["layers"]):
        p = f"model.layers.{l}."
        lin = lambda name, v: v @ w[p + name + ".weight"].T + (w[p + name + ".bias"] if p + name + ".bias" in w else 0)
        h = rmsnorm(x, w[p + "input_layernorm.weight"], cfg["eps"])
        q = rope(lin("self_attn.q_proj", h).view(T, nh, hd), cfg)
        k = rope(lin("self_attn.k_proj", h).view(T, nkv, hd), cfg)
        v = lin("self_attn.v_proj", h).view(T, nkv, hd)
        rep = nh // nkv  # GQA: query head j uses kv head j // rep
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        s = torch.einsum("thd,jhd->htj", q, k) / (hd ** 0.5) + mask
        att = torch.einsum("htj,jhd->thd", torch.softmax(s, dim=-1), v).reshape(T, nh * hd)
        x = x + lin("self_attn.o_proj", att)
        h = rmsnorm(x, w[p + "post_attention_layernorm.weight"], cfg["eps"])
        x = x + lin("mlp.down_proj", torch.nn.functional.silu(lin("mlp.gate_proj", h)) * lin("mlp.up_proj", h))
    logits = rmsnorm(x, w["model.norm.weight"], cfg["eps"]) @ w["lm_head.weight"].T
    return torch.nn.functional.cross_entropy(logits[:-1], ids[1:], reduction="mean")


def main():
    if len(sys.argv) != 4:
        die("usage: fisher_torch.py MODEL WINDOWS OUT_DIR")
    model, windows_path, out_dir = sys.argv[1:]
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    cfg, w = load_hf(model) if os.path.isdir(model) else load_llama2c(model)
    with open(windows_path, "rb") as f:
        raw = f.read()
    n_win, ctx = struct.unpack("<2i", raw[:8])
    toks = np.frombuffer(raw[8:], dtype="<i4")
    if toks.size != n_win * ctx:
        die(f"{windows_path}: header says {n_win} windows of {ctx} tokens but holds {toks.size} tokens")
    toks = torch.from_numpy(toks.astype(np.int64).reshape(n_win, ctx))

    # Fisher targets: every linear weight, plus lm_head when it is a separate matrix (sqz does not write
    # one for a tied head: that is the embedding table).
    names = [f"model.layers.{l}.{n}.weight" for l in range(cfg["layers"]) for n in LINEARS]
    if not cfg["tied"]:
        names.append("lm_head.weight")
    # Tied: separate leaf copies so the head's gradient does not include the embedding lookup's.
    if cfg["tied"]:
        w["lm_head.weight"] = w["lm_head.weight"].clone()
    for n in names:
        w[n].requires_grad_(True)
    fisher = {n: torch.zeros_like(w[n]) for n in names}
    losses = []
    for i in range(n_win):
        for n in names:
            w[n].grad = None
        loss = loss_of_window(cfg, w, toks[i])
        loss.backward()
        for n in names:
            fisher[n] += w[n].grad * w[n].grad
        losses.append(loss.item())
        sys.stderr.write(f"fisher_torch.py: window {i + 1}/{n_win} loss {losses[-1]:.6f}\n")

    os.makedirs(out_dir, exist_ok=True)
    manifest = {"losses": losses, "tensors": {}}
    for n in names:
        fname = n + ".f64"
        fisher[n].detach().numpy().astype("<f8").tofile(os.path.join(out_dir, fname))
        manifest["tensors"][n] = {"file": fname, "shape": list(fisher[n].shape)}
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f)


if __name__ == "__main__":
    main()

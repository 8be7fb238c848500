#!/usr/bin/env python3
"""Float64 numpy reference for a LLaMA-architecture GGUF (written for SmolLM2-135M-Instruct), independent
of sqz: the file is read with gguf-py, every tensor dequantized with gguf.quants.dequantize (float32, as
the GGUF block formats define the weights) and then computed with in float64.

The network, as llama.cpp runs general.architecture "llama":
  x = token_embd[ids]
  per block: h = rmsnorm(x) * attn_norm; q, k, v = h Wq^T, h Wk^T, h Wv^T;
             RoPE on adjacent pairs (2i, 2i+1) of each head, angle pos * freq_base^(-2i/rope_dim)
             (the converter permuted attn_q/attn_k rows so that this equals HF's rotate-half);
             causal softmax(q k^T / sqrt(head_dim)) v, query head h reading kv head h // (n_head / n_kv);
             x += attn Wo^T; h = rmsnorm(x) * ffn_norm; x += (silu(h Wg^T) * (h Wu^T)) Wd^T
  logits = (rmsnorm(x) * output_norm) W^T, W = output.weight, or token_embd when absent (tied).
  rmsnorm(x) = x / sqrt(mean(x^2) + layer_norm_rms_epsilon)

Perplexity follows sqz ppl (src/eval/perplexity.cpp): ids = [BOS if add_bos_token] + encode(text);
floor(len/ctx) windows of ctx consecutive tokens, each from an empty cache; every next-token prediction
inside a window is scored; ppl = exp(mean NLL). The first `windows` windows are computed. Text is encoded
by tests/tokenizer/reference/gguf_bpe_ref.py (Hugging Face tokenizers on the GGUF's vocabulary).
Also reports llama-perplexity's protocol on the same windows: only the second half of each window is
scored (positions ctx/2 .. ctx-2 predicting the next token, ctx/2 - 1 per window).

usage: smollm2_ref.py MODEL.gguf --text FILE --ctx 512 --windows K --prompt TEXT
Prints one JSON object: prompt_ids, last_logits (all of them), ppl, mean_nll, windows, scored, n_tokens,
ppl_second_half, scored_second_half, ppl_second_half_cumulative (after each window), seconds.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tokenizer", "reference"))
import gguf_bpe_ref  # noqa: E402


def scalar(r, key, default=None):
    f = r.fields.get(key)
    if f is None:
        return default
    return f.parts[f.data[0]][0].item()


class Model:
    def __init__(self, path):
        r = GGUFReader(path)
        arch = bytes(r.fields["general.architecture"].parts[r.fields["general.architecture"].data[0]]).decode()
        assert arch == "llama", f"{path}: architecture {arch}, not llama"
        p = arch + "."
        self.n_layer = int(scalar(r, p + "block_count"))
        self.dim = int(scalar(r, p + "embedding_length"))
        self.n_head = int(scalar(r, p + "attention.head_count"))
        self.n_kv = int(scalar(r, p + "attention.head_count_kv", self.n_head))
        self.head_dim = self.dim // self.n_head
        self.rope_dim = int(scalar(r, p + "rope.dimension_count", self.head_dim))
        self.theta = float(scalar(r, p + "rope.freq_base", 10000.0))
        self.eps = float(scalar(r, p + "attention.layer_norm_rms_epsilon"))
        self.add_bos = bool(scalar(r, "tokenizer.ggml.add_bos_token", False))
        self.bos = int(scalar(r, "tokenizer.ggml.bos_token_id", -1))
        # float32 as decoded; each product upcasts to float64 (exact), so float64 copies are not kept.
        self.w = {t.name: dequantize(t.data, t.tensor_type).reshape(tuple(int(x) for x in reversed(t.shape)))
                  for t in r.tensors}
        self.out = self.w.get("output.weight", self.w["token_embd.weight"])

    def rmsnorm(self, x, w):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps) * w.astype(np.float64)

    def rope(self, x, n):  # x: (T, n_heads, head_dim)
        T = x.shape[0]
        half = self.rope_dim // 2
        inv = self.theta ** (-2.0 * np.arange(half, dtype=np.float64) / self.rope_dim)
        ang = np.arange(T, dtype=np.float64)[:, None] * inv[None, :]
        cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        y = x.copy()
        x0, x1 = x[:, :, 0:2 * half:2], x[:, :, 1:2 * half:2]
        y[:, :, 0:2 * half:2] = x0 * cos - x1 * sin
        y[:, :, 1:2 * half:2] = x0 * sin + x1 * cos
        return y

    def mm(self, x, name):
        return x @ self.w[name].astype(np.float64).T

    def forward(self, ids):
        """Logits (T, vocab) in float64 for one sequence from an empty cache."""
        T = len(ids)
        x = self.w["token_embd.weight"][np.asarray(ids)].astype(np.float64)
        mask = np.triu(np.full((T, T), -np.inf), 1)
        group = self.n_head // self.n_kv
        for l in range(self.n_layer):
            b = f"blk.{l}."
            h = self.rmsnorm(x, self.w[b + "attn_norm.weight"])
            q = self.rope(self.mm(h, b + "attn_q.weight").reshape(T, self.n_head, self.head_dim), self.n_head)
            k = self.rope(self.mm(h, b + "attn_k.weight").reshape(T, self.n_kv, self.head_dim), self.n_kv)
            v = self.mm(h, b + "attn_v.weight").reshape(T, self.n_kv, self.head_dim)
            att = np.empty((T, self.n_head, self.head_dim))
            for hd in range(self.n_head):
                kv = hd // group
                s = q[:, hd, :] @ k[:, kv, :].T / np.sqrt(self.head_dim) + mask
                s = np.exp(s - s.max(axis=1, keepdims=True))
                s /= s.sum(axis=1, keepdims=True)
                att[:, hd, :] = s @ v[:, kv, :]
            x = x + self.mm(att.reshape(T, self.dim), b + "attn_output.weight")
            h = self.rmsnorm(x, self.w[b + "ffn_norm.weight"])
            g = self.mm(h, b + "ffn_gate.weight")
            u = self.mm(h, b + "ffn_up.weight")
            x = x + self.mm(g / (1.0 + np.exp(-g)) * u, b + "ffn_down.weight")
        x = self.rmsnorm(x, self.w["output_norm.weight"])
        return x @ self.out.astype(np.float64).T


def nll_rows(logits, targets):
    m = logits.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
    return lse - logits[np.arange(len(targets)), targets]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--text", required=True)
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--windows", type=int, default=1)
    ap.add_argument("--prompt", default="The capital of France is")
    a = ap.parse_args()
    t0 = time.time()
    tok = gguf_bpe_ref.load(a.model)
    m = Model(a.model)
    bos = [m.bos] if m.add_bos and m.bos >= 0 else []
    prompt_ids = bos + tok.encode(a.prompt, add_special_tokens=False).ids
    last = m.forward(prompt_ids)[-1]
    with open(a.text, encoding="utf-8") as f:
        ids = bos + tok.encode(f.read(), add_special_tokens=False).ids
    n_windows = min(a.windows, len(ids) // a.ctx)
    total, scored, total2, scored2 = 0.0, 0, 0.0, 0
    cumulative2 = []  # what llama-perplexity prints as [1], [2], ...
    for w in range(n_windows):
        win = ids[w * a.ctx:(w + 1) * a.ctx]
        nll = nll_rows(m.forward(win)[:-1], np.asarray(win[1:]))
        total += nll.sum()
        scored += len(nll)
        second = nll[a.ctx // 2:]  # llama-perplexity: positions ctx/2 .. ctx-2
        total2 += second.sum()
        scored2 += len(second)
        cumulative2.append(float(np.exp(total2 / scored2)))
    print(json.dumps({
        "prompt": a.prompt, "prompt_ids": prompt_ids, "last_logits": last.tolist(),
        "ctx": a.ctx, "windows": n_windows, "scored": scored, "n_tokens": len(ids),
        "mean_nll": total / scored, "ppl": float(np.exp(total / scored)),
        "scored_second_half": scored2, "ppl_second_half": float(np.exp(total2 / scored2)),
        "ppl_second_half_cumulative": cumulative2,
        "seconds": time.time() - t0,
    }))


if __name__ == "__main__":
    main()

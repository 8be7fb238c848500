#!/usr/bin/env python3
"""Writes books-6m (a Hugging Face LLaMA directory) as an F16 GGUF, with the metadata llama.cpp's
convert_hf_to_gguf.py would write for it (its SentencePiece path), for checks against llama.cpp's tools
(llama-tokenize, llama-perplexity). Not used by the test suite.

The converter itself needs torch and transformers; this script needs only gguf-py, numpy and
sentencepiece. What it copies, as the converter does for a LLaMA model with a tokenizer.model:
  tokenizer.ggml.model = "llama", tokenizer.ggml.pre = "default";
  tokens / scores / token types from SentencePiece (unknown 2, control 3, unused 5, byte 6, else normal 1);
  bos/eos ids from config.json, add_bos/add_eos from tokenizer_config.json (gguf.SpecialVocab);
  no add_space_prefix key (tokenizer_config.json has no add_prefix_space), so llama.cpp's default for
  SentencePiece vocabularies (a space prefix) applies. SentencePiece's normalizer settings
  (remove_extra_whitespaces, ...) are not written: the converter does not copy them.
Weights: F16 for matrices, F32 for norms; attn_q / attn_k rows permuted so RoPE acts on adjacent pairs.

usage: books6m_to_gguf.py MODEL_DIR OUT.gguf
"""
import json
import struct
import sys
from pathlib import Path

import numpy as np
import gguf
import sentencepiece


def read_safetensors(path):
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    dtypes = {"F16": np.float16, "F32": np.float32, "BF16": None}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        dt = dtypes[info["dtype"]]
        if dt is None:
            u = np.frombuffer(raw[base + a:base + b], dtype=np.uint16).astype(np.uint32) << 16
            arr = u.view(np.float32)
        else:
            arr = np.frombuffer(raw[base + a:base + b], dtype=dt)
        out[name] = arr.reshape(info["shape"])
    return out


def permute_rope(w, n_head):
    # HF's rotate-half layout -> adjacent pairs (the converter's LlamaModel.permute).
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def main():
    model_dir, out = Path(sys.argv[1]), sys.argv[2]
    cfg = json.loads((model_dir / "config.json").read_text())
    tok_cfg = json.loads((model_dir / "tokenizer_config.json").read_text())
    sp = sentencepiece.SentencePieceProcessor(model_file=str(model_dir / "tokenizer.model"))

    w = gguf.GGUFWriter(out, "llama")
    w.add_name("books-6m")
    n_head, n_kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    dim = cfg["hidden_size"]
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(dim)
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_rope_dimension_count(dim // n_head)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_rope_freq_base(cfg["rope_theta"])
    w.add_vocab_size(cfg["vocab_size"])
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)

    tokens, scores, types = [], [], []
    for i in range(sp.vocab_size()):
        tokens.append(sp.id_to_piece(i).encode("utf-8"))
        scores.append(sp.get_score(i))
        t = gguf.TokenType.NORMAL
        if sp.is_unknown(i):
            t = gguf.TokenType.UNKNOWN
        elif sp.is_control(i):
            t = gguf.TokenType.CONTROL
        elif sp.is_unused(i):
            t = gguf.TokenType.UNUSED
        elif sp.is_byte(i):
            t = gguf.TokenType.BYTE
        types.append(t)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(cfg["bos_token_id"])
    w.add_eos_token_id(cfg["eos_token_id"])
    w.add_add_bos_token(bool(tok_cfg.get("add_bos_token", True)))
    w.add_add_eos_token(bool(tok_cfg.get("add_eos_token", False)))

    names = {
        "model.embed_tokens.weight": "token_embd.weight",
        "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight",
    }
    per_layer = {
        "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
        "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
        "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
        "mlp.down_proj": "ffn_down",
    }
    for name, arr in read_safetensors(model_dir / "model.safetensors").items():
        if name in names:
            gname = names[name]
        else:
            parts = name.split(".")  # model.layers.N.<module...>.weight
            gname = f"blk.{parts[2]}.{per_layer['.'.join(parts[3:-1])]}.weight"
        arr = arr.astype(np.float32)
        if gname.endswith("attn_q.weight"):
            arr = permute_rope(arr, n_head)
        elif gname.endswith("attn_k.weight"):
            arr = permute_rope(arr, n_kv)
        arr = arr.astype(np.float16) if arr.ndim == 2 else arr
        w.add_tensor(gname, np.ascontiguousarray(arr))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()

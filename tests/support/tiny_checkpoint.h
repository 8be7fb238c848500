// Test support (not part of the product): small random LLaMA checkpoints on disk, for tests of every layer
// that reads checkpoints. The same
// (config, seed) always gives the same weights on every platform, and the three writers store the same
// model: the GGUF and llama2.c files hold q/k rows permuted for interleaved RoPE exactly as llama.cpp's and
// llama2.c's converters do, so all three must produce the same logits.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/config.h"

namespace sqz {

// A config for a tiny model: dim 32, 2 layers, 4 heads, 2 kv heads (head_dim 8), hidden 48, vocab 64,
// context 64.
ModelConfig tiny_config();

struct TinyTensor {
  std::string name;  // HF name
  Shape shape;       // HF shape ([out, in] for linear weights)
  std::vector<float> data;
};

// The weights write_tiny_* store (before rounding to the file dtype), in HF layout: every tensor the
// config implies (biases when it says so, lm_head unless tied). Linear weights ~ N(0, 1/in), norms
// ~ 1 + N(0, 0.1^2), embeddings ~ N(0, 1), biases ~ N(0, 0.1^2) (random_normal of core/rng.h).
// Deterministic in `seed`.
std::vector<TinyTensor> tiny_model_weights(const ModelConfig& cfg, uint64_t seed);

// A llama2.c tokenizer.bin whose tokens are single characters (ids 0-2 "?", then ' ', '!', ...), so a tiny
// checkpoint can tokenize text in tests.
void write_tiny_char_tokenizer(const std::string& path, int vocab_size);

// Writes DIR/config.json and DIR/model.safetensors (every tensor in `dtype`: F32, F16 or BF16). Creates DIR.
void write_tiny_hf_model(const std::string& dir, const ModelConfig& cfg, uint64_t seed, DType dtype = DType::F32);

// Writes a GGUF v3 file like llama.cpp's converter: norms in F32, other tensors in `weight_type` ("F32",
// "F16", "BF16" or a GGUF block type of the format table, "q8_0", "q4_k", ..., F16 where its blocks do not
// fit the rows), q/k permuted for llama/mistral (not qwen2), a placeholder vocabulary of cfg.vocab_size tokens.
void write_tiny_gguf(const std::string& path, const ModelConfig& cfg, uint64_t seed, const std::string& weight_type = "F32");

// Writes a llama2.c v0 .bin (fp32; shared classifier iff cfg.tied_embeddings). Needs q_dim == dim and
// no biases, as llama2.c does.
void write_tiny_llama2c(const std::string& path, const ModelConfig& cfg, uint64_t seed);

// Reorders the rows of an HF q or k weight [n_heads * head_dim, in] from rotate-half to interleaved RoPE
// pairing (llama.cpp's `permute`): new row h*hd + 2i + s = old row h*hd + s*hd/2 + i.
std::vector<float> permute_rows_for_interleaved_rope(const std::vector<float>& w, int n_heads, int head_dim, int64_t in);

// fp32 values encoded as `dtype` (F32, F16 or BF16).
std::vector<uint8_t> encode_f32(const std::vector<float>& v, DType dtype);

}  // namespace sqz

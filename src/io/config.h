// Architecture of a LLaMA-family model, whichever file format it came from.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace sqz {

// How RoPE pairs the dimensions of a head: HF checkpoints rotate (i, i + d/2) ("rotate-half"); llama2.c
// and GGUF llama files pair (2i, 2i+1) ("interleaved"), their q/k weights being permuted accordingly.
enum class RopeLayout { RotateHalf, Interleaved };

struct ModelConfig {
  std::string arch = "llama";  // llama | mistral | qwen2
  int dim = 0;                 // hidden_size
  int hidden_dim = 0;          // intermediate_size
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;  // dim / n_heads unless the config says otherwise
  int vocab_size = 0;
  int max_seq_len = 2048;
  float rope_theta = 10000.0f;
  float norm_eps = 1e-5f;
  bool tied_embeddings = false;
  bool attn_bias = false;  // q/k/v biases (qwen2)
  bool attn_out_bias = false;
  bool mlp_bias = false;
  RopeLayout rope_layout = RopeLayout::RotateHalf;
  int bos_id = 1;
  int eos_id = 2;

  int q_dim() const { return n_heads * head_dim; }
  int kv_dim() const { return n_kv_heads * head_dim; }
  void validate(const std::string& source) const;  // throws Error naming `source`
};

// Parses a Hugging Face config.json (llama, mistral, qwen2 model_type).
ModelConfig parse_hf_config(const nlohmann::json& j, const std::string& source);
ModelConfig load_hf_config(const std::string& path);

}  // namespace sqz

namespace sqz {
// The Hugging Face config.json for a config (for checkpoints converted from GGUF or llama2.c). Writes
// "rope_layout": "interleaved" when the q/k weights are in that pairing, which parse_hf_config honours.
nlohmann::json to_hf_config(const ModelConfig& c);
}  // namespace sqz

#include "io/config.h"

namespace sqz {

nlohmann::json to_hf_config(const ModelConfig& c) {
  nlohmann::json j = {
      {"architectures", {c.arch == "qwen2" ? "Qwen2ForCausalLM" : c.arch == "mistral" ? "MistralForCausalLM" : "LlamaForCausalLM"}},
      {"model_type", c.arch},
      {"hidden_size", c.dim},
      {"intermediate_size", c.hidden_dim},
      {"num_hidden_layers", c.n_layers},
      {"num_attention_heads", c.n_heads},
      {"num_key_value_heads", c.n_kv_heads},
      {"head_dim", c.head_dim},
      {"vocab_size", c.vocab_size},
      {"max_position_embeddings", c.max_seq_len},
      {"rms_norm_eps", c.norm_eps},
      {"rope_theta", c.rope_theta},
      {"hidden_act", "silu"},
      {"tie_word_embeddings", c.tied_embeddings},
      {"bos_token_id", c.bos_id},
      {"eos_token_id", c.eos_id},
  };
  if (c.rope_layout == RopeLayout::Interleaved) j["rope_layout"] = "interleaved";
  if (c.arch == "llama") {
    j["attention_bias"] = c.attn_bias;
    j["mlp_bias"] = c.mlp_bias;
  }
  return j;
}

}  // namespace sqz

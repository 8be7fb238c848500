// The vocabulary of a LLaMA-family model's tensors: the seven linear layers of a decoder block (their
// order, Hugging Face and GGUF names, the input each multiplies, their [out, in] shapes and biases from a
// ModelConfig), the per-layer norms, and the one map between GGUF and HF tensor names.
//
// It lives in io, not model: the checkpoint readers are the lowest layer that needs these names (to
// validate and rename what a file holds), and io may not include model. Every layer above (model, calib,
// quant, train, eval) reads the same table, so a name or shape is spelled once in the whole tree.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/config.h"

namespace sqz {

// A width of the model, as its config gives it.
enum class Width { Model, Q, KV, Hidden };  // dim, n_heads * head_dim, n_kv_heads * head_dim, hidden_dim
int64_t width(const ModelConfig& c, Width w);

// The distinct inputs of a block's linear layers (q/k/v share one, gate/up share one); the calibration
// statistics and the input hook are per input, not per linear.
enum class LinearInput { Attn, AttnOut, Mlp, MlpDown };
constexpr int kNumLinearInputs = 4;

struct LinearInputSpec {
  const char* name;  // in statistics names: model.layers.{i}.{name}.hessian
  Width width;       // its channels
};
inline constexpr std::array<LinearInputSpec, kNumLinearInputs> kLinearInputs = {{
    {"attn", Width::Model},       // input_layernorm(x)
    {"attn_out", Width::Q},       // the attention output
    {"mlp", Width::Model},        // post_attention_layernorm(x)
    {"mlp_down", Width::Hidden},  // silu(gate) * up
}};
inline const char* linear_input_name(LinearInput i) { return kLinearInputs[(size_t)i].name; }
inline int64_t linear_input_dim(const ModelConfig& c, LinearInput i) { return width(c, kLinearInputs[(size_t)i].width); }

// The linears of a block, in the order of every per-layer table (index with these).
enum LinearSlot : int { kQ = 0, kK, kV, kO, kGate, kUp, kDown };
inline constexpr int kNumSlots = kDown + 1;

struct LinearSpec {
  const char* hf;           // model.layers.{i}.{hf}.weight
  const char* gguf;         // blk.{i}.{gguf}.weight
  LinearInput input;        // what it multiplies; its width is the weight's `in`
  Width out;                // the weight's rows
  bool ModelConfig::*bias;  // the config flag that gives it a bias
};
inline constexpr std::array<LinearSpec, kNumSlots> kLinears = {{
    {"self_attn.q_proj", "attn_q", LinearInput::Attn, Width::Q, &ModelConfig::attn_bias},
    {"self_attn.k_proj", "attn_k", LinearInput::Attn, Width::KV, &ModelConfig::attn_bias},
    {"self_attn.v_proj", "attn_v", LinearInput::Attn, Width::KV, &ModelConfig::attn_bias},
    {"self_attn.o_proj", "attn_output", LinearInput::AttnOut, Width::Model, &ModelConfig::attn_out_bias},
    {"mlp.gate_proj", "ffn_gate", LinearInput::Mlp, Width::Hidden, &ModelConfig::mlp_bias},
    {"mlp.up_proj", "ffn_up", LinearInput::Mlp, Width::Hidden, &ModelConfig::mlp_bias},
    {"mlp.down_proj", "ffn_down", LinearInput::MlpDown, Width::Model, &ModelConfig::mlp_bias},
}};
inline const char* slot_name(int s) { return kLinears[(size_t)s].hf; }  // "self_attn.q_proj"
inline LinearInput slot_input(int s) { return kLinears[(size_t)s].input; }
inline int64_t linear_out(const ModelConfig& c, int s) { return width(c, kLinears[(size_t)s].out); }
inline int64_t linear_in(const ModelConfig& c, int s) { return linear_input_dim(c, kLinears[(size_t)s].input); }
inline Shape linear_shape(const ModelConfig& c, int s) { return {linear_out(c, s), linear_in(c, s)}; }
inline bool linear_has_bias(const ModelConfig& c, int s) { return c.*kLinears[(size_t)s].bias; }

// A tensor's name in a Hugging Face checkpoint and in a GGUF file (llama.cpp's converter's).
struct TensorNames {
  const char* hf;
  const char* gguf;
};
inline constexpr TensorNames kEmbedding = {"model.embed_tokens.weight", "token_embd.weight"};  // [vocab, dim]
inline constexpr TensorNames kFinalNorm = {"model.norm.weight", "output_norm.weight"};         // [dim]
inline constexpr TensorNames kLmHead = {"lm_head.weight", "output.weight"};  // [vocab, dim], absent when tied

// The two RMSNorm weights of a block, [dim] each (name parts, like LinearSpec's).
enum LayerNorm : int { kAttnNorm = 0, kFfnNorm };
inline constexpr std::array<TensorNames, 2> kLayerNorms = {{{"input_layernorm", "attn_norm"},
                                                             {"post_attention_layernorm", "ffn_norm"}}};

// HF names: layer_prefix(3) = "model.layers.3."; linear_name(3, kQ) = "model.layers.3.self_attn.q_proj"
// (append ".weight", ".bias" or a quantized suffix); norm_name(3, kAttnNorm) =
// "model.layers.3.input_layernorm.weight".
std::string layer_prefix(int layer);
std::string linear_name(int layer, int slot);
std::string norm_name(int layer, int norm);

// GGUF tensor name -> HF name, or nullopt for tensors sqz does not use (rope_freqs, ...).
std::optional<std::string> hf_name_of_gguf(const std::string& gguf);
// HF name -> GGUF name (llama.cpp's), or nullopt for a name outside the vocabulary.
std::optional<std::string> gguf_name_of_hf(const std::string& hf);

}  // namespace sqz

// LLaMA-family decoder (llama, mistral, qwen2): RMSNorm, RoPE, grouped-query attention with a KV cache,
// SwiGLU MLP, tied or untied head. One forward() serves batched prefill (n tokens, sgemm through the
// Linear layers) and decode (n = 1, reusing the cache).
#pragma once
#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/checkpoint.h"
#include "io/tensor_names.h"
#include "kernels/format.h"
#include "model/linear.h"

namespace sqz {

struct LayerWeights {
  std::vector<float> attn_norm, ffn_norm;
  std::array<std::unique_ptr<Linear>, kNumSlots> linear;  // indexed by LinearSlot (io/tensor_names.h)

  std::array<const Linear*, kNumSlots> linears() const;
};

class KVCache {
 public:
  KVCache(const ModelConfig& c, int64_t max_len);
  float* k(int layer) { return k_.data() + (size_t)layer * max_len_ * kv_dim_; }
  float* v(int layer) { return v_.data() + (size_t)layer * max_len_ * kv_dim_; }
  int64_t len() const { return len_; }
  int64_t max_len() const { return max_len_; }
  void clear() { len_ = 0; }
  void advance(int64_t n) { len_ += n; }

 private:
  int64_t max_len_, kv_dim_, len_ = 0;
  std::vector<float> k_, v_;
};

// Called with every linear layer input during forward (calibration statistics, AWQ/SmoothQuant search).
using LinearInputHook = std::function<void(int layer, LinearInput which, const float* X, int64_t n, int64_t dim)>;

// Builds a Linear for the weight named `base` + ".weight" (or its quantized tensors) of a checkpoint.
using LinearFactory = std::function<std::unique_ptr<Linear>(const Checkpoint&, const std::string& base,
                                                           int64_t out, int64_t in)>;

class LlamaModel {
 public:
  // Loads weights through `factory` (default: make_linear, which reads dense and quantized formats).
  explicit LlamaModel(std::shared_ptr<const Checkpoint> ckpt, LinearFactory factory = nullptr);
  // A model whose weights are given directly (tests, training).
  LlamaModel(ModelConfig cfg, std::vector<float> embed, std::vector<LayerWeights> layers, std::vector<float> final_norm,
             std::unique_ptr<Linear> lm_head);

  const ModelConfig& config() const { return cfg_; }
  const Checkpoint* checkpoint() const { return ckpt_.get(); }

  // Runs n tokens at positions cache.len()..cache.len()+n-1 and appends them to the cache. Writes logits
  // [n, vocab] when all_logits, else only the last token's [vocab].
  void forward(const int* tokens, int64_t n, KVCache& cache, float* logits, bool all_logits) const;

  void set_input_hook(LinearInputHook h) { hook_ = std::move(h); }

  std::vector<LayerWeights>& layers() { return layers_; }
  const std::vector<LayerWeights>& layers() const { return layers_; }
  Linear& lm_head() { return *lm_head_; }
  const Linear& lm_head() const { return *lm_head_; }
  std::vector<float>& final_norm() { return final_norm_; }
  const std::vector<float>& final_norm() const { return final_norm_; }
  void embed(int token, float* out) const;  // one row of the token embedding
  const TensorView& embedding() const { return embed_; }

  // Parameter count and bytes of all weights as this model holds them.
  int64_t n_params() const;
  size_t weight_bytes() const;

 private:
  ModelConfig cfg_;
  std::shared_ptr<const Checkpoint> ckpt_;
  std::vector<float> embed_owned_;
  TensorView embed_;
  std::optional<kernels::PackedMatrix> embed_packed_;  // a block-quantized (GGUF) embedding, checked once
  std::vector<LayerWeights> layers_;
  std::vector<float> final_norm_;
  std::unique_ptr<Linear> lm_head_;
  LinearInputHook hook_;
};

// Default LinearFactory: DenseLinear over `base.weight`, or the quantized format named by the
// checkpoint's quantization_config (see model/quantized_linear.h).
std::unique_ptr<Linear> make_linear(const Checkpoint& ckpt, const std::string& base, int64_t out, int64_t in);

// Opens a checkpoint and builds the model.
std::unique_ptr<LlamaModel> load_model(const std::string& path);

}  // namespace sqz

// The GPU engine of the LLaMA decoder: weights, activations and the KV cache resident on the device; the
// forward pass of model/llama.cpp (RMSNorm, RoPE in either pairing, grouped-query attention, SwiGLU, tied
// or untied head) with each linear layer a product of cuda_kernels.h in its stored format. It takes a plain
// description (dimensions, device matrices), not a model: the model layer's adapter (model/cuda_engine.h)
// uploads a LlamaModel, and the benchmark builds random 7B-shaped weights on the device.
//
// Numerics: the residual stream, attention, the KV cache and the logits are fp32; the inputs of the linear
// layers are fp16 (the tensor cores' operands) and their products accumulate in fp32; dense weights are
// fp16. CUDA-free header.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/cuda/cuda_kernels.h"

namespace sqz::kernels::cuda {

struct EngineConfig {
  int64_t dim = 0, hidden = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0, vocab = 0;
  int64_t max_len = 0;  // KV-cache positions
  float rope_theta = 10000.f, norm_eps = 1e-5f;
  bool rope_interleaved = false;  // pairs (2i, 2i+1) (llama2.c, GGUF); else (i, i + head_dim / 2) (HF)
};

struct EngineLayer {
  DeviceBuffer attn_norm, ffn_norm;  // fp32 [dim]
  DeviceMatrix q, k, v, o, gate, up, down;
};

struct EngineWeights {
  DeviceBuffer embed;  // fp32 [vocab, dim]
  std::vector<EngineLayer> layers;
  DeviceBuffer final_norm;  // fp32 [dim]
  DeviceMatrix head;        // [vocab, dim]
};

class LlamaEngine {
 public:
  // Throws Error when a dimension does not fit (head_dim > 256, n_heads not a multiple of n_kv_heads, ...).
  LlamaEngine(const EngineConfig& c, EngineWeights w);
  ~LlamaEngine();
  LlamaEngine(const LlamaEngine&) = delete;
  LlamaEngine& operator=(const LlamaEngine&) = delete;

  const EngineConfig& config() const { return c_; }
  const EngineWeights& weights() const { return w_; }
  int64_t len() const { return len_; }
  void clear() { len_ = 0; }

  // As LlamaModel::forward: n tokens (host ids) at positions len()..len()+n-1, appended to the cache; host
  // logits [n, vocab] when all_logits, else the last token's [vocab].
  void forward(const int* tokens, int64_t n, float* logits, bool all_logits);

  // Greedy decode of `steps` tokens after `first` (position len()), entirely on the device: one step
  // (embedding ... head, argmax) captured as a CUDA graph and replayed (graph = false: launched directly).
  // Returns the seconds the steps took (device events) and the tokens chosen.
  struct Decode {
    double seconds = 0;
    std::vector<int> tokens;
  };
  Decode greedy_decode(int first, int64_t steps, bool graph = true);

  size_t weight_bytes() const;            // every weight the engine holds
  size_t decode_bytes_per_token() const;  // read by one decode step: all linears, norms, the head, one embedding row

 private:
  void layers_forward(int64_t n);  // tokens in tok_, position in pos_, n <= chunk_
  void head_forward(int64_t n, bool all);
  void linear(const DeviceMatrix& m, const uint16_t* x, int64_t ldx, int64_t n, float* y, int64_t ldy, bool accumulate);

  EngineConfig c_;
  EngineWeights w_;
  std::unique_ptr<Context> ctx_;
  int64_t len_ = 0, chunk_ = 0;
  int64_t ld_dim_ = 0, ld_q_ = 0, ld_hid_ = 0;
  DeviceBuffer x_, xn_, q_, knew_, vnew_, att_, g_, g32_, u32_, logits_, tok_, pos_, hist_, kcache_, vcache_, freq_;
  bool qkv_fused_ = false, gate_up_fused_ = false;
};

}  // namespace sqz::kernels::cuda

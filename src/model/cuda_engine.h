// The GPU path of a LlamaModel: its weights uploaded in their stored formats (packed formats with CUDA
// kernels as stored, dense weights as fp16) and run by the CUDA engine (kernels/cuda/llama_engine.h) with
// its own KV cache on the device. Compiled in every build: without CUDA, constructing one throws Error
// "this sqz was built without CUDA"; without a device, "no CUDA device: ...".
//
// Numerics against LlamaModel::forward: fp16 inputs to every linear layer and fp16 dense weights, fp32
// accumulation, residual stream, attention and KV cache (tests/cuda/engine_test.cpp states the tolerance).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/llama.h"

namespace sqz {

// Whether this build has the CUDA kernels.
bool cuda_built();
// "" when the GPU path can run here, else why not ("this sqz was built without CUDA", "no CUDA device: ...").
std::string cuda_unavailable_reason();

struct CudaBenchResult {
  double prefill_tokens_per_s = 0, decode_tokens_per_s = 0;
  size_t decode_bytes_per_token = 0;  // weights one decode step reads on the device
  double decode_bytes_per_s = 0;
};

struct CudaDecode {
  double seconds = 0;       // device time of the steps
  std::vector<int> tokens;  // the greedy choices
};

class CudaLlama {
 public:
  // Uploads `model` for sequences of up to max_len tokens. Linears whose packed format has no CUDA kernel
  // run as fp16 dense weights (fallbacks() names them).
  CudaLlama(const LlamaModel& model, int64_t max_len);
  ~CudaLlama();
  CudaLlama(const CudaLlama&) = delete;
  CudaLlama& operator=(const CudaLlama&) = delete;

  const ModelConfig& config() const { return cfg_; }
  int64_t max_len() const { return max_len_; }
  int64_t len() const;
  void clear();
  // As LlamaModel::forward with this object's cache: n tokens at positions len()..len()+n-1; logits
  // [n, vocab] when all_logits, else the last token's [vocab] (host memory).
  void forward(const int* tokens, int64_t n, float* logits, bool all_logits);
  // One perplexity window (eval/perplexity.h's protocol): clear, then logits [n, vocab] of every position.
  void forward_window(const int* tokens, int64_t n, float* logits);
  // `sqz bench` on the device: prefill of prompt_tokens seeded-random tokens, then gen_tokens greedy decode
  // steps replayed from a CUDA graph; the best of `repeats`.
  CudaBenchResult bench(int64_t prompt_tokens, int64_t gen_tokens, int repeats, uint64_t seed);
  // Greedy decode of `steps` tokens after `first` at position len(), on the device (graph: one captured
  // step replayed; else launched step by step).
  CudaDecode greedy_decode(int first, int64_t steps, bool graph = true);

  std::vector<std::string> fallbacks() const { return fallbacks_; }
  std::string device_name() const;
  size_t device_weight_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  ModelConfig cfg_;
  int64_t max_len_ = 0;
  std::vector<std::string> fallbacks_;
};

}  // namespace sqz

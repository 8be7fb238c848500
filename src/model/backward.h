// Training forward and hand-written backward pass for the LLaMA-family model, readable top to bottom
// (in the spirit of llm.c). Templated on the scalar type: float for calibration and fine-tuning, double
// for the finite-difference gradient checks in tests/model/backward_test.cpp.
//
// Loss of one sequence of T tokens (batch 1): mean over t < T-1 of cross-entropy(logits[t], tokens[t+1]).
#pragma once
#include <cstdint>
#include <vector>

#include "io/config.h"
#include "model/llama.h"

namespace sqz {

// The weights a training pass reads, dense, in scalar type T. Linear weights are [out, in] row-major.
template <typename T>
struct DenseWeights {
  ModelConfig cfg;
  std::vector<T> embed;  // [vocab, dim]
  struct Layer {
    std::vector<T> attn_norm, ffn_norm;
    std::vector<T> W[7];  // q k v o gate up down (LayerWeights::linears() order)
    std::vector<T> bias[7];  // empty when the linear has none
  };
  std::vector<Layer> layers;
  std::vector<T> final_norm;
  std::vector<T> lm_head;  // [vocab, dim]; equals embed when tied (kept separately for simplicity)

  // Dequantizes every Linear of a model once (Linear::dequantize), so repeated passes reuse it.
  static DenseWeights from_model(const LlamaModel& m);
};

// Gradients of the loss with respect to every weight, same layout as DenseWeights.
template <typename T>
struct Gradients {
  struct Layer {
    std::vector<T> attn_norm, ffn_norm;
    std::vector<T> W[7];
    std::vector<T> bias[7];
  };
  std::vector<Layer> layers;
  std::vector<T> final_norm;
  std::vector<T> lm_head;
  explicit Gradients(const DenseWeights<T>& w);
  void zero();
};

// Forward + backward for one sequence. Returns the loss; fills `g` (overwritten) when non-null.
template <typename T>
double loss_and_grad(const DenseWeights<T>& w, const int* tokens, int64_t n_tokens, Gradients<T>* g);

extern template struct DenseWeights<float>;
extern template struct DenseWeights<double>;
extern template struct Gradients<float>;
extern template struct Gradients<double>;
extern template double loss_and_grad<float>(const DenseWeights<float>&, const int*, int64_t, Gradients<float>*);
extern template double loss_and_grad<double>(const DenseWeights<double>&, const int*, int64_t, Gradients<double>*);

}  // namespace sqz

// Training forward and hand-written backward pass for the LLaMA-family model, readable top to bottom
// (in the spirit of llm.c). Templated on the scalar type: float for calibration and fine-tuning, double
// for the finite-difference gradient checks in tests/model/backward_test.cpp.
//
// Loss of one sequence of T tokens (batch 1): mean over t < T-1 of cross-entropy(logits[t], tokens[t+1]).
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "io/config.h"
#include "io/tensor_names.h"
#include "model/llama.h"

namespace sqz {

// One decoder block's parameters (or their gradients), in scalar type T: the two norms and the seven
// linears' weights ([out, in] row-major) and biases (empty when the linear has none), indexed by
// LinearSlot (io/tensor_names.h), e.g. W[kQ], bias[kDown].
template <typename T>
struct BlockTensors {
  std::vector<T> attn_norm, ffn_norm;
  std::array<std::vector<T>, kNumSlots> W, bias;

  // The same sizes, all zero.
  static BlockTensors zeros_like(const BlockTensors& b);
  void zero();
};

// The weights a training pass reads, dense, in scalar type T.
template <typename T>
struct DenseWeights {
  using Layer = BlockTensors<T>;
  ModelConfig cfg;
  std::vector<T> embed;  // [vocab, dim]
  std::vector<Layer> layers;
  std::vector<T> final_norm;
  std::vector<T> lm_head;  // [vocab, dim]; equals embed when tied (kept separately for simplicity)

  // Dequantizes every Linear of a model once (Linear::dequantize), so repeated passes reuse it.
  static DenseWeights from_model(const LlamaModel& m);
};

// Gradients of the loss with respect to every weight, same layout as DenseWeights.
template <typename T>
struct Gradients {
  using Layer = BlockTensors<T>;
  std::vector<Layer> layers;
  std::vector<T> final_norm;
  std::vector<T> lm_head;
  // dL/d embed [vocab, dim]. Left empty by the constructor (a whole embedding table of zeros costs memory
  // that calibration and fine-tuning do not need); a caller that trains the embedding (pretraining)
  // resizes it to vocab * dim and the pass then fills it.
  std::vector<T> embed;
  explicit Gradients(const DenseWeights<T>& w);
  void zero();
};

// Forward + backward for one sequence. Returns the loss; fills `g` (overwritten) when non-null.
template <typename T>
double loss_and_grad(const DenseWeights<T>& w, const int* tokens, int64_t n_tokens, Gradients<T>* g);

// Streamed gradients, for callers that only reduce them (calibration's Fisher): the backward pass fills one
// layer's gradient buffer at a time and hands it over as soon as that layer is complete, so a whole-model
// Gradients (as large as the weights) is never allocated. The values are bit-identical to loss_and_grad's.
template <typename T>
struct GradientSink {
  virtual ~GradientSink() = default;
  // dL/d lm_head [vocab, dim] and dL/d final_norm; called first.
  virtual void head(const std::vector<T>& lm_head, const std::vector<T>& final_norm) = 0;
  // Layer l's gradients, for l = n_layers-1 down to 0; the buffer is reused for the next layer.
  virtual void layer(int l, const typename Gradients<T>::Layer& g) = 0;
};

// The cross-entropy pass of loss_and_grad, with the gradients streamed to `sink`. Returns the loss.
template <typename T>
double loss_and_streamed_grad(const DenseWeights<T>& w, const int* tokens, int64_t n_tokens, GradientSink<T>& sink);

// Knowledge distillation: the same pass with the loss mean over t < T-1 of KL(teacher || model) between the
// softmax of teacher_logits[t] ([n_tokens, vocab] row-major, e.g. the fp16 original's) and the model's.
// Returns that mean KL; fills `g` (overwritten) when non-null.
template <typename T>
double kd_loss_and_grad(const DenseWeights<T>& w, const int* tokens, int64_t n_tokens, const T* teacher_logits,
                        Gradients<T>* g);

extern template struct BlockTensors<float>;
extern template struct BlockTensors<double>;
extern template struct DenseWeights<float>;
extern template struct DenseWeights<double>;
extern template struct Gradients<float>;
extern template struct Gradients<double>;
extern template double loss_and_grad<float>(const DenseWeights<float>&, const int*, int64_t, Gradients<float>*);
extern template double loss_and_grad<double>(const DenseWeights<double>&, const int*, int64_t, Gradients<double>*);
extern template double loss_and_streamed_grad<float>(const DenseWeights<float>&, const int*, int64_t,
                                                     GradientSink<float>&);
extern template double loss_and_streamed_grad<double>(const DenseWeights<double>&, const int*, int64_t,
                                                      GradientSink<double>&);
extern template double kd_loss_and_grad<float>(const DenseWeights<float>&, const int*, int64_t, const float*,
                                               Gradients<float>*);
extern template double kd_loss_and_grad<double>(const DenseWeights<double>&, const int*, int64_t, const double*,
                                                Gradients<double>*);

}  // namespace sqz

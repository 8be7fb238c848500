// `sqz finetune`: quantization-aware fine-tuning of a directory `sqz quantize` wrote. The quantized codes
// (.qweight) stay fixed; what trains are the stored continuous parameters that turn codes into weights:
//   SqueezeLLM   .lut (per-row centroids) and .sparse_values (the fp16 sparse part)
//   rtn/gptq/awq .scales and .qzeros           (W = (q - z) * s per group)
//   NF4          .absmax                       (W = NF4[q] * absmax[block]; not with double quantization)
// plus every RMSNorm weight. The loss is next-token cross-entropy, or with a teacher (knowledge
// distillation) the KL divergence from the teacher's next-token distribution.
//
// Gradients of the stored parameters come from the dense weight gradients of the backward pass
// (model/backward.h) by the chain rule:
//   LUT      dL/dlut[r, k]  = sum over columns c with idx(r, c) = k of dL/dW[r, c];  dL/dS[i] = dL/dW at entry i
//   uniform  dL/ds[r, g]    = sum over the group of dL/dW * (q - z);  dL/dz[r, g] = -sum over the group of dL/dW * s
//   NF4      dL/dabsmax[b]  = sum over the block of dL/dW * NF4[q]
// The parameters are kept as fp32 masters; the forward pass reads them rounded to their stored dtype
// through the format's own decoder (the row of kernels/format.h the loader uses, so the model trained is
// the model written), and AdamW updates the masters (straight-through rounding). The unrounded weights
// (the continuous function the gradients above differentiate, checked against finite differences in
// double) are computed by the formulas above.
#pragma once
#include <nlohmann/json.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "core/options.h"
#include "core/tensor.h"
#include "io/checkpoint.h"
#include "model/backward.h"
#include "model/llama.h"
#include "model/quantized_linear.h"

namespace sqz::train {

// One stored tensor that trains: its master copy and gradient, in scalar type T.
template <typename T>
struct TrainTensor {
  std::string name;  // full tensor name in the checkpoint, e.g. "model.layers.0.mlp.up_proj.lut"
  Shape shape;
  DType stored = DType::F16;  // the dtype it is written in (F16 or F32)
  std::vector<T> value, grad;
  // The value the forward pass reads: value[i] rounded to the stored dtype when `round` is set.
  T read(size_t i, bool round) const;
};

// The trainable form of one quantized linear (fixed codes + continuous parameters).
template <typename T>
struct QuantLinearParams {
  enum class Kind { Lut, Group, Nf4 };
  Kind kind = Kind::Lut;
  LinearFormat format;          // its row of the format table and parameters
  std::vector<uint32_t> packed;  // the stored .qweight words (decoded by the row with the rounded parameters)
  std::string base;  // e.g. "model.layers.3.mlp.down_proj" or "lm_head"
  int layer = -1;    // -1: lm_head
  int slot = 0;      // its LinearSlot (io/tensor_names.h); 0 for lm_head
  int64_t out = 0, in = 0;
  int bits = 0;
  std::vector<uint8_t> idx;  // [out, in] codes, unpacked from .qweight
  // Lut
  TrainTensor<T> lut, sparse_values;  // sparse_values.value is empty without a sparse part
  std::vector<int32_t> sparse_row_ptr, sparse_col_idx;
  // Group
  TrainTensor<T> scales, zeros;
  std::vector<int32_t> col_group;  // group of each column [in]
  std::vector<int32_t> g_idx;      // the stored .g_idx (GPTQ act-order), empty without
  int64_t n_groups = 0;
  // Nf4
  TrainTensor<T> absmax;
  int64_t block = 64;

  // W [out, in] from the (optionally rounded) parameters.
  void dequantize(T* W, bool round) const;
  // W from the parameters rounded to their stored dtypes, decoded by the format's row.
  void stored_dequantize(float* W) const;
  // Adds scale * (the parameter gradients implied by dL/dW) to the tensors' grad (parameters read as in
  // dequantize(W, round), i.e. the gradient at the point the forward pass used).
  void accumulate_grad(const T* dW, T scale, bool round);
  std::vector<TrainTensor<T>*> tensors();
  std::vector<const TrainTensor<T>*> tensors() const;
};

// A quantized model in trainable form.
template <typename T>
struct QatModel {
  std::string source;      // the directory it was loaded from
  DenseWeights<T> dense;   // what the passes read; linears and norms are refreshed from the parameters
  std::vector<QuantLinearParams<T>> linears;
  std::vector<TrainTensor<T>> norms;  // per layer attention then MLP norm, then the final norm
  std::vector<std::string> frozen;    // quantized linears whose parameters cannot train (e.g. nf4 double-quant)

  // Reads the trainable tensors of a checkpoint `sqz quantize` wrote (ck) and its dense weights (m, built
  // from ck). Throws Error naming ck.path when it is not a quantized model or holds W8A8 weights.
  static QatModel load(const Checkpoint& ck, const LlamaModel& m);
  template <typename U>
  QatModel<U> cast() const;

  // dense <- parameters (rounded to their stored dtype when `round`).
  void refresh(bool round);
  void zero_grad();
  // Adds scale * the parameter gradients implied by the dense gradients g.
  void accumulate_grad(const Gradients<T>& g, T scale, bool round);
  std::vector<TrainTensor<T>*> params();
  int64_t n_trainable() const;
};

struct FinetuneOptions {
  std::vector<std::string> data;  // training text files (plain text or .jsonl), tokenized like calibration text
  int64_t steps = 200, ctx = 256, batch = 4;
  double lr = 1e-3;            // relative: each tensor's step is lr times its initial RMS (see finetune.cpp)
  double warmup_frac = 0.1;    // warmup steps as a fraction of steps
  double clip_norm = 1.0;
  uint64_t seed = 0;
  std::string teacher;         // knowledge distillation from this model (e.g. the fp16 original) when set
  int64_t eval_windows = 8;    // held-out windows (the end of the text) for the loss before/after
  bool progress = true;

  template <class V>
  static void declare(V&& v) {
    using F = FinetuneOptions;
    v(&F::data, text_files_option("calib", "Training text files (.txt, or .jsonl with a \"text\" field), as for calibration", "data"));
    v(&F::steps, {.name = "steps", .help = "Optimizer steps", .min = 1});
    v(&F::lr, {.name = "lr", .help = "Peak learning rate, relative to each tensor's RMS (warmup, then cosine to 10%)", .min = 0});
    v(&F::ctx, {.name = "ctx", .help = "Tokens per training window", .min = 2});
    v(&F::batch, {.name = "batch", .help = "Windows per step", .min = 1});
    v(&F::seed, {.name = "seed", .help = "Seed of the window sampler"});
    v(&F::clip_norm, {.name = "clip", .help = "Global gradient-norm clip (0: none)", .min = 0});
    v(&F::eval_windows, {.name = "eval-windows", .help = "Held-out windows (end of the text) for the before/after loss", .min = 1});
    v(&F::teacher, {.name = "kd",
                    .help = "Knowledge distillation: minimise the KL divergence from this model's next-token distribution "
                            "(e.g. the fp16 original) instead of the cross-entropy"});
  }
};

struct FinetuneReport {
  std::string objective;  // "lm" (cross-entropy) or "kd" (KL from the teacher)
  double eval_before = 0, eval_after = 0;  // held-out mean loss, parameters as stored (fp16-rounded)
  double first_step_loss = 0, last_step_loss = 0;
  int64_t steps = 0, tokens = 0, train_tokens = 0, eval_tokens = 0, trainable_params = 0;
  double seconds = 0, tokens_per_s = 0;

  nlohmann::json to_json() const {
    return {{"objective", objective},       {"steps", steps},
            {"tokens", tokens},             {"trainable_params", trainable_params},
            {"held_out_before", eval_before}, {"held_out_after", eval_after},
            {"first_step_loss", first_step_loss}, {"last_step_loss", last_step_loss},
            {"seconds", seconds},           {"tokens_per_s", tokens_per_s}};
  }
};

// Held-out mean loss of the model as it is (dense weights as refreshed): cross-entropy, or KL from the
// teacher logits when teacher is non-null. `starts` are window starts into tokens, each ctx long.
double evaluate_loss(const DenseWeights<float>& w, const std::vector<int>& tokens, const std::vector<int64_t>& starts,
                     int64_t ctx, const LlamaModel* teacher);

// Loads `qmodel`, fine-tunes it on opt.data and writes the result (same stored format; config.json's
// quantization_config gets a "finetuned" record) atomically to out_dir.
FinetuneReport finetune_model(const std::string& qmodel, const FinetuneOptions& opt, const std::string& out_dir);

extern template struct QatModel<float>;
extern template struct QatModel<double>;

}  // namespace sqz::train

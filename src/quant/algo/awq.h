// AWQ (Lin et al., "AWQ: Activation-aware Weight Quantization", 2023) for a group of linears sharing one
// input (q/k/v after input_layernorm, gate/up after post_attention_layernorm, ...), following llm-awq's
// auto_scale / auto_clip:
//
// Scale search. Salient input channels are those with large activations. With s_x[c] = mean_t |X[t, c]|,
// for alpha = i / n_grid, i = 0..n_grid-1 (20 points in [0, 1)):
//     s = max(s_x^alpha, 1e-4),  s /= sqrt(max(s) * min(s))      (keeps s centred around 1)
//     (duo_scaling, AutoAWQ: s = s_x^alpha / (s_w^(1-alpha) + 1e-4), s_w the mean group-normalised |W|)
// each linear is quantized as Q(W diag(s)) (uniform.h grid, by default 4-bit, group 128, plain min/max as in
// llm-awq's search) and the loss is the output error over the calibration tokens
//     L(alpha) = sum_linears || X W^T - (X diag(1/s)) Q(W diag(s))^T ||_F^2,
// evaluated as ||X E^T||^2 with E = W - Q(W diag(s)) diag(1/s), or as sum_r e_r^T (X^T X) e_r when there are
// more tokens than channels (same number, cheaper). alpha = 0 gives s = 1, i.e. plain RTN, so the best loss
// is never above RTN's. The best s is kept: the caller folds 1/s into the previous op (fold.h) and stores
// the quantization of W diag(s) returned here.
//
// Clipping (auto_clip), per linear on W diag(s), per (row, group): max = r * max|w| for
// r = 1 - i / clip_grid, i = 0..floor(max_shrink * clip_grid) - 1 (1.0 .. 0.55), weights clamped to
// [-max, max] and quantized with min/max; the r minimising that group's own output error
// e^T X_g^T X_g e (e = quantized clamped minus original weights, X_g the group's input columns) is kept
// (llm-awq subsamples 512 tokens for this; here all tokens enter through X_g^T X_g). llm-awq does not clip q
// and k (LinearRef::clip = false).
#pragma once
#include <cstdint>
#include <vector>

#include "quant/algo/fold.h"
#include "quant/algo/uniform.h"

namespace sqz::quant {

struct AwqOptions {
  UniformOptions quant{.bits = 4, .group = 128, .clip_search = false, .include_zero = false};
  int n_grid = 20;
  bool duo_scaling = false;
  bool auto_clip = true;
  int clip_grid = 20;
  double max_shrink = 0.5;
};

struct AwqResult {
  std::vector<float> scales;                  // cols: W' = W diag(s), previous op / s
  double alpha = 0;                           // chosen grid point
  std::vector<double> grid_loss;              // n_grid losses; grid_loss[0] is alpha = 0 (plain RTN)
  double loss = 0;                            // min of grid_loss
  std::vector<std::vector<float>> clip_max;   // per linear: rows * n_groups clip bounds on W diag(s)
                                              // (empty for a linear that was not clipped)
  std::vector<GroupQuant> quantized;          // per linear: quantization of clip(W diag(s))
  double final_loss = 0;                      // output loss of `quantized` (with clipping)
};

// Mean |x| per input channel of X[n x cols].
std::vector<float> awq_act_scale(const float* X, int64_t n, int64_t cols);

// All linears have `cols` inputs; X[n x cols] are their calibration inputs (rows of tokens).
AwqResult awq_quantize(const std::vector<LinearRef>& linears, int64_t cols, const float* X, int64_t n,
                       const AwqOptions& opt = {});

// auto_clip for one (already scaled) W[rows x cols]: the clip bound per (row, group), rows * n_groups.
std::vector<float> awq_auto_clip(const float* W, int64_t rows, int64_t cols, const float* X, int64_t n,
                                 const AwqOptions& opt = {});
// Clamps W[r, c] to [-max, max] of its (row, group).
void awq_apply_clip(float* W, int64_t rows, int64_t cols, int64_t group, const float* max_val);

// || X E^T ||_F^2 for E[rows x cols]; G = X^T X [cols x cols] may be given instead of X (X then unused).
double awq_output_error(const float* E, int64_t rows, int64_t cols, const float* X, int64_t n, const float* G);

}  // namespace sqz::quant

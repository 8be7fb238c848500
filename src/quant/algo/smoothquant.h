// SmoothQuant (Xiao et al., 2022): migrate activation outliers into the weights so that both can be int8.
// For the linears sharing one input (fold.h), per input channel j:
//     s_j = max(max_t |X[t, j]|^alpha / max(w_j, 1e-5)^(1 - alpha), 1e-5),
//     w_j = max over all rows of all the linears of |W[:, j]|
// (the reference smooth.py: weight scales clamped at 1e-5, result clamped at 1e-5). Then W' = W diag(s)
// (scale_columns) and the previous RMSNorm/LayerNorm weight (and bias) is divided by s (divide_vector): the
// fp32 function is unchanged and the smoothed activations X / s have flatter channels.
//
// Weights are then int8, symmetric, per output channel: scale_r = max_c |W'[r, c]| / 127,
// q = clamp(round(w / scale_r), -127, 127) (round half to even, like torch.round), so |w - q scale| <=
// scale / 2. An all-zero row gets scale 1 and q = 0 (no division by zero anywhere). The layout is
// kernels' Int8Matrix (q rows*cols, fp32 scale per row). Activations are quantized at run time (kernels).
#pragma once
#include <cstdint>
#include <vector>

#include "quant/algo/fold.h"

namespace sqz::quant {

// max_t |X[t, c]| per channel of X[n x cols] (what calibration accumulates as act_scales).
std::vector<float> act_absmax(const float* X, int64_t n, int64_t cols);

std::vector<float> smoothquant_scales(const float* act_absmax, const std::vector<LinearRef>& linears, int64_t cols,
                                      double alpha = 0.5);

struct Int8Weights {
  int64_t rows = 0, cols = 0;
  std::vector<int8_t> q;     // rows * cols
  std::vector<float> scale;  // rows
  float dequant(int64_t r, int64_t c) const { return (float)q[r * cols + c] * scale[r]; }
};
Int8Weights quantize_int8_per_channel(const float* W, int64_t rows, int64_t cols);

}  // namespace sqz::quant

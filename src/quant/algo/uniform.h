// Asymmetric min/max uniform quantization (round-to-nearest; the grid RTN, GPTQ and AWQ share):
//     q = clamp(round(w / scale) + zero, 0, 2^b - 1),   w_hat = (q - zero) * scale
// with one (scale, zero) per output row and group of `group` consecutive input columns:
//     scale = (max - min) / (2^b - 1)  rounded to fp16 (it is stored as fp16),
//     zero  = clamp(round(-min / scale), 0, 2^b - 1)  (an integer, exactly representable in fp16).
// round() is round-half-to-even (std::nearbyint, like torch.round). q is computed with the fp16-rounded
// scale, so w_hat is exactly what a kernel computes from the stored parameters; dequantization is done in
// float as ((float)q - zero) * scale, also like the kernels.
//
// Degenerate ranges (a constant group) would give scale 0; the guard keeps them exact where possible:
//   * all zero: GPTQ's convention, range [-1, 1] (0 is on the grid; later error-feedback updates fit);
//   * constant c != 0 (only without include_zero): scale = |c|, zero = (c > 0 ? 0 : 1), so w_hat = fp16(c);
//   * a non-zero scale that underflows fp16 is raised to 2^-24 (smallest fp16 subnormal); a scale that
//     overflows fp16 (range > ~65504 * (2^b - 1)) is an Error.
// include_zero widens [min, max] to contain 0 (GPTQ's quantizer does; AWQ's and this default do not — with
// an all-positive group the zero clamps to 0, as in AWQ).
//
// Clipping search (AWQ auto_clip / llama.cpp style, on weights): try min' = r*min, max' = r*max for
// r = 1, 1 - 1/clip_grid, ..., 1 - max_shrink (default 1.0, 0.95, ..., 0.5: 11 ratios) and keep the r with
// the smallest sum_c imp_c (w_c - w_hat_c)^2 over the group (imp: optional per-column importance, e.g.
// mean x^2 of the activations; all ones if nullptr). Ties keep the larger ratio.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/cpu/formats.h"

namespace sqz::quant {

struct UniformOptions {
  int bits = 4;               // 1..8 (2, 3, 4, 8 in practice)
  int64_t group = 128;        // columns per group; <= 0 or >= cols: one group per row (per output channel)
  bool clip_search = false;
  bool include_zero = false;
  int clip_grid = 20;
  double max_shrink = 0.5;
};

// The grid of one group: the group format's (kernels/cpu/formats.h), with the guards above.
using GroupParams = kernels::GroupGrid;
inline GroupParams uniform_params(double lo, double hi, int bits, bool include_zero) {
  return kernels::group_grid(lo, hi, bits, include_zero);
}
// Parameters for n values (min/max, optional clip search). imp may be nullptr.
GroupParams uniform_find_params(const float* w, int64_t n, const UniformOptions& o, const float* imp = nullptr);
GroupParams uniform_find_params(const double* w, int64_t n, const UniformOptions& o, const float* imp = nullptr);

inline uint8_t uniform_code(double w, const GroupParams& p, int bits) { return kernels::group_code(w, p, bits); }
inline float uniform_dequant(uint8_t q, const GroupParams& p) { return ((float)q - p.zero) * p.scale; }

// A quantized matrix in the GroupMatrix layout of kernels/cpu/formats.h (scales, zeros: rows x n_groups,
// to be stored as fp16 with f32_to_fp16, both are exactly representable).
struct GroupQuant {
  int bits = 4;
  int64_t rows = 0, cols = 0, group = 0;  // group == cols for per-channel
  std::vector<uint8_t> q;                 // rows * cols codes
  std::vector<float> scales, zeros;       // rows * n_groups
  std::vector<int32_t> g_idx;             // cols (GPTQ act-order); empty: column c is in group c / group
                                          // (either way there are ceil(cols / group) groups)

  int64_t n_groups() const;
  int64_t group_of(int64_t c) const { return g_idx.empty() ? c / group : g_idx[c]; }
  GroupParams params(int64_t r, int64_t g) const { return {scales[r * n_groups() + g], zeros[r * n_groups() + g]}; }
  float dequant(int64_t r, int64_t c) const { return uniform_dequant(q[r * cols + c], params(r, group_of(c))); }
  std::vector<float> dequantize() const;  // rows * cols
};

// Round-to-nearest quantization of W[rows x cols], parallel over rows. imp: optional per-column
// importance (cols entries) for the clip search.
GroupQuant uniform_quantize(const float* W, int64_t rows, int64_t cols, const UniformOptions& o,
                            const float* imp = nullptr);

}  // namespace sqz::quant

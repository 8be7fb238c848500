#include "quant/algo/smoothquant.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "kernels/cpu/formats.h"
#include "quant/algo/parallel.h"

namespace sqz::quant {

std::vector<float> act_absmax(const float* X, int64_t n, int64_t cols) {
  std::vector<float> m((size_t)cols, 0.0f);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t c = 0; c < cols; ++c) m[c] = std::max(m[c], std::fabs(X[t * cols + c]));
  return m;
}

std::vector<float> smoothquant_scales(const float* act, const std::vector<LinearRef>& linears, int64_t cols,
                                      double alpha) {
  SQZ_CHECK(alpha >= 0 && alpha <= 1, "smoothquant: alpha {} not in [0, 1]", alpha);
  std::vector<double> wmax((size_t)cols, 0.0);
  for (const LinearRef& L : linears)
    for (int64_t r = 0; r < L.rows; ++r)
      for (int64_t c = 0; c < cols; ++c) wmax[c] = std::max(wmax[c], (double)std::fabs(L.W[r * cols + c]));
  std::vector<float> s((size_t)cols);
  for (int64_t c = 0; c < cols; ++c) {
    SQZ_CHECK(std::isfinite(act[c]) && std::isfinite(wmax[c]), "smoothquant: non-finite statistics at channel {}", c);
    const double v = std::pow((double)act[c], alpha) / std::pow(std::max(wmax[c], 1e-5), 1.0 - alpha);
    s[c] = (float)std::max(v, 1e-5);
  }
  return s;
}

Int8Weights quantize_int8_per_channel(const float* W, int64_t rows, int64_t cols) {
  Int8Weights out;
  out.rows = rows, out.cols = cols;
  out.q.resize((size_t)(rows * cols));
  out.scale.resize((size_t)rows);
  for (int64_t i = 0; i < rows * cols; ++i)
    SQZ_CHECK(std::isfinite(W[i]), "int8 quantization: weight ({}, {}) is not finite", i / cols, i % cols);
  parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
    kernels::int8_encode_rows(W + r0 * cols, r1 - r0, cols, out.q.data() + r0 * cols, out.scale.data() + r0);
  });
  return out;
}

}  // namespace sqz::quant

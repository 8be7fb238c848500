#include "quant/algo/smoothquant.h"

#include <gtest/gtest.h>

#include <cmath>

#include "quant_test_util.h"

namespace sqz::quant {
namespace {

using testing::rand_correlated;
using testing::randn;

TEST(SmoothQuant, ScalesFollowTheFormula) {
  const int64_t cols = 96;
  std::vector<float> act = act_absmax(rand_correlated(64, cols, 1, 3).data(), 64, cols);
  act[7] = 0.0f;  // dead channel: clamped to 1e-5
  std::vector<float> A = randn(32 * cols, 2), B = randn(48 * cols, 3);
  for (int64_t r = 0; r < 32; ++r) A[r * cols + 9] = 0.0f;
  for (int64_t r = 0; r < 48; ++r) B[r * cols + 9] = 0.0f;  // zero weight column: w clamped to 1e-5
  for (double alpha : {0.5, 0.8}) {
    const std::vector<float> s = smoothquant_scales(act.data(), {{A.data(), 32}, {B.data(), 48}}, cols, alpha);
    for (int64_t c = 0; c < cols; ++c) {
      double wm = 0;
      for (int64_t r = 0; r < 32; ++r) wm = std::max(wm, (double)std::fabs(A[r * cols + c]));
      for (int64_t r = 0; r < 48; ++r) wm = std::max(wm, (double)std::fabs(B[r * cols + c]));
      const double ref = std::max(std::pow((double)act[c], alpha) / std::pow(std::max(wm, 1e-5), 1 - alpha), 1e-5);
      EXPECT_NEAR(s[c], ref, 1e-6 * ref);  // double formula, float result
    }
    EXPECT_FLOAT_EQ(s[7], 1e-5f);
  }
}

TEST(SmoothQuant, SmoothedModelComputesTheSame) {
  const int64_t n = 64, cols = 128, rows = 80;
  const std::vector<float> Z = rand_correlated(n, cols, 4, 5);  // normalised hidden states with outliers
  std::vector<float> gain = randn(cols, 5), W = randn(rows * cols, 6, 0.05f);
  for (auto& g : gain) g = 1.0f + 0.1f * g;
  std::vector<float> X(n * cols);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t c = 0; c < cols; ++c) X[t * cols + c] = gain[c] * Z[t * cols + c];
  const std::vector<float> s = smoothquant_scales(act_absmax(X.data(), n, cols).data(), {{W.data(), rows}}, cols, 0.5);
  std::vector<float> W2 = W, gain2 = gain;
  scale_columns(W2.data(), rows, cols, s.data());
  divide_vector(gain2.data(), cols, s.data());
  double maxrel = 0, maxx = 0, maxx2 = 0;
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t c = 0; c < cols; ++c)
      maxx = std::max(maxx, (double)std::fabs(X[t * cols + c])), maxx2 = std::max(maxx2, (double)std::fabs(gain2[c] * Z[t * cols + c]));
    for (int64_t r = 0; r < rows; ++r) {
      double a = 0, b = 0, mag = 0;
      for (int64_t c = 0; c < cols; ++c) {
        a += (double)X[t * cols + c] * W[r * cols + c];
        b += (double)(gain2[c] * Z[t * cols + c]) * W2[r * cols + c];
        mag += std::fabs((double)X[t * cols + c] * W[r * cols + c]);
      }
      maxrel = std::max(maxrel, std::fabs(a - b) / mag);
    }
  }
  // Relative to the magnitude of the dot product's terms: each term differs by a few float roundings.
  EXPECT_LT(maxrel, 1e-5);
  EXPECT_LT(maxx2, maxx);  // activations got flatter
}

TEST(SmoothQuant, Int8PerChannelErrorBound) {
  const int64_t rows = 33, cols = 200;
  std::vector<float> W = randn(rows * cols, 8, 0.05f);
  for (int64_t c = 0; c < cols; ++c) W[5 * cols + c] = 0.0f;  // zero row
  const Int8Weights q = quantize_int8_per_channel(W.data(), rows, cols);
  for (int64_t r = 0; r < rows; ++r) {
    float amax = 0;
    for (int64_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(W[r * cols + c]));
    if (r == 5) {
      EXPECT_EQ(q.scale[r], 1.0f);
    } else {
      EXPECT_FLOAT_EQ(q.scale[r], amax / 127.0f);
    }
    int maxq = 0;
    for (int64_t c = 0; c < cols; ++c) {
      const int v = q.q[r * cols + c];
      maxq = std::max(maxq, std::abs(v));
      ASSERT_GE(v, -127);
      // Round to nearest: half a step, plus float rounding of q * scale.
      EXPECT_LE(std::fabs(W[r * cols + c] - q.dequant(r, c)), 0.5f * q.scale[r] * (1 + 1e-5f));
    }
    EXPECT_EQ(maxq, r == 5 ? 0 : 127);
  }
}

}  // namespace
}  // namespace sqz::quant

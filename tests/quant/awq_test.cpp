#include "quant/algo/awq.h"

#include <gtest/gtest.h>

#include <cmath>

#include "quant_test_util.h"

namespace sqz::quant {
namespace {

using testing::rand_correlated;
using testing::randn;

// Y[n x rows] = X W^T in double.
std::vector<double> matmul_t(const std::vector<float>& X, int64_t n, const std::vector<float>& W, int64_t rows, int64_t cols) {
  std::vector<double> Y((size_t)(n * rows), 0.0);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0;
      for (int64_t c = 0; c < cols; ++c) s += (double)X[t * cols + c] * W[r * cols + c];
      Y[t * rows + r] = s;
    }
  return Y;
}

struct AwqSetup {
  int64_t cols = 256, n = 192;
  std::vector<int64_t> rows = {64, 32, 32};  // q, k, v-like
  std::vector<float> X;
  std::vector<std::vector<float>> W;
  std::vector<LinearRef> refs;
  explicit AwqSetup(int64_t tokens = 192) : n(tokens) {
    X = rand_correlated(n, cols, 1, 6);  // 6 salient channels
    for (size_t i = 0; i < rows.size(); ++i) W.push_back(randn(rows[i] * cols, 10 + i, 0.05f));
    for (size_t i = 0; i < rows.size(); ++i) refs.push_back({W[i].data(), rows[i], i != 1});
  }
};

TEST(Awq, FoldingScalesKeepsTheFunction) {
  AwqSetup s;
  const AwqResult res = awq_quantize(s.refs, s.cols, s.X.data(), s.n, {});
  ASSERT_EQ(res.scales.size(), (size_t)s.cols);
  // The previous op here is an RMSNorm-style per-channel gain g: x = g * z. Fold 1/s into g, s into W.
  std::vector<float> gain = randn(s.cols, 77);
  std::vector<float> gain2 = gain;
  divide_vector(gain2.data(), s.cols, res.scales.data());
  std::vector<float> Z = s.X, X1(s.n * s.cols), X2(s.n * s.cols);
  for (int64_t t = 0; t < s.n; ++t)
    for (int64_t c = 0; c < s.cols; ++c) X1[t * s.cols + c] = gain[c] * Z[t * s.cols + c], X2[t * s.cols + c] = gain2[c] * Z[t * s.cols + c];
  for (size_t i = 0; i < s.W.size(); ++i) {
    std::vector<float> Ws = s.W[i];
    scale_columns(Ws.data(), s.rows[i], s.cols, res.scales.data());
    const std::vector<double> a = matmul_t(X1, s.n, s.W[i], s.rows[i], s.cols), b = matmul_t(X2, s.n, Ws, s.rows[i], s.cols);
    double num = 0, den = 0;
    for (size_t j = 0; j < a.size(); ++j) num += (a[j] - b[j]) * (a[j] - b[j]), den += a[j] * a[j];
    // Only float rounding of g/s and w*s (2^-24 relative each) separates the two.
    EXPECT_LT(std::sqrt(num / den), 1e-5);
  }
  // Previous linear instead of a norm: P (producing the input channels) rows divided by s.
  std::vector<float> P = randn(s.cols * 16, 5), Zin = randn(s.n * 16, 6);
  std::vector<float> P2 = P;
  divide_rows(P2.data(), s.cols, 16, res.scales.data());
  std::vector<float> Ws = s.W[0];
  scale_columns(Ws.data(), s.rows[0], s.cols, res.scales.data());
  const std::vector<double> h1 = matmul_t(Zin, s.n, P, s.cols, 16), h2 = matmul_t(Zin, s.n, P2, s.cols, 16);
  std::vector<float> h1f(h1.begin(), h1.end()), h2f(h2.begin(), h2.end());
  const std::vector<double> y1 = matmul_t(h1f, s.n, s.W[0], s.rows[0], s.cols), y2 = matmul_t(h2f, s.n, Ws, s.rows[0], s.cols);
  double num = 0, den = 0;
  for (size_t j = 0; j < y1.size(); ++j) num += (y1[j] - y2[j]) * (y1[j] - y2[j]), den += y1[j] * y1[j];
  EXPECT_LT(std::sqrt(num / den), 1e-5);
}

TEST(Awq, SearchBeatsRtnAndLossesAreOutputErrors) {
  for (int64_t tokens : {192, 512}) {  // 512 > cols: the Gram-matrix path
    AwqSetup s(tokens);
    const AwqResult res = awq_quantize(s.refs, s.cols, s.X.data(), s.n, {});
    ASSERT_EQ(res.grid_loss.size(), 20u);
    // grid_loss[0] is plain RTN: recompute it directly.
    double rtn = 0;
    for (size_t i = 0; i < s.W.size(); ++i) {
      const std::vector<float> q = uniform_quantize(s.W[i].data(), s.rows[i], s.cols, AwqOptions{}.quant).dequantize();
      const std::vector<double> a = matmul_t(s.X, s.n, s.W[i], s.rows[i], s.cols), b = matmul_t(s.X, s.n, q, s.rows[i], s.cols);
      for (size_t j = 0; j < a.size(); ++j) rtn += (a[j] - b[j]) * (a[j] - b[j]);
    }
    // float GEMMs (sgemm) vs double reference: 1e-3 relative.
    EXPECT_NEAR(res.grid_loss[0], rtn, 1e-3 * rtn);
    EXPECT_LE(res.loss, res.grid_loss[0]);
    EXPECT_EQ(res.loss, *std::min_element(res.grid_loss.begin(), res.grid_loss.end()));
    // With salient channels AWQ helps clearly.
    EXPECT_LT(res.loss, 0.9 * res.grid_loss[0]) << "alpha " << res.alpha;
    EXPECT_GT(res.alpha, 0.0);
    // The returned quantization is of clip(W diag(s)); its loss, recomputed.
    double fin = 0;
    for (size_t i = 0; i < s.W.size(); ++i) {
      std::vector<float> q = res.quantized[i].dequantize();
      for (int64_t r = 0; r < s.rows[i]; ++r)
        for (int64_t c = 0; c < s.cols; ++c) q[r * s.cols + c] /= res.scales[c];
      const std::vector<double> a = matmul_t(s.X, s.n, s.W[i], s.rows[i], s.cols), b = matmul_t(s.X, s.n, q, s.rows[i], s.cols);
      for (size_t j = 0; j < a.size(); ++j) fin += (a[j] - b[j]) * (a[j] - b[j]);
      EXPECT_EQ(res.clip_max[i].empty(), i == 1);  // LinearRef::clip = false for the second
    }
    EXPECT_NEAR(res.final_loss, fin, 1e-3 * fin);
  }
}

TEST(Awq, AutoClipPicksEachGroupsBestRatio) {
  AwqSetup s;
  const AwqOptions opt;
  const int64_t rows = s.rows[0], cols = s.cols, ng = cols / 128;
  const std::vector<float>& W = s.W[0];
  const std::vector<float> clip = awq_auto_clip(W.data(), rows, cols, s.X.data(), s.n, opt);
  // Brute force per (row, group) in double: output error of the group's contribution.
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t g = 0; g < ng; ++g) {
      const float* w = W.data() + r * cols + g * 128;
      float amax = 0;
      for (int c = 0; c < 128; ++c) amax = std::max(amax, std::fabs(w[c]));
      auto err = [&](float mv) {
        std::vector<float> cw(128);
        for (int c = 0; c < 128; ++c) cw[c] = std::clamp(w[c], -mv, mv);
        const GroupParams p = uniform_find_params(cw.data(), 128, opt.quant);
        double e = 0;
        for (int64_t t = 0; t < s.n; ++t) {
          double d = 0;
          for (int c = 0; c < 128; ++c)
            d += (double)s.X[t * cols + g * 128 + c] * ((double)uniform_dequant(uniform_code(cw[c], p, 4), p) - w[c]);
          e += d * d;
        }
        return e;
      };
      const double chosen = err(clip[r * ng + g]);
      double best = err(amax);
      for (int i = 1; i < 10; ++i) best = std::min(best, err((float)(amax * (1.0 - i / 20.0))));
      // The library ranks by float sgemm sums: equal to the best up to 1e-4 relative.
      EXPECT_LE(chosen, best * (1 + 1e-4)) << r << " " << g;
      EXPECT_LE(chosen, err(amax) * (1 + 1e-4));
    }
}

TEST(Awq, OutputErrorGramAndDirectAgree) {
  const int64_t n = 300, cols = 64, rows = 16;
  const std::vector<float> X = rand_correlated(n, cols, 3), E = randn(rows * cols, 4);
  std::vector<float> G(cols * cols, 0.0f);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < cols; ++i)
      for (int64_t j = 0; j < cols; ++j) G[i * cols + j] += X[t * cols + i] * X[t * cols + j];
  const double a = awq_output_error(E.data(), rows, cols, X.data(), n, nullptr);
  const double b = awq_output_error(E.data(), rows, cols, nullptr, 0, G.data());
  EXPECT_NEAR(a, b, 1e-4 * a);
}

}  // namespace
}  // namespace sqz::quant

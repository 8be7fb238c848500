#include "quant/algo/gptq.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "quant/algo/linalg.h"
#include "quant_test_util.h"

namespace sqz::quant {
namespace {

using testing::rand_correlated;
using testing::randn;

// H = 2 X^T X / n in double, X[n x cols].
std::vector<double> hessian(const std::vector<float>& X, int64_t n, int64_t cols) {
  std::vector<double> H((size_t)(cols * cols), 0.0);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < cols; ++i) {
      const double xi = X[t * cols + i];
      for (int64_t j = 0; j < cols; ++j) H[i * cols + j] += 2.0 * xi * X[t * cols + j] / (double)n;
    }
  return H;
}

// Textbook references: Gauss-Jordan inverse and unblocked Cholesky A = R^T R.
std::vector<double> naive_inverse(std::vector<double> A, int64_t n) {
  std::vector<double> I((size_t)(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) I[i * n + i] = 1;
  for (int64_t c = 0; c < n; ++c) {
    int64_t p = c;
    for (int64_t r = c + 1; r < n; ++r)
      if (std::fabs(A[r * n + c]) > std::fabs(A[p * n + c])) p = r;
    for (int64_t j = 0; j < n; ++j) std::swap(A[c * n + j], A[p * n + j]), std::swap(I[c * n + j], I[p * n + j]);
    const double d = A[c * n + c];
    for (int64_t j = 0; j < n; ++j) A[c * n + j] /= d, I[c * n + j] /= d;
    for (int64_t r = 0; r < n; ++r) {
      if (r == c) continue;
      const double f = A[r * n + c];
      if (f == 0) continue;
      for (int64_t j = 0; j < n; ++j) A[r * n + j] -= f * A[c * n + j], I[r * n + j] -= f * I[c * n + j];
    }
  }
  return I;
}
std::vector<double> naive_cholesky_upper(const std::vector<double>& A, int64_t n) {
  std::vector<double> R((size_t)(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    double d = A[i * n + i];
    for (int64_t k = 0; k < i; ++k) d -= R[k * n + i] * R[k * n + i];
    R[i * n + i] = std::sqrt(d);
    for (int64_t j = i + 1; j < n; ++j) {
      double s = A[i * n + j];
      for (int64_t k = 0; k < i; ++k) s -= R[k * n + i] * R[k * n + j];
      R[i * n + j] = s / R[i * n + i];
    }
  }
  return R;
}

// GPTQ as the paper's Algorithm 1 without blocking (and the unblocked reference of gptq.py): returns the
// dequantized Q in original column order.
std::vector<double> gptq_reference(const std::vector<float>& W, int64_t rows, int64_t cols, std::vector<double> H,
                                   const GptqOptions& opt) {
  std::vector<int64_t> perm(cols);
  std::iota(perm.begin(), perm.end(), 0);
  std::vector<uint8_t> dead(cols);
  for (int64_t i = 0; i < cols; ++i) dead[i] = H[i * cols + i] == 0;
  for (int64_t i = 0; i < cols; ++i)
    if (dead[i]) H[i * cols + i] = 1;
  if (opt.act_order)
    std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) { return H[a * cols + a] > H[b * cols + b]; });
  std::vector<double> Hp((size_t)(cols * cols)), Wp((size_t)(rows * cols));
  for (int64_t i = 0; i < cols; ++i)
    for (int64_t j = 0; j < cols; ++j) Hp[i * cols + j] = H[perm[i] * cols + perm[j]];
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < cols; ++i) Wp[r * cols + i] = dead[perm[i]] ? 0.0 : W[r * cols + perm[i]];
  double mean = 0;
  for (int64_t i = 0; i < cols; ++i) mean += Hp[i * cols + i];
  for (int64_t i = 0; i < cols; ++i) Hp[i * cols + i] += opt.percdamp * mean / cols;
  const std::vector<double> U = naive_cholesky_upper(naive_inverse(Hp, cols), cols);
  const int64_t g = (opt.quant.group <= 0 || opt.quant.group >= cols) ? cols : opt.quant.group;
  std::vector<double> Q((size_t)(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    GroupParams p;
    for (int64_t i = 0; i < cols; ++i) {
      double* w = Wp.data() + r * cols;
      if (i % g == 0) p = uniform_find_params(w + i, std::min(g, cols - i), opt.quant);
      const double q = uniform_dequant(uniform_code(w[i], p, opt.quant.bits), p);
      const double err = (w[i] - q) / U[i * cols + i];
      for (int64_t j = i + 1; j < cols; ++j) w[j] -= err * U[i * cols + j];
      Q[r * cols + perm[i]] = q;
    }
  }
  return Q;
}

TEST(Linalg, InverseCholeskyUpperMatchesNaive) {
  for (int64_t n : {1, 5, 128, 257, 300}) {
    std::vector<float> X = rand_correlated(n + 40, n, 10 + n);
    std::vector<double> H = hessian(X, n + 40, n);
    for (int64_t i = 0; i < n; ++i) H[i * n + i] += 0.01;
    const std::vector<double> ref = naive_cholesky_upper(naive_inverse(H, n), n);
    std::vector<double> U = H;
    inverse_cholesky_upper_inplace(U.data(), n);
    double maxref = 0;
    for (double v : ref) maxref = std::max(maxref, std::fabs(v));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        if (j < i) {
          ASSERT_EQ(U[i * n + j], 0.0);
        }
        // Both in double; condition number here is ~1e3-1e4, so 1e-9 relative to the largest entry is
        // ample and still catches any algebra slip.
        ASSERT_NEAR(U[i * n + j], ref[i * n + j], 1e-9 * maxref) << n << " " << i << " " << j;
      }
  }
}

TEST(Linalg, NotPositiveDefiniteFails) {
  std::vector<double> A = {1, 2, 2, 1};
  EXPECT_THROW(inverse_cholesky_upper_inplace(A.data(), 2), Error);
  std::vector<double> B = {1, NAN, NAN, 1};
  EXPECT_THROW(cholesky_lower_inplace(B.data(), 2), Error);
}

TEST(Gptq, BlockedEqualsColumnByColumnReference) {
  const int64_t rows = 24, cols = 300, n = 400;
  std::vector<float> X = rand_correlated(n, cols, 1);
  for (int64_t t = 0; t < n; ++t) X[t * cols + 17] = 0, X[t * cols + 200] = 0;  // two dead inputs
  const std::vector<double> H = hessian(X, n, cols);
  const std::vector<float> W = randn(rows * cols, 2, 0.05f);
  for (bool act_order : {false, true})
    for (int64_t group : {int64_t{128}, int64_t{32}, int64_t{48}, int64_t{200}, int64_t{0}})
      for (int bits : {3, 4}) {
        GptqOptions opt;
        opt.quant.bits = bits, opt.quant.group = group, opt.act_order = act_order;
        const GptqResult res = gptq_quantize(W.data(), rows, cols, H.data(), opt);
        EXPECT_EQ(res.dead_columns, 2);
        EXPECT_EQ(res.q.g_idx.empty(), !act_order);
        const std::vector<double> ref = gptq_reference(W, rows, cols, H, opt);
        const std::vector<float> deq = res.q.dequantize();
        // Same arithmetic up to reassociation in double (~1e-13); a rounding decision could only flip for
        // a value within that of a grid midpoint, so 1e-5 (well below one grid step ~1e-2) is a real check.
        for (int64_t i = 0; i < rows * cols; ++i)
          ASSERT_NEAR(deq[i], ref[i], 1e-5) << "act_order " << act_order << " group " << group << " bits " << bits
                                            << " at " << i / cols << "," << i % cols;
        // Dead columns are exactly 0 (0 is on GPTQ's grid: include_zero).
        for (int64_t r = 0; r < rows; ++r) EXPECT_EQ(deq[r * cols + 17], 0.0f);
        if (act_order) {
          // g_idx: groups are consecutive in processing order.
          const int64_t gs = group == 0 ? cols : group;
          for (int64_t i = 0; i < cols; ++i) EXPECT_EQ(res.q.g_idx[res.perm[i]], i / gs);
        }
      }
}

TEST(Gptq, LowerOutputErrorThanRtn) {
  const int64_t rows = 64, cols = 256, n = 1024;
  const std::vector<float> X = rand_correlated(n, cols, 3, 4);
  const std::vector<double> H = hessian(X, n, cols);
  const std::vector<float> W = randn(rows * cols, 4, 0.05f);
  auto out_err = [&](const std::vector<float>& Q) {
    // ||(W - Q) X^T||^2 = sum_r e_r^T (X^T X) e_r = n/2 * e H e.
    double s = 0;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < cols; ++i) {
        const double ei = (double)W[r * cols + i] - Q[r * cols + i];
        double acc = 0;
        for (int64_t j = 0; j < cols; ++j) acc += H[i * cols + j] * ((double)W[r * cols + j] - Q[r * cols + j]);
        s += ei * acc;
      }
    return s;
  };
  for (bool act_order : {false, true})
    for (int bits : {3, 4}) {
      GptqOptions opt;
      opt.quant.bits = bits, opt.act_order = act_order;
      const double gptq = out_err(gptq_quantize(W.data(), rows, cols, H.data(), opt).q.dequantize());
      const double rtn = out_err(uniform_quantize(W.data(), rows, cols, opt.quant).dequantize());
      EXPECT_LT(gptq, 0.8 * rtn) << "bits " << bits << " act_order " << act_order;
    }
}

TEST(Gptq, FloatHessianAndErrors) {
  const int64_t rows = 8, cols = 64;
  const std::vector<float> X = rand_correlated(200, cols, 5);
  const std::vector<double> H = hessian(X, 200, cols);
  std::vector<float> Hf(H.begin(), H.end());
  const std::vector<float> W = randn(rows * cols, 6);
  const GptqResult a = gptq_quantize(W.data(), rows, cols, H.data(), {});
  const GptqResult b = gptq_quantize(W.data(), rows, cols, Hf.data(), {});
  int64_t same = 0;
  for (size_t i = 0; i < a.q.q.size(); ++i) same += a.q.q[i] == b.q.q[i];
  EXPECT_GT(same, (int64_t)a.q.q.size() * 99 / 100);  // only float rounding of H separates them
  // Indefinite Hessian: clear error.
  std::vector<double> bad((size_t)(cols * cols), 0.0);
  for (int64_t i = 0; i < cols; ++i) bad[i * cols + i] = 1.0, bad[i * cols + (i + 1) % cols] = 2.0, bad[((i + 1) % cols) * cols + i] = 2.0;
  try {
    gptq_quantize(W.data(), rows, cols, bad.data(), {});
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not positive definite"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sqz::quant

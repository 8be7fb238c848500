#include "quant/algo/squeezellm.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/half.h"
#include "quant/algo/gptq.h"
#include "quant/algo/kmeans1d.h"
#include "quant_test_util.h"

namespace sqz::quant {
namespace {

using testing::rand_correlated;
using testing::rand_fisher;
using testing::rand_heavy;

struct Data {
  int64_t rows = 48, cols = 320;
  std::vector<float> W, F;
  Data() : W(rand_heavy(48 * 320, 1, 0.02f)), F(rand_fisher(48 * 320, 2)) {}
};

TEST(SqueezeLlm, CodebooksAreTheRowsKMeans) {
  Data d;
  const SparseSplit split = dense_sparse_split(d.W.data(), d.F.data(), d.rows, d.cols, {.sparsity = 1});
  for (bool with_f : {true, false})
    for (bool with_split : {true, false}) {
      const float* F = with_f ? d.F.data() : nullptr;
      const SparseSplit* S = with_split ? &split : nullptr;
      const SqueezeLlmResult res = squeezellm_quantize(d.W.data(), F, d.rows, d.cols, S, {.bits = 3});
      ASSERT_EQ(res.lut.size(), (size_t)d.rows * 8);
      const std::vector<uint8_t> mask = with_split ? split.mask() : std::vector<uint8_t>(d.rows * d.cols, 0);
      double obj = 0, werr = 0, sq = 0;
      int64_t nd = 0;
      for (int64_t r = 0; r < d.rows; ++r) {
        std::vector<float> x, w;
        for (int64_t c = 0; c < d.cols; ++c)
          if (!mask[r * d.cols + c]) x.push_back(d.W[r * d.cols + c]), w.push_back(F ? F[r * d.cols + c] : 1.0f);
        const Codebook cb = kmeans1d_exact(x.data(), F ? w.data() : nullptr, (int64_t)x.size(), 8);
        obj += cb.objective;
        for (int t = 0; t < 8; ++t) ASSERT_EQ(res.lut[r * 8 + t], round_fp16(cb.centroids[t]));
        for (int64_t c = 0; c < d.cols; ++c) {
          const float v = d.W[r * d.cols + c];
          const float q = res.dense_value(r, c);
          // Nearest LUT entry (exactly, in double).
          for (int t = 0; t < 8; ++t) ASSERT_LE(std::fabs((double)v - q), std::fabs((double)v - res.lut[r * 8 + t]));
          if (mask[r * d.cols + c]) continue;
          ++nd;
          werr += (F ? F[r * d.cols + c] : 1.0) * ((double)v - q) * ((double)v - q);
          sq += ((double)v - q) * ((double)v - q);
        }
      }
      // Same numbers summed in a different order: 1e-12 relative.
      EXPECT_NEAR(res.kmeans_objective, obj, 1e-12 * obj);
      EXPECT_NEAR(res.weighted_error, werr, 1e-12 * werr);
      EXPECT_EQ(res.n_dense, nd);
      EXPECT_NEAR(res.mse, sq / nd, 1e-12 * sq / nd);
      // The fp16 LUT moves each centroid by at most 2^-11 relative, so the error it reports is the k-means
      // optimum up to that: within 1e-2 relative for these ~0.02-scale rows (not less than it, though).
      EXPECT_NEAR(res.weighted_error, res.kmeans_objective, 1e-2 * res.kmeans_objective);
    }
}

TEST(SqueezeLlm, SparseResidualsReconstructWeights) {
  Data d;
  for (int i = 0; i < 40; ++i) d.W[(i * 7919) % d.W.size()] = (i % 2 ? 1.0f : -1.0f) * (1.0f + i);  // big outliers
  const SparseSplit split = dense_sparse_split(d.W.data(), d.F.data(), d.rows, d.cols, {});
  const SqueezeLlmResult res = squeezellm_quantize(d.W.data(), d.F.data(), d.rows, d.cols, &split, {.bits = 4});
  ASSERT_EQ(res.sparse_values.size(), (size_t)split.nnz());
  const std::vector<float> deq = res.dequantize(&split);
  for (int64_t p = 0; p < split.nnz(); ++p) {
    const int64_t i = split.positions[p];
    const float q = res.lut[(i / d.cols) * 16 + res.idx[i]];
    const float resid = d.W[i] - q;
    // lut + fp16(residual): off by the fp16 rounding of the residual (half an ulp, 2^-11 relative) plus
    // one float rounding of the sum.
    EXPECT_NEAR(deq[i], d.W[i], std::ldexp(std::fabs(resid), -11) + std::ldexp(std::fabs(d.W[i]), -23));
  }
  // Sparse positions do not influence the codebooks: changing them leaves the LUT unchanged.
  std::vector<float> W2 = d.W;
  for (int64_t i : split.positions) W2[i] *= 100.0f;
  const SqueezeLlmResult res2 = squeezellm_quantize(W2.data(), d.F.data(), d.rows, d.cols, &split, {.bits = 4});
  EXPECT_EQ(res.lut, res2.lut);
}

TEST(SqueezeLlm, LloydIsNoBetterThanExact) {
  Data d;
  const SqueezeLlmResult e = squeezellm_quantize(d.W.data(), d.F.data(), d.rows, d.cols, nullptr, {.bits = 3});
  const SqueezeLlmResult l = squeezellm_quantize(d.W.data(), d.F.data(), d.rows, d.cols, nullptr,
                                                 {.bits = 3, .method = KMeansMethod::Lloyd, .seed = 5});
  EXPECT_LE(e.kmeans_objective, l.kmeans_objective * (1 + 1e-9));
  const SqueezeLlmResult l2 = squeezellm_quantize(d.W.data(), d.F.data(), d.rows, d.cols, nullptr,
                                                  {.bits = 3, .method = KMeansMethod::Lloyd, .seed = 5});
  EXPECT_EQ(l.lut, l2.lut);  // deterministic whatever the thread split
}

TEST(SqueezeLlm, ErrorFeedback) {
  Data d;
  const int64_t n = 640;
  const std::vector<float> X = rand_correlated(n, d.cols, 9);
  std::vector<double> H((size_t)(d.cols * d.cols), 0.0);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < d.cols; ++i)
      for (int64_t j = 0; j < d.cols; ++j) H[i * d.cols + j] += 2.0 * X[t * d.cols + i] * X[t * d.cols + j] / n;
  const SparseSplit split = dense_sparse_split(d.W.data(), d.F.data(), d.rows, d.cols, {});
  const HessianInverse hi = hessian_inverse(H.data(), d.cols, 0.01);
  const SqueezeLlmResult plain = squeezellm_quantize(d.W.data(), d.F.data(), d.rows, d.cols, &split, {.bits = 3});
  const SqueezeLlmResult ef = squeezellm_quantize_ef(d.W.data(), d.F.data(), d.rows, d.cols, &split, hi.U.data(), {.bits = 3});
  EXPECT_EQ(plain.lut, ef.lut);  // codebooks come from the original weights in both
  auto out_err = [&](const std::vector<float>& Q) {
    double s = 0;
    for (int64_t r = 0; r < d.rows; ++r)
      for (int64_t i = 0; i < d.cols; ++i) {
        double acc = 0;
        for (int64_t j = 0; j < d.cols; ++j) acc += H[i * d.cols + j] * ((double)d.W[r * d.cols + j] - Q[r * d.cols + j]);
        s += ((double)d.W[r * d.cols + i] - Q[r * d.cols + i]) * acc;
      }
    return s;
  };
  const double e_plain = out_err(plain.dequantize(&split)), e_ef = out_err(ef.dequantize(&split));
  EXPECT_LT(e_ef, 0.9 * e_plain);
  EXPECT_GT(ef.ef_loss, 0);
  // With a diagonal Hessian there is nothing to compensate: identical to the plain quantizer.
  std::vector<double> I((size_t)(d.cols * d.cols), 0.0);
  for (int64_t i = 0; i < d.cols; ++i) I[i * d.cols + i] = 1.0 + i;
  const HessianInverse hd = hessian_inverse(I.data(), d.cols, 0.01);
  const SqueezeLlmResult ed = squeezellm_quantize_ef(d.W.data(), d.F.data(), d.rows, d.cols, &split, hd.U.data(), {.bits = 3});
  EXPECT_EQ(ed.idx, plain.idx);
  EXPECT_EQ(ed.sparse_values, plain.sparse_values);
}

}  // namespace
}  // namespace sqz::quant

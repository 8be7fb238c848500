#include "quant/algo/dense_sparse.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/half.h"
#include "quant_test_util.h"

namespace sqz::quant {
namespace {

using testing::rand_fisher;
using testing::rand_heavy;

void expect_valid_csr(const SparseSplit& s) {
  ASSERT_EQ((int64_t)s.row_ptr.size(), s.rows + 1);
  EXPECT_EQ(s.row_ptr[0], 0);
  EXPECT_EQ(s.row_ptr[s.rows], s.nnz());
  ASSERT_EQ((int64_t)s.col_idx.size(), s.nnz());
  ASSERT_EQ((int64_t)s.values.size(), s.nnz());
  ASSERT_EQ((int64_t)s.is_sensitive.size(), s.nnz());
  EXPECT_TRUE(std::is_sorted(s.positions.begin(), s.positions.end()));
  for (int64_t r = 0; r < s.rows; ++r) {
    ASSERT_LE(s.row_ptr[r], s.row_ptr[r + 1]);
    for (int64_t p = s.row_ptr[r]; p < s.row_ptr[r + 1]; ++p) {
      ASSERT_GE(s.col_idx[p], 0);
      ASSERT_LT(s.col_idx[p], s.cols);
      if (p > s.row_ptr[r]) {
        ASSERT_LT(s.col_idx[p - 1], s.col_idx[p]);  // strictly ascending
      }
      EXPECT_EQ(s.positions[p], r * s.cols + s.col_idx[p]);
    }
  }
}

TEST(DenseSparse, CountsCsrAndSelection) {
  const int64_t rows = 300, cols = 257, n = rows * cols;
  std::vector<float> W = rand_heavy(n, 1, 0.02f), F = rand_fisher(n, 2);
  const DenseSparseOptions opt;  // 0.45%, share 0.05/0.45
  const SparseSplit s = dense_sparse_split(W.data(), F.data(), rows, cols, opt);
  const int64_t total = std::llround(0.0045 * n);  // 347
  EXPECT_EQ(s.nnz(), total);
  EXPECT_EQ(s.n_sensitive, std::llround(total * (0.05 / 0.45)));
  EXPECT_EQ(s.n_outliers + s.n_sensitive, total);
  expect_valid_csr(s);

  const std::vector<uint8_t> mask = s.mask();
  int64_t n_sens = 0;
  float min_out = INFINITY, min_sens = INFINITY;
  for (int64_t p = 0; p < s.nnz(); ++p) {
    const int64_t i = s.positions[p];
    if (s.is_sensitive[p]) ++n_sens, min_sens = std::min(min_sens, F[i]);
    else min_out = std::min(min_out, std::fabs(W[i]));
    // D + S at a sparse position: D is 0 there, S is the fp16 value.
    EXPECT_EQ(0.0f + fp16_to_f32(s.values[p]), round_fp16(W[i]));
    EXPECT_LE(std::fabs(fp16_to_f32(s.values[p]) - W[i]), std::ldexp(std::fabs(W[i]), -11));  // half ulp of fp16
  }
  EXPECT_EQ(n_sens, s.n_sensitive);
  EXPECT_EQ(min_out, s.outlier_threshold);
  // Every outlier is at least as large as every entry left in D; every sensitive entry's F at least as
  // large as that of every dense entry that is not an outlier.
  for (int64_t i = 0; i < n; ++i) {
    if (mask[i]) continue;
    EXPECT_LE(std::fabs(W[i]), min_out);
    EXPECT_LE(F[i], min_sens);
  }
  // The largest magnitudes are all in S.
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + s.n_outliers, order.end(),
                    [&](int64_t a, int64_t b) { return std::fabs(W[a]) > std::fabs(W[b]); });
  for (int64_t j = 0; j < s.n_outliers; ++j) EXPECT_TRUE(mask[order[j]]);
}

TEST(DenseSparse, TiesBrokenByIndexGiveExactCounts) {
  // Values from a tiny set: the threshold value is shared by thousands of entries.
  const int64_t rows = 64, cols = 100, n = rows * cols;
  std::vector<float> W(n), F(n);
  for (int64_t i = 0; i < n; ++i) W[i] = (float)((i * 7919) % 5) - 2.0f, F[i] = (float)((i * 104729) % 3);
  DenseSparseOptions opt;
  opt.sparsity = 10;  // percent
  opt.sensitive_share = 0.25;
  const SparseSplit s = dense_sparse_split(W.data(), F.data(), rows, cols, opt);
  EXPECT_EQ(s.nnz(), 640);
  EXPECT_EQ(s.n_sensitive, 160);
  expect_valid_csr(s);
  // |W| = 2 for 2/5 of the entries (2560): the 480 outliers are the first 480 of them in index order.
  int64_t taken = 0;
  const std::vector<uint8_t> mask = s.mask();
  std::vector<uint8_t> sens(n, 0);
  for (int64_t p = 0; p < s.nnz(); ++p) sens[s.positions[p]] = s.is_sensitive[p];
  for (int64_t i = 0; i < n; ++i)
    if (std::fabs(W[i]) == 2.0f) {
      EXPECT_EQ(mask[i] && !sens[i], taken < 480) << i;
      taken += mask[i] && !sens[i];
    }
  // Sensitive: the first 160 (index order) non-outliers with the top F value 2.
  int64_t seen = 0;
  for (int64_t i = 0; i < n; ++i)
    if (!(mask[i] && !sens[i]) && F[i] == 2.0f) {
      EXPECT_EQ((bool)sens[i], seen < 160) << i;
      ++seen;
    }
}

TEST(DenseSparse, NoSensitivityMeansAllOutliersAndEdgeCases) {
  std::vector<float> W = rand_heavy(1000, 3);
  const SparseSplit s = dense_sparse_split(W.data(), nullptr, 10, 100, {.sparsity = 1, .sensitive_share = 0.5});
  EXPECT_EQ(s.nnz(), 10);
  EXPECT_EQ(s.n_sensitive, 0);
  const SparseSplit z = dense_sparse_split(W.data(), nullptr, 10, 100, {.sparsity = 0.0, .sensitive_share = 0.5});
  EXPECT_EQ(z.nnz(), 0);
  expect_valid_csr(z);
  EXPECT_TRUE(std::isinf(z.outlier_threshold));
  const SparseSplit all = dense_sparse_split(W.data(), nullptr, 10, 100, {.sparsity = 100, .sensitive_share = 0});
  EXPECT_EQ(all.nnz(), 1000);
  EXPECT_THROW(dense_sparse_split(W.data(), nullptr, 10, 100, {.sparsity = 100.5, .sensitive_share = 0}), Error);
  EXPECT_THROW(dense_sparse_split(W.data(), nullptr, 10, 100, {.sparsity = NAN, .sensitive_share = 0}), Error);
  W[5] = NAN;
  EXPECT_THROW(dense_sparse_split(W.data(), nullptr, 10, 100, {}), Error);
}

TEST(DenseSparse, NegativeSensitivityOrderIsRespected) {
  // The key map must order negative values correctly too (F is normally >= 0, but the code is general).
  std::vector<float> W(100, 1.0f), F(100);
  for (int i = 0; i < 100; ++i) F[i] = -100.0f + (float)i * 1.5f;  // ascending, mixed signs
  const SparseSplit s = dense_sparse_split(W.data(), F.data(), 1, 100, {.sparsity = 10, .sensitive_share = 0.5});
  // 5 outliers: |W| all equal -> indices 0..4; 5 sensitive: the largest F -> 95..99.
  EXPECT_EQ(s.positions, (std::vector<int64_t>{0, 1, 2, 3, 4, 95, 96, 97, 98, 99}));
}

}  // namespace
}  // namespace sqz::quant

#include "quant/algo/dense_sparse.h"

#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/half.h"

namespace sqz::quant {

namespace {

// Monotone map float -> uint32 (a < b  <=>  key(a) < key(b)) for finite floats of any sign.
inline uint32_t order_key(float f) {
  const uint32_t u = f32_to_bits(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Marks with `tag` the `count` largest keys among entries whose mask is 0, ties to the lower index.
// Radix select: the top 16 bits find the bucket of the count-th key, the low 16 bits its exact value T;
// then one scan in index order takes every key > T and the first (count - #greater) keys == T.
template <typename KeyFn>
void select_top(int64_t n, int64_t count, KeyFn key, uint8_t* mask, uint8_t tag) {
  if (count <= 0) return;
  std::vector<int64_t> hist(65536, 0);
  for (int64_t i = 0; i < n; ++i)
    if (!mask[i]) ++hist[key(i) >> 16];
  int64_t above = 0;
  int hi = 65535;
  for (; hi >= 0; --hi) {
    if (above + hist[hi] >= count) break;
    above += hist[hi];
  }
  SQZ_CHECK(hi >= 0, "dense_sparse_split: internal error, fewer than {} candidates", count);
  std::fill(hist.begin(), hist.end(), 0);
  for (int64_t i = 0; i < n; ++i)
    if (!mask[i]) {
      const uint32_t k = key(i);
      if ((int)(k >> 16) == hi) ++hist[k & 0xffff];
    }
  int lo = 65535;
  for (; lo >= 0; --lo) {
    if (above + hist[lo] >= count) break;
    above += hist[lo];
  }
  const uint32_t T = ((uint32_t)hi << 16) | (uint32_t)lo;
  int64_t equal_left = count - above;  // how many keys == T to take, in index order
  for (int64_t i = 0; i < n; ++i) {
    if (mask[i]) continue;
    const uint32_t k = key(i);
    if (k > T || (k == T && equal_left > 0)) {
      if (k == T) --equal_left;
      mask[i] = tag;
    }
  }
}

}  // namespace

std::vector<uint8_t> SparseSplit::mask() const {
  std::vector<uint8_t> m((size_t)(rows * cols), 0);
  for (int64_t p : positions) m[p] = 1;
  return m;
}

SparseSplit dense_sparse_split(const float* W, const float* F, int64_t rows, int64_t cols,
                               const DenseSparseOptions& opt) {
  SQZ_CHECK(rows >= 0 && cols >= 0, "dense_sparse_split: bad shape [{}, {}]", rows, cols);
  SQZ_CHECK(opt.sparsity >= 0 && opt.sparsity <= 100, "dense_sparse_split: sparsity {}% not in [0, 100]", opt.sparsity);
  SQZ_CHECK(opt.sensitive_share >= 0 && opt.sensitive_share <= 1,
            "dense_sparse_split: sensitive_share {} not in [0, 1]", opt.sensitive_share);
  SQZ_CHECK(cols < (int64_t{1} << 31), "dense_sparse_split: {} columns do not fit int32 CSR indices", cols);
  const int64_t n = rows * cols;
  for (int64_t i = 0; i < n; ++i) {
    SQZ_CHECK(std::isfinite(W[i]), "dense_sparse_split: weight at ({}, {}) is not finite", i / cols, i % cols);
    if (F) SQZ_CHECK(std::isfinite(F[i]), "dense_sparse_split: sensitivity at ({}, {}) is not finite", i / cols, i % cols);
  }
  SparseSplit s;
  s.rows = rows, s.cols = cols;
  const int64_t total = std::llround(opt.sparsity / 100.0 * (double)n);
  SQZ_CHECK(total < (int64_t{1} << 31), "dense_sparse_split: {} sparse entries do not fit int32 CSR", total);
  s.n_sensitive = F ? std::llround(opt.sensitive_share * (double)total) : 0;
  s.n_outliers = total - s.n_sensitive;

  // tag 1: outlier, tag 2: sensitive. |W| bits are monotone as unsigned ints (sign cleared).
  std::vector<uint8_t> mask((size_t)n, 0);
  select_top(n, s.n_outliers, [&](int64_t i) { return f32_to_bits(W[i]) & 0x7fffffffu; }, mask.data(), 1);
  if (F) select_top(n, s.n_sensitive, [&](int64_t i) { return order_key(F[i]); }, mask.data(), 2);

  s.outlier_threshold = std::numeric_limits<float>::infinity();
  s.positions.reserve(total), s.is_sensitive.reserve(total), s.col_idx.reserve(total), s.values.reserve(total);
  s.row_ptr.assign(rows + 1, 0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t i = r * cols + c;
      if (!mask[i]) continue;
      SQZ_CHECK(std::fabs(W[i]) < 65520.0f, "dense_sparse_split: weight {} at ({}, {}) overflows fp16", W[i], r, c);
      s.positions.push_back(i);
      s.is_sensitive.push_back(mask[i] == 2);
      s.col_idx.push_back((int32_t)c);
      s.values.push_back(f32_to_fp16(W[i]));
      if (mask[i] == 1) s.outlier_threshold = std::min(s.outlier_threshold, std::fabs(W[i]));
    }
    s.row_ptr[r + 1] = (int32_t)s.positions.size();
  }
  return s;
}

}  // namespace sqz::quant

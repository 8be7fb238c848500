// Internal: what every packed format's kernels share: splitting rows across threads by cost, and the
// scalar reference row kernel built from a format's reference dequantizer.
#pragma once
#include <omp.h>

#include <algorithm>
#include <span>
#include <vector>

#include "core/half.h"
#include "core/threads.h"
#include "kernels/cpu/tuning.h"
#include "kernels/format.h"

namespace sqz::kernels {

// The rows of sqz's own formats (formats.cpp) and of the GGUF block types (gguf_formats.cpp).
std::span<const Format* const> own_formats();
std::span<const Format* const> gguf_formats();

// Runs fn(r0, r1) over contiguous row ranges, one per thread, of equal cost where row r costs row_cost
// plus nz_cost per entry of row_ptr's sparse row (so a CSR part is balanced by its entries, not by rows).
// Work (weights x tokens) below kernel_tuning().parallel_min_work runs on the calling thread.
template <typename Fn>
void parallel_row_ranges(int64_t rows, int64_t work, double row_cost, const int32_t* row_ptr, double nz_cost, Fn&& fn) {
  if (rows <= 0) return;
  const int nt = (int)std::min<int64_t>(num_threads(), rows);
  if (nt <= 1 || work < kernel_tuning().parallel_min_work) {
    fn(int64_t{0}, rows);
    return;
  }
  auto cost = [&](int64_t r) { return row_cost * (double)r + (row_ptr ? nz_cost * (double)row_ptr[r] : 0.0); };
  const double total = cost(rows);
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    // First row whose prefix cost reaches the thread's share.
    auto split = [&](int k) -> int64_t {
      if (k <= 0) return 0;
      if (k >= T) return rows;
      const double target = total * k / T;
      int64_t lo = 0, hi = rows;
      while (lo < hi) {
        const int64_t mid = (lo + hi) / 2;
        if (cost(mid) < target) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    };
    const int64_t b = split(t), e = split(t + 1);
    if (b < e) fn(b, e);
  }
}

namespace detail {

// fn(column, value) for each entry of the sparse row r of s, in order: the one scalar walk of a CSR row
// (the reference dot below; csr_add_rows in format.cpp). The SIMD kernels keep their own (sparse_row.h:
// four independent FMA chains, F16C conversions, internal linkage).
template <typename Fn>
inline void for_csr_row(const CsrMatrix& s, int64_t r, Fn&& fn) {
  for (int32_t i = s.row_ptr[r]; i < s.row_ptr[r + 1]; ++i) fn(s.col_idx[i], fp16_to_f32(s.values[i]));
}

// The sparse row r of s dotted with x, left to right in fp32 (the reference every CSR kernel matches).
inline float csr_row_dot(const CsrMatrix& s, int64_t r, const float* x) {
  float acc = 0.f;
  for_csr_row(s, r, [&](int32_t c, float v) { acc += v * x[c]; });
  return acc;
}

// The reference row kernel of a format: each row dequantized by Deq, then one left-to-right fp32 dot
// product per token (plus the sparse row when given).
template <DequantFn Deq>
void rows_by_dequant(const PackedMatrix& m, const CsrMatrix* s, int64_t r0, int64_t r1, const float* X, int64_t n,
                     float* Y, int64_t ldy) {
  std::vector<float> row((size_t)m.cols);
  for (int64_t r = r0; r < r1; ++r) {
    Deq(m, r, r + 1, row.data());
    for (int64_t t = 0; t < n; ++t) {
      const float* x = X + t * m.cols;
      float acc = 0.f;
      for (int64_t c = 0; c < m.cols; ++c) acc += row[(size_t)c] * x[c];
      if (s) acc += csr_row_dot(*s, r, x);
      Y[t * ldy + r] = acc;
    }
  }
}

}  // namespace detail
}  // namespace sqz::kernels

#include "kernels/cpu/dense.h"

#include <cblas.h>

#include "core/threads.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/tuning.h"

namespace sqz::kernels {

using detail::ops;
using detail::scalar_ops;

void gemm_f32(const float* W, int64_t rows, int64_t cols, const float* X, int64_t n, float* Y) {
  if (n == 1) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)rows, (int)cols, 1.0f, W, (int)cols, X, 1, 0.0f, Y, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)(rows), (int)cols, 1.0f, X, (int)cols, W,
              (int)cols, 0.0f, Y, (int)rows);
}

void gemv_f16_ref(const uint16_t* W, int64_t rows, int64_t cols, const float* x, float* y) {
  for (int64_t r = 0; r < rows; ++r) y[r] = scalar_ops().f16_dot(W + r * cols, cols, x);
}

void gemv_bf16_ref(const uint16_t* W, int64_t rows, int64_t cols, const float* x, float* y) {
  for (int64_t r = 0; r < rows; ++r) y[r] = scalar_ops().bf16_dot(W + r * cols, cols, x);
}

namespace {

template <typename Dot>
void gemv_rows(int64_t rows, int64_t cols, float* y, Dot&& dot) {
  if (rows * cols < kernel_tuning().parallel_min_work) {
    for (int64_t r = 0; r < rows; ++r) y[r] = dot(r);
    return;
  }
  parallel_for(rows, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) y[r] = dot(r);
  });
}
}  // namespace

void gemv_f16(const uint16_t* W, int64_t rows, int64_t cols, const float* x, float* y) {
  auto dot = ops().f16_dot;
  gemv_rows(rows, cols, y, [&](int64_t r) { return dot(W + r * cols, cols, x); });
}

void gemv_bf16(const uint16_t* W, int64_t rows, int64_t cols, const float* x, float* y) {
  auto dot = ops().bf16_dot;
  gemv_rows(rows, cols, y, [&](int64_t r) { return dot(W + r * cols, cols, x); });
}

namespace {
bool half_gemm_rows(decltype(detail::RowOps::f16_rows_n) rows_n, const uint16_t* W, int64_t rows, int64_t cols,
                    const float* X, int64_t n, float* Y) {
  if (!rows_n) return false;
  auto run = [&](int64_t r0, int64_t r1) { rows_n(W, cols, r0, r1, X, n, Y, rows); };
  if (rows * cols * n < kernel_tuning().parallel_min_work) run(0, rows);
  else parallel_for(rows, 4, run);
  return true;
}
}  // namespace

bool gemm_f16_rows(const uint16_t* W, int64_t rows, int64_t cols, const float* X, int64_t n, float* Y) {
  return half_gemm_rows(ops().f16_rows_n, W, rows, cols, X, n, Y);
}
bool gemm_bf16_rows(const uint16_t* W, int64_t rows, int64_t cols, const float* X, int64_t n, float* Y) {
  return half_gemm_rows(ops().bf16_rows_n, W, rows, cols, X, n, Y);
}

void convert_f16_to_f32(const uint16_t* in, float* out, int64_t n) { ops().f16_to_f32(in, out, n); }
void convert_bf16_to_f32(const uint16_t* in, float* out, int64_t n) { ops().bf16_to_f32(in, out, n); }

}  // namespace sqz::kernels

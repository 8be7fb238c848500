#include "kernels/cpu/dense.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/simd_avx512.h"

#include <cblas.h>

#include "core/half.h"
#include "core/threads.h"

namespace sqz::kernels {

void gemm_f32(const float* W, int64_t rows, int64_t cols, const float* X, int64_t n, float* Y) {
  if (n == 1) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)rows, (int)cols, 1.0f, W, (int)cols, X, 1, 0.0f, Y, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)rows, (int)cols, 1.0f, X, (int)cols, W,
              (int)cols, 0.0f, Y, (int)rows);
}

void gemv_f16_ref(const uint16_t* W, int64_t rows, int64_t cols, const float* x, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    float acc = 0.f;
    const uint16_t* w = W + r * cols;
    for (int64_t c = 0; c < cols; ++c) acc += fp16_to_f32(w[c]) * x[c];
    y[r] = acc;
  }
}

void gemv_bf16_ref(const uint16_t* W, int64_t rows, int64_t cols, const float* x, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    float acc = 0.f;
    const uint16_t* w = W + r * cols;
    for (int64_t c = 0; c < cols; ++c) acc += sqz::bf16_to_f32(w[c]) * x[c];
    y[r] = acc;
  }
}

void gemv_f16(const uint16_t* W, int64_t rows, int64_t cols, const float* x, float* y) {
  if (active_isa() == Isa::Avx512) {
    parallel_for(rows, 64, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) y[r] = avx512::f16_row_dot(W + r * cols, cols, x);
    });
    return;
  }
  parallel_for(rows, 16, [&](int64_t r0, int64_t r1) { gemv_f16_ref(W + r0 * cols, r1 - r0, cols, x, y + r0); });
}

void gemv_bf16(const uint16_t* W, int64_t rows, int64_t cols, const float* x, float* y) {
  parallel_for(rows, 16, [&](int64_t r0, int64_t r1) { gemv_bf16_ref(W + r0 * cols, r1 - r0, cols, x, y + r0); });
}

void convert_f16_to_f32(const uint16_t* in, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = fp16_to_f32(in[i]);
}
void convert_bf16_to_f32(const uint16_t* in, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = sqz::bf16_to_f32(in[i]);
}

}  // namespace sqz::kernels

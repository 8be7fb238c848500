// The scalar kernels that are not a packed format's (those are in their rows, formats.cpp): the
// reference arithmetic (left-to-right fp32 dot products, exact int32 sums), used as Isa::Scalar.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/half.h"
#include "kernels/cpu/ops.h"

namespace sqz::kernels::detail {

namespace {

void i8_rows(const Int8Matrix& w, int64_t r0, int64_t r1, const int8_t* Xq, const int32_t*, const float* xs, int64_t n,
             float* Y) {
  for (int64_t r = r0; r < r1; ++r) {
    const int8_t* wr = w.q + r * w.cols;
    for (int64_t t = 0; t < n; ++t) {
      const int8_t* xr = Xq + t * w.cols;
      int32_t acc = 0;
      for (int64_t c = 0; c < w.cols; ++c) acc += (int32_t)xr[c] * (int32_t)wr[c];
      Y[t * w.rows + r] = (float)acc * xs[t] * w.scale[r];
    }
  }
}

float absmax(const float* x, int64_t n) {
  float m = 0.f;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}

void quantize_i8(const float* x, int64_t n, float inv, int8_t* q) {
  for (int64_t i = 0; i < n; ++i) q[i] = (int8_t)std::clamp(std::nearbyint(x[i] * inv), -127.f, 127.f);
}

float f16_dot(const uint16_t* w, int64_t n, const float* x) {
  float acc = 0.f;
  for (int64_t c = 0; c < n; ++c) acc += fp16_to_f32(w[c]) * x[c];
  return acc;
}
float bf16_dot(const uint16_t* w, int64_t n, const float* x) {
  float acc = 0.f;
  for (int64_t c = 0; c < n; ++c) acc += bf16_to_f32(w[c]) * x[c];
  return acc;
}
void f16_rows(const uint16_t* W, int64_t cols, int64_t r0, int64_t r1, const float* x, float* y) {
  for (int64_t r = r0; r < r1; ++r) y[r] = f16_dot(W + r * cols, cols, x);
}
void bf16_rows(const uint16_t* W, int64_t cols, int64_t r0, int64_t r1, const float* x, float* y) {
  for (int64_t r = r0; r < r1; ++r) y[r] = bf16_dot(W + r * cols, cols, x);
}

void f16_to_f32(const uint16_t* in, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = fp16_to_f32(in[i]);
}
void bf16_to_f32(const uint16_t* in, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = sqz::bf16_to_f32(in[i]);
}

}  // namespace

const RowOps& scalar_ops() {
  static const RowOps ops{i8_rows,  absmax,    quantize_i8, f16_dot,    bf16_dot,
                          f16_rows, bf16_rows, f16_to_f32,  bf16_to_f32};
  return ops;
}

}  // namespace sqz::kernels::detail

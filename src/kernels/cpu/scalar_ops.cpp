// The scalar row kernels: the reference arithmetic (dequantize a row to fp32, then a left-to-right fp32
// dot product), used as Isa::Scalar and by the *_ref functions.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/half.h"
#include "kernels/cpu/ops.h"

namespace sqz::kernels::detail {

namespace {

float dot(const float* a, const float* b, int64_t n) {
  float acc = 0.f;
  for (int64_t i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}

float csr_row_dot(const CsrMatrix& s, int64_t r, const float* x) {
  float acc = 0.f;
  for (int32_t i = s.row_ptr[r]; i < s.row_ptr[r + 1]; ++i) acc += fp16_to_f32(s.values[i]) * x[s.col_idx[i]];
  return acc;
}

void lut_dequant(const LutMatrix& w, int64_t r0, int64_t r1, float* out) {
  const int64_t words = words_per_row(w.bits, w.cols);
  std::vector<uint8_t> idx((size_t)w.cols);
  for (int64_t r = r0; r < r1; ++r) {
    unpack_row(w.bits, w.packed + r * words, w.cols, idx.data());
    const uint16_t* lut = w.lut + (r << w.bits);
    float* o = out + (r - r0) * w.cols;
    for (int64_t c = 0; c < w.cols; ++c) o[c] = fp16_to_f32(lut[idx[(size_t)c]]);
  }
}

void group_dequant(const GroupMatrix& w, int64_t r0, int64_t r1, float* out) {
  const int64_t words = words_per_row(w.bits, w.cols), ng = w.n_groups();
  std::vector<uint8_t> q((size_t)w.cols);
  for (int64_t r = r0; r < r1; ++r) {
    unpack_row(w.bits, w.packed + r * words, w.cols, q.data());
    float* o = out + (r - r0) * w.cols;
    for (int64_t c = 0; c < w.cols; ++c) {
      const int64_t g = w.g_idx ? w.g_idx[c] : c / w.group;
      const float s = fp16_to_f32(w.scales[r * ng + g]), z = fp16_to_f32(w.zeros[r * ng + g]);
      o[c] = ((float)q[(size_t)c] - z) * s;
    }
  }
}

void nf4_dequant(const Nf4Matrix& w, int64_t r0, int64_t r1, float* out) {
  const int64_t words = words_per_row(4, w.cols);
  std::vector<uint8_t> q((size_t)w.cols);
  for (int64_t r = r0; r < r1; ++r) {
    unpack_row(4, w.packed + r * words, w.cols, q.data());
    float* o = out + (r - r0) * w.cols;
    for (int64_t c = 0; c < w.cols; ++c) o[c] = kNf4Codebook[q[(size_t)c]] * w.absmax[(r * w.cols + c) / w.block];
  }
}

// Row by row: dequantize, then one dot product per token.
template <typename M, typename Deq>
void rows_by_dequant(const M& w, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y, int64_t ldy, Deq deq,
                     const CsrMatrix* s = nullptr) {
  std::vector<float> row((size_t)w.cols);
  for (int64_t r = r0; r < r1; ++r) {
    deq(w, r, r + 1, row.data());
    for (int64_t t = 0; t < n; ++t) {
      const float* x = X + t * w.cols;
      float acc = dot(row.data(), x, w.cols);
      if (s) acc += csr_row_dot(*s, r, x);
      Y[t * ldy + r] = acc;
    }
  }
}

void lut_rows(const LutMatrix& w, const CsrMatrix* s, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y,
              int64_t ldy) {
  rows_by_dequant(w, r0, r1, X, n, Y, ldy, lut_dequant, s);
}
void group_rows(const GroupMatrix& w, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y, int64_t ldy) {
  rows_by_dequant(w, r0, r1, X, n, Y, ldy, group_dequant);
}
void nf4_rows(const Nf4Matrix& w, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y, int64_t ldy) {
  rows_by_dequant(w, r0, r1, X, n, Y, ldy, nf4_dequant);
}

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
  static const RowOps ops{lut_rows, group_rows,  nf4_rows, lut_dequant, group_dequant, nf4_dequant, i8_rows,  absmax,
                          quantize_i8, f16_dot, bf16_dot, f16_rows,    bf16_rows,     f16_to_f32,  bf16_to_f32};
  return ops;
}

}  // namespace sqz::kernels::detail

// Scalar reference implementations of the packed formats (kernels/cpu/formats.h).
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "core/threads.h"
#include "kernels/cpu/formats.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/simd_avx512.h"

namespace sqz::kernels {

const float kNf4Codebook[16] = {-1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
                                -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
                                0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
                                0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

int64_t packed_words_per_row(int bits, int64_t cols) {
  switch (bits) {
    case 2: return (cols + 15) / 16;
    case 3: return (cols + 31) / 32 * 3;
    case 4: return (cols + 7) / 8;
    case 8: return (cols + 3) / 4;
    default: fail("packed index width of {} bits is not supported (2, 3, 4, 8)", bits);
  }
}

void pack_row(int bits, const uint8_t* idx, int64_t cols, uint32_t* out) {
  std::memset(out, 0, (size_t)packed_words_per_row(bits, cols) * 4);
  if (bits == 3) {
    for (int64_t c = 0; c < cols; ++c) {
      uint32_t* blk = out + (c / 32) * 3;
      const int j = (int)(c % 32);
      blk[j / 16] |= (uint32_t)(idx[c] & 3) << (2 * (j % 16));
      blk[2] |= (uint32_t)((idx[c] >> 2) & 1) << j;
    }
    return;
  }
  const int per = 32 / bits;
  const uint32_t mask = (1u << bits) - 1;
  for (int64_t c = 0; c < cols; ++c) out[c / per] |= ((uint32_t)idx[c] & mask) << (bits * (c % per));
}

void unpack_row(int bits, const uint32_t* in, int64_t cols, uint8_t* idx) {
  if (bits == 3) {
    for (int64_t c = 0; c < cols; ++c) {
      const uint32_t* blk = in + (c / 32) * 3;
      const int j = (int)(c % 32);
      idx[c] = (uint8_t)(((blk[j / 16] >> (2 * (j % 16))) & 3) | (((blk[2] >> j) & 1) << 2));
    }
    return;
  }
  const int per = 32 / bits;
  const uint32_t mask = (1u << bits) - 1;
  for (int64_t c = 0; c < cols; ++c) idx[c] = (uint8_t)((in[c / per] >> (bits * (c % per))) & mask);
}

namespace {

// Multiplies n tokens by a matrix given by a row dequantizer: tiles of rows are expanded to fp32 and
// handed to sgemm (writing those output columns).
template <typename Dequant>
void gemm_by_tiles(int64_t rows, int64_t cols, const float* X, int64_t n, float* Y, Dequant&& deq) {
  const int64_t tile = std::max<int64_t>(16, (1 << 18) / std::max<int64_t>(cols, 1));
  std::vector<float> buf((size_t)(std::min(tile, rows) * cols));
  for (int64_t r0 = 0; r0 < rows; r0 += tile) {
    const int64_t r1 = std::min(rows, r0 + tile);
    deq(r0, r1, buf.data());
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)(r1 - r0), (int)cols, 1.0f, X, (int)cols,
                buf.data(), (int)cols, 0.0f, Y + r0, (int)rows);
  }
}

// y = W x for a matrix given by a row dequantizer, parallel over rows.
template <typename Dequant>
void gemv_by_rows(int64_t rows, int64_t cols, const float* x, float* y, Dequant&& deq) {
  parallel_for(rows, 8, [&](int64_t r0, int64_t r1) {
    std::vector<float> w((size_t)cols);
    for (int64_t r = r0; r < r1; ++r) {
      deq(r, r + 1, w.data());
      float acc = 0.f;
      for (int64_t c = 0; c < cols; ++c) acc += w[(size_t)c] * x[c];
      y[r] = acc;
    }
  });
}

}  // namespace

void lut_dequant_rows(const LutMatrix& w, int64_t r0, int64_t r1, float* out) {
  const int64_t words = packed_words_per_row(w.bits, w.cols);
  std::vector<uint8_t> idx((size_t)w.cols);
  for (int64_t r = r0; r < r1; ++r) {
    unpack_row(w.bits, w.packed + r * words, w.cols, idx.data());
    const uint16_t* lut = w.lut + (r << w.bits);
    float* o = out + (r - r0) * w.cols;
    for (int64_t c = 0; c < w.cols; ++c) o[c] = fp16_to_f32(lut[idx[(size_t)c]]);
  }
}

void csr_add_rows(const CsrMatrix& s, int64_t r0, int64_t r1, float* out) {
  for (int64_t r = r0; r < r1; ++r)
    for (int32_t i = s.row_ptr[r]; i < s.row_ptr[r + 1]; ++i) out[(r - r0) * s.cols + s.col_idx[i]] += fp16_to_f32(s.values[i]);
}

static void csr_gemv_add(const CsrMatrix& s, const float* x, float* y) {
  for (int64_t r = 0; r < s.rows; ++r) {
    float acc = 0.f;
    for (int32_t i = s.row_ptr[r]; i < s.row_ptr[r + 1]; ++i) acc += fp16_to_f32(s.values[i]) * x[s.col_idx[i]];
    y[r] += acc;
  }
}

void lut_gemv_ref(const LutMatrix& w, const CsrMatrix* sparse, const float* x, float* y) {
  std::vector<float> row((size_t)w.cols);
  for (int64_t r = 0; r < w.rows; ++r) {
    lut_dequant_rows(w, r, r + 1, row.data());
    float acc = 0.f;
    for (int64_t c = 0; c < w.cols; ++c) acc += row[(size_t)c] * x[c];
    y[r] = acc;
  }
  if (sparse) csr_gemv_add(*sparse, x, y);
}

void lut_gemv(const LutMatrix& w, const CsrMatrix* sparse, const float* x, float* y) {
  if (active_isa() == Isa::Avx512 && (w.bits == 3 || w.bits == 4)) {
    const int64_t words = packed_words_per_row(w.bits, w.cols);
    parallel_for(w.rows, 64, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) y[r] = avx512::lut_row_dot(w.bits, w.packed + r * words, w.lut + (r << w.bits), w.cols, x);
    });
  } else {
    gemv_by_rows(w.rows, w.cols, x, y, [&](int64_t a, int64_t b, float* o) { lut_dequant_rows(w, a, b, o); });
  }
  if (sparse) csr_gemv_add(*sparse, x, y);
}

void lut_gemm(const LutMatrix& w, const CsrMatrix* sparse, const float* X, int64_t n, float* Y) {
  gemm_by_tiles(w.rows, w.cols, X, n, Y, [&](int64_t a, int64_t b, float* o) {
    lut_dequant_rows(w, a, b, o);
    if (sparse) csr_add_rows(*sparse, a, b, o);
  });
}

int64_t GroupMatrix::n_groups() const { return (cols + group - 1) / group; }

void group_dequant_rows(const GroupMatrix& w, int64_t r0, int64_t r1, float* out) {
  const int64_t words = packed_words_per_row(w.bits, w.cols), ng = w.n_groups();
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

void group_gemv_ref(const GroupMatrix& w, const float* x, float* y) {
  std::vector<float> row((size_t)w.cols);
  for (int64_t r = 0; r < w.rows; ++r) {
    group_dequant_rows(w, r, r + 1, row.data());
    float acc = 0.f;
    for (int64_t c = 0; c < w.cols; ++c) acc += row[(size_t)c] * x[c];
    y[r] = acc;
  }
}
void group_gemv(const GroupMatrix& w, const float* x, float* y) {
  if (w.g_idx) {
    gemv_by_rows(w.rows, w.cols, x, y, [&](int64_t a, int64_t b, float* o) { group_dequant_rows(w, a, b, o); });
    return;
  }
  // sum_c (q_c - z) s x_c = s (sum_c q_c x_c - z sum_c x_c) per group: the sums of x are shared by every row.
  const int64_t ng = w.n_groups(), words = packed_words_per_row(w.bits, w.cols);
  std::vector<float> xsum((size_t)ng, 0.f);
  for (int64_t c = 0; c < w.cols; ++c) xsum[(size_t)(c / w.group)] += x[c];
  parallel_for(w.rows, 16, [&](int64_t r0, int64_t r1) {
    std::vector<uint8_t> q((size_t)w.cols);
    for (int64_t r = r0; r < r1; ++r) {
      unpack_row(w.bits, w.packed + r * words, w.cols, q.data());
      float acc = 0.f;
      for (int64_t g = 0; g < ng; ++g) {
        const int64_t c0 = g * w.group, c1 = std::min(w.cols, c0 + w.group);
        float qx = 0.f;
        for (int64_t c = c0; c < c1; ++c) qx += (float)q[(size_t)c] * x[c];
        acc += fp16_to_f32(w.scales[r * ng + g]) * (qx - fp16_to_f32(w.zeros[r * ng + g]) * xsum[(size_t)g]);
      }
      y[r] = acc;
    }
  });
}
void group_gemm(const GroupMatrix& w, const float* X, int64_t n, float* Y) {
  gemm_by_tiles(w.rows, w.cols, X, n, Y, [&](int64_t a, int64_t b, float* o) { group_dequant_rows(w, a, b, o); });
}

void nf4_dequant_rows(const Nf4Matrix& w, int64_t r0, int64_t r1, float* out) {
  const int64_t words = packed_words_per_row(4, w.cols);
  std::vector<uint8_t> q((size_t)w.cols);
  for (int64_t r = r0; r < r1; ++r) {
    unpack_row(4, w.packed + r * words, w.cols, q.data());
    float* o = out + (r - r0) * w.cols;
    for (int64_t c = 0; c < w.cols; ++c) o[c] = kNf4Codebook[q[(size_t)c]] * w.absmax[(r * w.cols + c) / w.block];
  }
}
void nf4_gemv_ref(const Nf4Matrix& w, const float* x, float* y) {
  std::vector<float> row((size_t)w.cols);
  for (int64_t r = 0; r < w.rows; ++r) {
    nf4_dequant_rows(w, r, r + 1, row.data());
    float acc = 0.f;
    for (int64_t c = 0; c < w.cols; ++c) acc += row[(size_t)c] * x[c];
    y[r] = acc;
  }
}
void nf4_gemv(const Nf4Matrix& w, const float* x, float* y) {
  gemv_by_rows(w.rows, w.cols, x, y, [&](int64_t a, int64_t b, float* o) { nf4_dequant_rows(w, a, b, o); });
}
void nf4_gemm(const Nf4Matrix& w, const float* X, int64_t n, float* Y) {
  gemm_by_tiles(w.rows, w.cols, X, n, Y, [&](int64_t a, int64_t b, float* o) { nf4_dequant_rows(w, a, b, o); });
}

void quantize_activations(const float* X, int64_t n, int64_t cols, ActQuant mode, float static_scale, int8_t* q,
                          float* scales) {
  float tensor_scale = static_scale;
  if (mode == ActQuant::PerTensorDynamic) {
    float m = 0.f;
    for (int64_t i = 0; i < n * cols; ++i) m = std::max(m, std::fabs(X[i]));
    tensor_scale = m > 0 ? m / 127.f : 1.f;
  }
  for (int64_t t = 0; t < n; ++t) {
    float s = tensor_scale;
    if (mode == ActQuant::PerToken) {
      float m = 0.f;
      for (int64_t c = 0; c < cols; ++c) m = std::max(m, std::fabs(X[t * cols + c]));
      s = m > 0 ? m / 127.f : 1.f;
    }
    scales[t] = s;
    const float inv = 1.f / s;
    for (int64_t c = 0; c < cols; ++c)
      q[t * cols + c] = (int8_t)std::clamp(std::nearbyint(X[t * cols + c] * inv), -127.f, 127.f);
  }
}

void w8a8_gemm_ref(const Int8Matrix& w, const int8_t* Xq, const float* xs, int64_t n, float* Y) {
  for (int64_t t = 0; t < n; ++t)
    for (int64_t r = 0; r < w.rows; ++r) {
      int32_t acc = 0;
      for (int64_t c = 0; c < w.cols; ++c) acc += (int32_t)Xq[t * w.cols + c] * (int32_t)w.q[r * w.cols + c];
      Y[t * w.rows + r] = (float)acc * xs[t] * w.scale[r];
    }
}

void w8a8_gemm(const Int8Matrix& w, const float* X, int64_t n, ActQuant mode, float static_scale, float* Y) {
  std::vector<int8_t> q((size_t)(n * w.cols));
  std::vector<float> s((size_t)n);
  quantize_activations(X, n, w.cols, mode, static_scale, q.data(), s.data());
  parallel_for(w.rows, 8, [&](int64_t r0, int64_t r1) {
    for (int64_t t = 0; t < n; ++t)
      for (int64_t r = r0; r < r1; ++r) {
        int32_t acc = 0;
        const int8_t* wr = w.q + r * w.cols;
        const int8_t* xr = q.data() + t * w.cols;
        for (int64_t c = 0; c < w.cols; ++c) acc += (int32_t)xr[c] * (int32_t)wr[c];
        Y[t * w.rows + r] = (float)acc * s[(size_t)t] * w.scale[r];
      }
  });
}

}  // namespace sqz::kernels

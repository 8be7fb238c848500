// Internal: the per-ISA row kernels behind the public entry points of formats.h and dense.h. Each ISA
// (scalar_ops.cpp, simd_avx2.cpp, simd_avx512.cpp) fills one RowOps; formats.cpp / dense.cpp pick the
// table of active_isa(), split the rows across threads and call these on row ranges. Every function here
// is single-threaded and writes only the rows it is given.
#pragma once
#include <cstdint>

#include "kernels/cpu/formats.h"
#include "kernels/cpu/isa.h"

namespace sqz::kernels::detail {

struct RowOps {
  // For r in [r0, r1) and every token t < n:
  //   Y[t * ldy + r] = sum_c W[r, c] X[t * cols + c]  (+ the sparse row of s when s != nullptr).
  void (*lut_rows)(const LutMatrix& w, const CsrMatrix* s, int64_t r0, int64_t r1, const float* X, int64_t n,
                   float* Y, int64_t ldy);
  void (*group_rows)(const GroupMatrix& w, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y, int64_t ldy);
  void (*nf4_rows)(const Nf4Matrix& w, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y, int64_t ldy);
  // Rows [r0, r1) as fp32 into out[(r1 - r0) * cols]; equal bit for bit to the scalar reference.
  void (*lut_dequant)(const LutMatrix& w, int64_t r0, int64_t r1, float* out);
  void (*group_dequant)(const GroupMatrix& w, int64_t r0, int64_t r1, float* out);
  void (*nf4_dequant)(const Nf4Matrix& w, int64_t r0, int64_t r1, float* out);
  // W8A8, any n: Y[t * rows + r] = (float)(sum_c Xq[t, c] W[r, c]) * xs[t] * w.scale[r], exact int32 sums;
  // xsum[t] = sum_c Xq[t, c] (the AVX-512 VNNI kernel needs it for its unsigned-offset correction).
  void (*i8_rows)(const Int8Matrix& w, int64_t r0, int64_t r1, const int8_t* Xq, const int32_t* xsum,
                  const float* xs, int64_t n, float* Y);
  float (*absmax)(const float* x, int64_t n);
  // q[i] = clamp(nearbyint(x[i] * inv), -127, 127)
  void (*quantize_i8)(const float* x, int64_t n, float inv, int8_t* q);
  float (*f16_dot)(const uint16_t* w, int64_t n, const float* x);
  float (*bf16_dot)(const uint16_t* w, int64_t n, const float* x);
  // y[r] = W[r, :] . x for r in [r0, r1) (W row-major with `cols` columns).
  void (*f16_rows)(const uint16_t* W, int64_t cols, int64_t r0, int64_t r1, const float* x, float* y);
  void (*bf16_rows)(const uint16_t* W, int64_t cols, int64_t r0, int64_t r1, const float* x, float* y);
  void (*f16_to_f32)(const uint16_t* in, float* out, int64_t n);
  void (*bf16_to_f32)(const uint16_t* in, float* out, int64_t n);
  // Many tokens (Y[t * ldy + r] = W[r, :] . X[t], rows [r0, r1)), or nullptr where the ISA has no such
  // kernel (the caller then converts row tiles to fp32 for sgemm).
  void (*f16_rows_n)(const uint16_t* W, int64_t cols, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y,
                     int64_t ldy) = nullptr;
  void (*bf16_rows_n)(const uint16_t* W, int64_t cols, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y,
                      int64_t ldy) = nullptr;
};

const RowOps& scalar_ops();
const RowOps& avx2_ops();
const RowOps& avx512_ops();

inline const RowOps& ops_for(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return avx512_ops();
    case Isa::Avx2: return avx2_ops();
    default: return scalar_ops();
  }
}
inline const RowOps& ops() { return ops_for(active_isa()); }

// Shared by the ISAs: the exact packed row length without the error path of packed_words_per_row.
inline int64_t words_per_row(int bits, int64_t cols) {
  return bits == 3 ? (cols + 31) / 32 * 3 : (cols * bits + 31) / 32;
}
// Whether a format's scale segments line up with the 32-column steps of the SIMD kernels.
inline bool group_aligned(const GroupMatrix& w) { return !w.g_idx && (w.group % 32 == 0 || w.group >= w.cols); }
inline bool nf4_aligned(const Nf4Matrix& w) { return w.block % 32 == 0 && w.cols % w.block == 0; }

}  // namespace sqz::kernels::detail

// Internal: the per-ISA kernels. Each ISA file (scalar_ops.cpp, simd_avx2.cpp, simd_avx512.cpp) fills one
// RowOps with the kernels that are not a packed format's (dense fp16/bf16, W8A8's integer rows, activation
// quantization), and the SIMD files list their packed-format kernels by format name. Callers (format.cpp,
// dense.cpp) pick the active ISA's, split rows across threads and call these on row ranges. Every function
// here is single-threaded and writes only the rows it is given.
#pragma once
#include <cstdint>
#include <span>

#include "kernels/cpu/formats.h"
#include "kernels/cpu/isa.h"
#include "kernels/format.h"

namespace sqz::kernels::detail {

struct RowOps {
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

// The packed-format kernels an ISA file has, by format name (a row of kernels/format.h); the format table
// takes them from these lists, so a new format's SIMD kernels are listed in their own file only.
struct NamedFormatKernels {
  const char* format;
  FormatKernels kernels;
};
std::span<const NamedFormatKernels> avx2_format_kernels();
std::span<const NamedFormatKernels> avx512_format_kernels();
// The GGUF block types' kernels (gguf_avx2.cpp, gguf_avx512.cpp).
std::span<const NamedFormatKernels> avx2_gguf_kernels();
std::span<const NamedFormatKernels> avx512_gguf_kernels();

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

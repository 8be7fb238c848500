// AVX-512 row kernels (F/BW/VL/DQ + VNNI + VBMI; chosen only when the CPU has them, see isa.cpp): the
// skeleton of row_kernels-inl.h and the format kernels of format_kernels-inl.h compiled with this file's
// vector traits (vec_avx512.h), plus what only AVX-512 does this way: the packed-index decoders, the
// int8 dot product (VNNI) and the activation quantizer.
//
// The packed kernels work in steps of 32 columns. A step's indices become two vectors of 16 int32 lanes
// and the row's table (LUT, group scale/zero table or NF4 block table) lives in one zmm register as 16
// fp32 values; _mm512_permutexvar_ps (vpermps) looks up 16 weights at once, then one FMA per token.
// vpermps reads only bits 3..0 of each lane, so the decoders leave whatever sits above an index's own
// bits in place, and tables with fewer than 16 entries are repeated across the register (8 entries twice
// for 3-bit, 4 entries four times for 2-bit) so those leftover bits do not matter.
#include "kernels/cpu/vec_avx512.h"

#include <algorithm>
#include <cstring>

namespace sqz::kernels::detail {
namespace {

// ---- decoders: chunk j (indices 16j .. 16j+15) of the 32-index step at p, looked up in table t ----

template <int B>
struct Decoder;

// 2-bit: word k holds indices 16k..16k+15 at bits 2j: lane j shifts its word right by 2j.
template <>
struct Decoder<2> {
  __m512i sh = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  __m512 operator()(const uint32_t* p, int j, const __m512& t) const {
    return _mm512_permutexvar_ps(_mm512_srlv_epi32(_mm512_set1_epi32((int)p[j]), sh), t);
  }
};

inline __m512i bcast64(const void* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return _mm512_set1_epi64((long long)v);
}

// 3-bit (block of 32 = 3 words, index j at bits 3j of the block's bit stream): bytes 0..7 hold indices
// 0-15 at bits 3j, bytes 4..11 indices 16-31 at bits 16 + 3j. vpmultishiftqb copies, into byte 0 of
// dword lane j, the 8 bits starting at that offset of the broadcast qword: one byte-shuffle-class op per
// 16 indices, where the previous 2+1 bit-plane layout needed three (two shifts and a rotate).
template <>
struct Decoder<3> {
  __m512i ctl[2] = {offsets(0), offsets(16)};
  static __m512i offsets(int base) {
    alignas(64) uint8_t b[64] = {};
    for (int j = 0; j < 16; ++j) b[4 * j] = (uint8_t)(base + 3 * j);
    return _mm512_load_si512(b);
  }
  __m512 operator()(const uint32_t* p, int j, const __m512& t) const {
    return _mm512_permutexvar_ps(_mm512_multishift_epi64_epi8(ctl[j], bcast64(p + j)), t);
  }
};

// 4-bit: words 2k, 2k+1 form one little-endian qword with indices 16k..16k+15 at bits 4j. vpmultishiftqb
// copies, into byte 0 of dword lane j, the 8 bits starting at bit 4j of the broadcast qword.
template <>
struct Decoder<4> {
  __m512i ctl = _mm512_set_epi64(0x0000003C00000038, 0x0000003400000030, 0x0000002C00000028, 0x0000002400000020,
                                 0x0000001C00000018, 0x0000001400000010, 0x0000000C00000008, 0x0000000400000000);
  __m512 operator()(const uint32_t* p, int j, const __m512& t) const {
    return _mm512_permutexvar_ps(_mm512_multishift_epi64_epi8(ctl, bcast64(p + 2 * j)), t);
  }
};

// ---- W8A8 ----
// vpdpbusd multiplies unsigned by signed bytes. Weights go in as the unsigned operand w + 128 (w ^ 0x80),
// activations as the signed one: sum (w + 128) x = sum w x + 128 sum x, and sum x is per token (xsum).
// |sum| <= 255 * 127 * cols fits int32 for cols < 66000.

template <int N>
inline void i8_dot(const int8_t* w, const int8_t* X, int64_t cols, const int32_t* xsum, int32_t* out) {
  const __m512i off = _mm512_set1_epi8((char)0x80);
  __m512i acc[N];
  for (int t = 0; t < N; ++t) acc[t] = _mm512_setzero_si512();
  int64_t c = 0;
  for (; c + 64 <= cols; c += 64) {
    const __m512i wu = _mm512_xor_si512(_mm512_loadu_si512(w + c), off);
    for (int t = 0; t < N; ++t) acc[t] = _mm512_dpbusd_epi32(acc[t], wu, _mm512_loadu_si512(X + t * cols + c));
  }
  if (c < cols) {
    const __mmask64 m = ((__mmask64)1 << (cols - c)) - 1;  // 0 < cols - c < 64
    const __m512i wu = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, w + c), off);
    for (int t = 0; t < N; ++t) acc[t] = _mm512_dpbusd_epi32(acc[t], wu, _mm512_maskz_loadu_epi8(m, X + t * cols + c));
  }
  for (int t = 0; t < N; ++t) out[t] = _mm512_reduce_add_epi32(acc[t]) - 128 * xsum[t];
}

float absmax(const float* x, int64_t n) {
  __m512 m = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_maskz_loadu_ps(Vec::mask(n - i), x + i)));
  return _mm512_reduce_max_ps(m);
}

void quantize_i8(const float* x, int64_t n, float inv, int8_t* q) {
  const __m512 vinv = _mm512_set1_ps(inv), lo = _mm512_set1_ps(-127.f), hi = _mm512_set1_ps(127.f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = Vec::mask(n - i);
    const __m512 v = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), vinv), lo), hi);
    // Round to nearest even (the default MXCSR mode), as std::nearbyint does.
    _mm512_mask_cvtepi32_storeu_epi8(q + i, m, _mm512_cvtps_epi32(v));
  }
}

}  // namespace
}  // namespace sqz::kernels::detail

#include "kernels/cpu/format_kernels-inl.h"

namespace sqz::kernels::detail {

const RowOps& avx512_ops() {
  static const RowOps ops{i8_rows,  absmax,    quantize_i8, f16_dot,    bf16_dot,   f16_rows,
                          bf16_rows, f16_to_f32, bf16_to_f32, f16_rows_n, bf16_rows_n};
  return ops;
}

std::span<const NamedFormatKernels> avx512_format_kernels() { return kFormatKernels; }

}  // namespace sqz::kernels::detail

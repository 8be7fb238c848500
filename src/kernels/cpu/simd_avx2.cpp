// AVX2 + FMA + F16C row kernels (chosen when the CPU lacks the AVX-512 set of isa.cpp): the skeleton of
// row_kernels-inl.h and the format kernels of format_kernels-inl.h compiled with this file's vector traits
// (vec_avx2.h), plus what only AVX2 does this way: the packed-index decoders, the int8 dot product and the
// activation quantizer.
//
// A 32-column step is four chunks of 8 indices; _mm256_permutevar8x32_ps looks up 8 weights in an
// 8-entry fp32 table (it reads index bits 2..0, so the 2-bit table is repeated twice). 4-bit tables need
// 16 entries: two permutes (entries 0-7 and 8-15) and a blend on index bit 3, moved to the sign bit.
#include "kernels/cpu/vec_avx2.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace sqz::kernels::detail {
namespace {

// ---- decoders: chunk g (indices 8g .. 8g+7) of the 32-index step at p, looked up in table t ----

template <int B>
struct Decoder;

template <>
struct Decoder<2> {
  __m256i sh = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
  __m256 operator()(const uint32_t* p, int g, const __m256& t) const {
    return _mm256_permutevar8x32_ps(t, _mm256_srlv_epi32(_mm256_set1_epi32((int)(p[g >> 1] >> (16 * (g & 1)))), sh));
  }
};

// 3-bit: indices 8g..8g+7 sit at bits 24g..24g+23 of the block's bit stream. One unaligned 32-bit load
// (from byte 3g, or byte 8 for the last chunk so it stays inside the 12-byte block) and one variable
// shift per lane; vpermps reads only the low three bits.
template <>
struct Decoder<3> {
  __m256i sh = _mm256_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21), sh_last = _mm256_setr_epi32(8, 11, 14, 17, 20, 23, 26, 29);
  __m256 operator()(const uint32_t* p, int g, const __m256& t) const {
    uint32_t v;
    std::memcpy(&v, reinterpret_cast<const uint8_t*>(p) + (g == 3 ? 8 : 3 * g), 4);
    return _mm256_permutevar8x32_ps(t, _mm256_srlv_epi32(_mm256_set1_epi32((int)v), g == 3 ? sh_last : sh));
  }
};

template <>
struct Decoder<4> {
  __m256i sh = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28), shl = _mm256_setr_epi32(28, 24, 20, 16, 12, 8, 4, 0);
  __m256 operator()(const uint32_t* p, int g, const Table4& t) const {
    const __m256i v = _mm256_set1_epi32((int)p[g]);
    const __m256i i = _mm256_srlv_epi32(v, sh);
    return _mm256_blendv_ps(_mm256_permutevar8x32_ps(t.lo, i), _mm256_permutevar8x32_ps(t.hi, i),
                            _mm256_castsi256_ps(_mm256_sllv_epi32(v, shl)));
  }
};

// ---- W8A8: vpmaddubsw with |w| (unsigned) and x * sign(w) (signed): pairs sum to at most
// 2 * 128 * 127 < 32768, so the int16 step never saturates; vpmaddwd widens to int32. ----

inline int32_t hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

template <int N>
inline void i8_dot(const int8_t* w, const int8_t* X, int64_t cols, const int32_t*, int32_t* out) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[N];
  for (int t = 0; t < N; ++t) acc[t] = _mm256_setzero_si256();
  int64_t c = 0;
  for (; c + 32 <= cols; c += 32) {
    const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + c));
    const __m256i aw = _mm256_abs_epi8(wv);
    for (int t = 0; t < N; ++t) {
      const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(X + t * cols + c));
      acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(xv, wv)), ones));
    }
  }
  for (int t = 0; t < N; ++t) {
    int32_t s = hsum_epi32(acc[t]);
    for (int64_t k = c; k < cols; ++k) s += (int32_t)w[k] * (int32_t)X[t * cols + k];
    out[t] = s;
  }
}

float absmax(const float* x, int64_t n) {
  __m256 m = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) m = Vec::max(m, Vec::abs(_mm256_loadu_ps(x + i)));
  if (i < n) m = Vec::max(m, Vec::abs(_mm256_maskload_ps(x + i, Vec::mask(n - i))));
  return Vec::reduce_max(m);
}

void quantize_i8(const float* x, int64_t n, float inv, int8_t* q) {
  const __m256 vinv = _mm256_set1_ps(inv), lo = _mm256_set1_ps(-127.f), hi = _mm256_set1_ps(127.f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vinv), lo), hi);
    const __m256i k = _mm256_cvtps_epi32(v);  // round to nearest even, as std::nearbyint
    const __m128i p16 = _mm_packs_epi32(_mm256_castsi256_si128(k), _mm256_extracti128_si256(k, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(q + i), _mm_packs_epi16(p16, p16));
  }
  for (; i < n; ++i) q[i] = (int8_t)std::clamp(std::nearbyint(x[i] * inv), -127.f, 127.f);
}

}  // namespace
}  // namespace sqz::kernels::detail

#include "kernels/cpu/format_kernels-inl.h"

namespace sqz::kernels::detail {

// No multi-token fp16/bf16 kernel: the model layer's crossover against converted tiles + sgemm
// (model/dense_linear.cpp) was measured with AVX-512's.
const RowOps& avx2_ops() {
  static const RowOps ops{i8_rows,  absmax,    quantize_i8, f16_dot,    bf16_dot,
                          f16_rows, bf16_rows, f16_to_f32,  bf16_to_f32};
  return ops;
}

std::span<const NamedFormatKernels> avx2_format_kernels() { return kFormatKernels; }

}  // namespace sqz::kernels::detail

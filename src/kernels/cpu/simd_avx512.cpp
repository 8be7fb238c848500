#include "kernels/cpu/simd_avx512.h"

#include <immintrin.h>

#include <algorithm>

#include "core/half.h"
#include "kernels/cpu/formats.h"

namespace sqz::kernels::avx512 {

namespace {

// The row's codebook as 16 fp32 lanes; _mm512_permutexvar_ps then looks up 16 indices at once.
inline __m512 load_lut(int bits, const uint16_t* lut) {
  if (bits == 4) return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(lut)));
  const __m256 l8 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(lut)));
  return _mm512_insertf32x8(_mm512_castps256_ps512(l8), l8, 1);
}

float scalar_tail(int bits, const uint32_t* packed, const uint16_t* lut, int64_t c0, int64_t cols, const float* x) {
  // The tail block (fewer than a full block of indices) through the reference unpacking.
  uint8_t idx[32];
  const int64_t block = bits == 3 ? 32 : 8;
  const int64_t words = bits == 3 ? 3 : 1;
  float acc = 0.f;
  // `packed` points at the block holding column c0.
  for (int64_t b = c0; b < cols; b += block) {
    const int64_t n = std::min<int64_t>(block, cols - b);
    unpack_row(bits, packed + ((b - c0) / block) * words, n, idx);
    for (int64_t j = 0; j < n; ++j) acc += fp16_to_f32(lut[idx[j]]) * x[b + j];
  }
  return acc;
}

}  // namespace

float lut_row_dot(int bits, const uint32_t* packed, const uint16_t* lut, int64_t cols, const float* x) {
  const __m512 table = load_lut(bits, lut);
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t c = 0;
  if (bits == 3) {
    // Block of 32: word0/word1 hold the low two bits of indices 0-15 / 16-31, word2 the high bits.
    const __m512i sh2 = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i sh1 = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i sh1h = _mm512_add_epi32(sh1, _mm512_set1_epi32(16));
    const __m512i three = _mm512_set1_epi32(3), one = _mm512_set1_epi32(1);
    for (; c + 32 <= cols; c += 32, packed += 3) {
      const __m512i hi = _mm512_set1_epi32((int)packed[2]);
      const __m512i i0 = _mm512_or_si512(_mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32((int)packed[0]), sh2), three),
                                         _mm512_slli_epi32(_mm512_and_si512(_mm512_srlv_epi32(hi, sh1), one), 2));
      const __m512i i1 = _mm512_or_si512(_mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32((int)packed[1]), sh2), three),
                                         _mm512_slli_epi32(_mm512_and_si512(_mm512_srlv_epi32(hi, sh1h), one), 2));
      acc0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(i0, table), _mm512_loadu_ps(x + c), acc0);
      acc1 = _mm512_fmadd_ps(_mm512_permutexvar_ps(i1, table), _mm512_loadu_ps(x + c + 16), acc1);
    }
  } else {
    // 8 indices per word: two words give 16 lanes.
    const __m512i sh4 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
    const __m512i fifteen = _mm512_set1_epi32(15);
    for (; c + 32 <= cols; c += 32, packed += 4) {
      const __m512i w01 = _mm512_inserti32x8(_mm512_castsi256_si512(_mm256_set1_epi32((int)packed[0])),
                                             _mm256_set1_epi32((int)packed[1]), 1);
      const __m512i w23 = _mm512_inserti32x8(_mm512_castsi256_si512(_mm256_set1_epi32((int)packed[2])),
                                             _mm256_set1_epi32((int)packed[3]), 1);
      const __m512i i0 = _mm512_and_si512(_mm512_srlv_epi32(w01, sh4), fifteen);
      const __m512i i1 = _mm512_and_si512(_mm512_srlv_epi32(w23, sh4), fifteen);
      acc0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(i0, table), _mm512_loadu_ps(x + c), acc0);
      acc1 = _mm512_fmadd_ps(_mm512_permutexvar_ps(i1, table), _mm512_loadu_ps(x + c + 16), acc1);
    }
  }
  float acc = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  if (c < cols) acc += scalar_tail(bits, packed, lut, c, cols, x);
  return acc;
}

float f16_row_dot(const uint16_t* w, int64_t cols, const float* x) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  int64_t c = 0;
  for (; c + 32 <= cols; c += 32) {
    a0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + c))),
                         _mm512_loadu_ps(x + c), a0);
    a1 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + c + 16))),
                         _mm512_loadu_ps(x + c + 16), a1);
  }
  float acc = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
  for (; c < cols; ++c) acc += fp16_to_f32(w[c]) * x[c];
  return acc;
}

}  // namespace sqz::kernels::avx512

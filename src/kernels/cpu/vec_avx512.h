// Internal, for the *_avx512.cpp files only: the AVX-512 vector traits `Vec` that the row-kernel skeleton
// (row_kernels-inl.h) and the format kernels built on it are compiled with. Everything ISA-specific the
// skeleton needs is here: 16-lane fp32 vectors and their masks, loads of fp16/bf16/bytes, 16-entry table
// lookups (vpermps reads only bits 3..0 of each index lane), and the blocking sizes measured for this ISA.
// The packed-index decoders and the int8 dot product stay in simd_avx512.cpp.
//
// Internal linkage (anonymous namespace): the AVX2 files define their own `Vec`, and one shared inline
// definition could let the linker hand this AVX-512 code to the AVX2 or scalar kernels.
#pragma once
// GCC 12's intrinsic headers trip -Wuninitialized on their own _mm512_undefined_*() placeholders (GCC
// bug 105593, fixed in GCC 13); the warnings point into the headers, so they are silenced for them only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>
#include <cstring>

namespace sqz::kernels::detail {
namespace {

struct Vec {
  static constexpr int kLanes = 16;
  using F = __m512;
  using I = __m512i;
  using M = __mmask16;

  // ---- blocking (the skeleton's loops; measured on Zen 5, see row_kernels-inl.h) ----
  static constexpr int kRowsPerPass = 8;  // rows per pass of the single-token kernel
  static constexpr int kAccPerRow = 1;    // accumulators per row when several rows share x loads
  static constexpr int kBlockRows = 2, kBlockTokens = 4, kBlockAcc = 2;  // multi-token blocks
  // Sources whose weights cost arithmetic per lane (8-bit groups, GGUF's wide codes): fewer rows per
  // single-token pass, more tokens per block to spread the weight computation.
  static constexpr int kArithRowsPerPass = 4, kArithBlockTokens = 8;
  static constexpr int kHalfRows = 4;  // fp16/bf16 rows per pass

  // ---- fp32 lanes ----
  static F zero() { return _mm512_setzero_ps(); }
  static F set1(float v) { return _mm512_set1_ps(v); }
  static F load(const float* p) { return _mm512_loadu_ps(p); }
  static F load(const float* p, M m) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, F v) { _mm512_storeu_ps(p, v); }
  static void store(float* p, F v, M m) { _mm512_mask_storeu_ps(p, m, v); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F max(F a, F b) { return _mm512_max_ps(a, b); }
  static F abs(F a) { return _mm512_abs_ps(a); }
  static float reduce_add(F v) { return _mm512_reduce_add_ps(v); }
  static float reduce_max(F v) { return _mm512_reduce_max_ps(v); }

  // ---- lane masks ----
  static M mask(int64_t n) { return n >= 16 ? (M)0xFFFF : n <= 0 ? (M)0 : (M)((1u << n) - 1); }
  static F zero_past(F v, M m) { return _mm512_maskz_mov_ps(m, v); }

  // ---- int32 lanes ----
  static I iota_i() { return _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15); }
  static I set1_i(int v) { return _mm512_set1_epi32(v); }
  static I add_i(I a, I b) { return _mm512_add_epi32(a, b); }
  static I sub_i(I a, I b) { return _mm512_sub_epi32(a, b); }
  static I or_i(I a, I b) { return _mm512_or_si512(a, b); }
  static I and_i(I a, int v) { return _mm512_and_si512(a, _mm512_set1_epi32(v)); }
  static I srl(I a, int n) { return _mm512_srl_epi32(a, _mm_cvtsi32_si128(n)); }
  template <int N>
  static I srli(I a) { return _mm512_srli_epi32(a, N); }
  template <int N>
  static I slli(I a) { return _mm512_slli_epi32(a, N); }
  static I srlv(I a, I n) { return _mm512_srlv_epi32(a, n); }
  static F to_f(I a) { return _mm512_cvtepi32_ps(a); }
  static M ge_i(I a, I b) { return _mm512_cmpge_epi32_mask(a, b); }
  static I inc_where(I a, M m) { return _mm512_mask_add_epi32(a, m, a, _mm512_set1_epi32(1)); }
  static F blend(F a, F b, M m) { return _mm512_mask_mov_ps(a, m, b); }  // b where m, else a
  static F gather(const float* base, I idx, M m) { return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, base, 4); }
  static I load_i32(const int32_t* p, M m) { return _mm512_maskz_loadu_epi32(m, p); }

  // ---- bytes and halves to lanes ----
  static I u8(const uint8_t* p) { return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  // Only the first n bytes are read (n <= 0: none); the other lanes are 0.
  static I u8(const uint8_t* p, int64_t n) { return _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mask(n), p)); }
  static I i8(const uint8_t* p) { return _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static F f16(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static F f16(const uint16_t* p, int64_t n) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask(n), p)); }
  static F bf16(const uint16_t* p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))), 16));
  }
  static F bf16(const uint16_t* p, int64_t n) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask(n), p)), 16));
  }
  static float half(uint16_t h) { return _cvtsh_ss(h); }
  static float half_at(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return _cvtsh_ss(h);
  }

  // ---- tables: 2^B fp32 entries in one register, tables under 16 entries repeated to fill it ----
  template <int B>
  using Table = F;
  template <int B>
  static F repeat(F t) {
    if constexpr (B == 2) return _mm512_shuffle_f32x4(t, t, 0x00);
    else if constexpr (B == 3) return _mm512_shuffle_f32x4(t, t, 0x44);
    else return t;
  }
  template <int B>
  static F table_f16(const uint16_t* lut) {
    if constexpr (B == 2) return _mm512_broadcast_f32x4(_mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(lut))));
    else if constexpr (B == 3) return _mm512_broadcast_f32x8(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(lut))));
    else return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(lut)));
  }
  static F table16(const float* v) { return _mm512_loadu_ps(v); }
  // 0, 1, ..., 2^B - 1 (repeated): the table that turns an index into its value as a float.
  template <int B>
  static F iota() {
    return repeat<B>(_mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  }
  template <int B, typename Fn>
  static F map(const F& t, Fn&& f) {
    return f(t);
  }
  // Entry idx & 15 of a 16-entry table (bits above 3 are ignored).
  static F lookup16(const F& t, I idx) { return _mm512_permutexvar_ps(idx, t); }
};

}  // namespace
}  // namespace sqz::kernels::detail

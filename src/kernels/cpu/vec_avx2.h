// Internal, for the *_avx2.cpp files only: the AVX2 + FMA + F16C vector traits `Vec` that the row-kernel
// skeleton (row_kernels-inl.h) and the format kernels built on it are compiled with (see vec_avx512.h for
// the same interface with 16 lanes). 8 fp32 lanes; a mask is a vector with all-ones lanes (AVX2 has no
// mask registers and no masked 8/16-bit loads, so partial byte/half loads go through a small buffer).
// _mm256_permutevar8x32_ps looks up 8 entries and reads index bits 2..0: a 16-entry table is two
// registers, looked up twice and blended on index bit 3 (moved to the sign bit).
//
// Internal linkage (anonymous namespace): see vec_avx512.h.
#pragma once
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace sqz::kernels::detail {
namespace {

// A 16-entry fp32 table: entries 0-7 and 8-15.
struct Table4 {
  __m256 lo, hi;
};
template <int B>
struct TableOf {
  using type = __m256;
};
template <>
struct TableOf<4> {
  using type = Table4;
};

struct Vec {
  static constexpr int kLanes = 8;
  using F = __m256;
  using I = __m256i;
  using M = __m256i;  // all-ones in the valid lanes

  // ---- blocking (see row_kernels-inl.h) ----
  // 4 rows with 2 accumulators each: with the 16 ymm registers of an AVX2-only build (SQZ_NATIVE=OFF),
  // 5-15 % faster than 8 rows x 1 for 4-bit LUT / group / NF4 GEMVs (bench_kernels, SQZ_ISA=avx2, one
  // thread, Xeon with AVX-512; an -march=native build there has 32 registers and liked 8 rows as well).
  static constexpr int kRowsPerPass = 4;
  static constexpr int kAccPerRow = 2;
  static constexpr int kBlockRows = 2, kBlockTokens = 4, kBlockAcc = 1;
  static constexpr int kArithRowsPerPass = 2, kArithBlockTokens = 4;
  static constexpr int kHalfRows = 4;

  // ---- fp32 lanes ----
  static F zero() { return _mm256_setzero_ps(); }
  static F set1(float v) { return _mm256_set1_ps(v); }
  static F load(const float* p) { return _mm256_loadu_ps(p); }
  static F load(const float* p, M m) { return _mm256_maskload_ps(p, m); }
  static void store(float* p, F v) { _mm256_storeu_ps(p, v); }
  static void store(float* p, F v, M m) { _mm256_maskstore_ps(p, m, v); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F max(F a, F b) { return _mm256_max_ps(a, b); }
  static F abs(F a) { return _mm256_and_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff))); }
  static float reduce_add(F v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
  }
  static float reduce_max(F v) {
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
    return _mm_cvtss_f32(h);
  }

  // ---- lane masks ----
  static M mask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)std::clamp<int64_t>(n, 0, 8)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static F zero_past(F v, M m) { return _mm256_and_ps(v, _mm256_castsi256_ps(m)); }

  // ---- int32 lanes ----
  static I iota_i() { return _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7); }
  static I set1_i(int v) { return _mm256_set1_epi32(v); }
  static I add_i(I a, I b) { return _mm256_add_epi32(a, b); }
  static I sub_i(I a, I b) { return _mm256_sub_epi32(a, b); }
  static I or_i(I a, I b) { return _mm256_or_si256(a, b); }
  static I and_i(I a, int v) { return _mm256_and_si256(a, _mm256_set1_epi32(v)); }
  static I srl(I a, int n) { return _mm256_srl_epi32(a, _mm_cvtsi32_si128(n)); }
  template <int N>
  static I srli(I a) { return _mm256_srli_epi32(a, N); }
  template <int N>
  static I slli(I a) { return _mm256_slli_epi32(a, N); }
  static I srlv(I a, I n) { return _mm256_srlv_epi32(a, n); }
  static F to_f(I a) { return _mm256_cvtepi32_ps(a); }
  static M ge_i(I a, I b) { return _mm256_cmpgt_epi32(a, _mm256_sub_epi32(b, _mm256_set1_epi32(1))); }
  static I inc_where(I a, M m) { return _mm256_sub_epi32(a, m); }  // m lanes are -1
  static F blend(F a, F b, M m) { return _mm256_blendv_ps(a, b, _mm256_castsi256_ps(m)); }
  static F gather(const float* base, I idx, M m) {
    return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), base, idx, _mm256_castsi256_ps(m), 4);
  }
  static I load_i32(const int32_t* p, M m) { return _mm256_maskload_epi32(p, m); }

  // ---- bytes and halves to lanes ----
  static I u8(const uint8_t* p) { return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))); }
  // Only the first n bytes are read (n <= 0: none); the other lanes are 0.
  static I u8(const uint8_t* p, int64_t n) {
    uint8_t buf[8] = {};
    if (n > 0) std::memcpy(buf, p, (size_t)std::min<int64_t>(n, 8));
    return u8(buf);
  }
  static I i8(const uint8_t* p) { return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))); }
  static F f16(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static F f16(const uint16_t* p, int64_t n) {
    uint16_t buf[8] = {};
    if (n > 0) std::memcpy(buf, p, (size_t)std::min<int64_t>(n, 8) * 2);
    return f16(buf);
  }
  static F bf16(const uint16_t* p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 16));
  }
  static F bf16(const uint16_t* p, int64_t n) {
    uint16_t buf[8] = {};
    if (n > 0) std::memcpy(buf, p, (size_t)std::min<int64_t>(n, 8) * 2);
    return bf16(buf);
  }
  static float half(uint16_t h) { return _cvtsh_ss(h); }
  static float half_at(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return _cvtsh_ss(h);
  }

  // ---- tables: 2^B fp32 entries; 2-bit tables repeated twice in one register, 4-bit ones in two ----
  template <int B>
  using Table = typename TableOf<B>::type;
  template <int B>
  static Table<B> table_f16(const uint16_t* lut) {
    if constexpr (B == 2) {
      const __m128 t = _mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(lut)));
      return _mm256_set_m128(t, t);
    } else if constexpr (B == 3) {
      return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(lut)));
    } else {
      return Table4{_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(lut))),
                    _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(lut + 8)))};
    }
  }
  static Table4 table16(const float* v) { return Table4{_mm256_loadu_ps(v), _mm256_loadu_ps(v + 8)}; }
  template <int B>
  static Table<B> iota() {
    if constexpr (B == 2) return _mm256_setr_ps(0, 1, 2, 3, 0, 1, 2, 3);
    else if constexpr (B == 3) return _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7);
    else return Table4{_mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7), _mm256_setr_ps(8, 9, 10, 11, 12, 13, 14, 15)};
  }
  template <int B, typename Fn>
  static Table<B> map(const Table<B>& t, Fn&& f) {
    if constexpr (B == 4) return Table4{f(t.lo), f(t.hi)};
    else return f(t);
  }
  // Entry idx & 15 of a 16-entry table (bits above 3 are ignored).
  static F lookup16(const Table4& t, I idx) {
    return _mm256_blendv_ps(_mm256_permutevar8x32_ps(t.lo, idx), _mm256_permutevar8x32_ps(t.hi, idx),
                            _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
  }
};

}  // namespace
}  // namespace sqz::kernels::detail

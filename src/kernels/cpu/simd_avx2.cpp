// AVX2 + FMA + F16C row kernels (chosen when the CPU lacks the AVX-512 set of isa.cpp).
//
// Same structure as simd_avx512.cpp with 8-lane vectors: a 32-column step is four chunks of 8 indices;
// _mm256_permutevar8x32_ps looks up 8 weights in an 8-entry fp32 table (it reads index bits 2..0, so
// the 2-bit table is repeated twice). 4-bit tables need 16 entries: two permutes (entries 0-7 and 8-15)
// and a blend on index bit 3, moved to the sign bit.
// GCC 12's intrinsic headers trip -Wuninitialized on their own _mm512_undefined_*() placeholders (GCC
// bug 105593, fixed in GCC 13); the warnings point into the headers, so they are silenced for them only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <vector>

#include "core/half.h"
#include "kernels/cpu/format_views.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/sparse_row.h"

namespace sqz::kernels::detail {

namespace {

constexpr int64_t kStep = 32;

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

inline int32_t hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

// All-ones in lanes 0 .. n-1.
inline __m256i lane_mask(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)std::clamp<int64_t>(n, 0, 8)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// A table: 2^B fp32 values (one register; two for 4-bit).
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
template <int B>
using TableT = typename TableOf<B>::type;

// Applies f to every register of a table.
template <int B, typename F>
TableT<B> map_table(const TableT<B>& t, F&& f) {
  if constexpr (B == 4) return Table4{f(t.lo), f(t.hi)};
  else return f(t);
}

template <int B>
TableT<B> iota_table() {
  if constexpr (B == 2) return _mm256_setr_ps(0, 1, 2, 3, 0, 1, 2, 3);
  else if constexpr (B == 3) return _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7);
  else return Table4{_mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7), _mm256_setr_ps(8, 9, 10, 11, 12, 13, 14, 15)};
}

template <int B>
TableT<B> table_from_f16(const uint16_t* lut) {
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

// ---- decoders: weights of chunk g (indices 8g .. 8g+7) of a step ----

template <int B>
struct Decoder;

template <>
struct Decoder<2> {
  __m256i sh = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
  __m256i idx(const uint32_t* p, int g) const {
    return _mm256_srlv_epi32(_mm256_set1_epi32((int)(p[g >> 1] >> (16 * (g & 1)))), sh);
  }
  __m256 operator()(const uint32_t* p, int g, const __m256& t) const { return _mm256_permutevar8x32_ps(t, idx(p, g)); }
};

// 3-bit: indices 8g..8g+7 sit at bits 24g..24g+23 of the block's bit stream. One unaligned 32-bit load
// (from byte 3g, or byte 8 for the last chunk so it stays inside the 12-byte block) and one variable
// shift per lane; vpermps reads only the low three bits.
template <>
struct Decoder<3> {
  __m256i sh = _mm256_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21), sh_last = _mm256_setr_epi32(8, 11, 14, 17, 20, 23, 26, 29);
  __m256i idx(const uint32_t* p, int g) const {
    uint32_t v;
    std::memcpy(&v, reinterpret_cast<const uint8_t*>(p) + (g == 3 ? 8 : 3 * g), 4);
    return _mm256_srlv_epi32(_mm256_set1_epi32((int)v), g == 3 ? sh_last : sh);
  }
  __m256 operator()(const uint32_t* p, int g, const __m256& t) const { return _mm256_permutevar8x32_ps(t, idx(p, g)); }
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

template <int B>
void tail_words(const uint32_t* p, int64_t c, int64_t cols, uint32_t* buf) {
  buf[0] = buf[1] = buf[2] = buf[3] = 0;
  const int64_t have = words_per_row(B, cols) - (c / kStep) * B;
  std::memcpy(buf, p, (size_t)std::min<int64_t>(have, B) * 4);
}

// Calls fn(c, w) for each 8-column chunk of a packed row with its weights w (zero in lanes past cols).
template <int B, typename TableAt, typename Fn>
inline void for_chunks(const Decoder<B>& dec, const uint32_t* p, int64_t cols, TableAt&& table_at, Fn&& fn) {
  int64_t c = 0;
  const int64_t full = cols & ~(kStep - 1);
  for (; c < full; c += kStep, p += B) {
    const TableT<B> tab = table_at(c);
    for (int g = 0; g < 4; ++g) fn(c + 8 * g, dec(p, g, tab));
  }
  if (c < cols) {
    uint32_t buf[4];
    tail_words<B>(p, c, cols, buf);
    const TableT<B> tab = table_at(c);
    for (int g = 0; g < 4 && c + 8 * g < cols; ++g)
      fn(c + 8 * g, _mm256_and_ps(dec(buf, g, tab), _mm256_castsi256_ps(lane_mask(cols - c - 8 * g))));
  }
}

// N tokens against one packed row; the table changes every `seg` columns (a multiple of 32, or >= cols).
template <int B, int N, typename TableAt>
inline void row_dot(const Decoder<B>& dec, const uint32_t* p, int64_t cols, int64_t seg, TableAt&& table_at,
                    const float* X, int64_t ldx, float* out) {
  constexpr int A = N == 1 ? 4 : 2;  // accumulators per token
  __m256 acc[N][A];
  for (int t = 0; t < N; ++t)
    for (int a = 0; a < A; ++a) acc[t][a] = _mm256_setzero_ps();
  int64_t c = 0;
  const int64_t full = cols & ~(kStep - 1);
  while (c < full) {
    const TableT<B> tab = table_at(c);
    const int64_t end = seg >= cols ? full : std::min(full, (c / seg + 1) * seg);
    for (; c < end; c += kStep, p += B) {
      for (int g = 0; g < 4; ++g) {
        const __m256 w = dec(p, g, tab);
        for (int t = 0; t < N; ++t) acc[t][g % A] = _mm256_fmadd_ps(w, _mm256_loadu_ps(X + t * ldx + c + 8 * g), acc[t][g % A]);
      }
    }
  }
  if (c < cols) {
    uint32_t buf[4];
    tail_words<B>(p, c, cols, buf);
    const TableT<B> tab = table_at(c);
    for (int g = 0; g < 4 && c + 8 * g < cols; ++g) {
      const __m256i m = lane_mask(cols - c - 8 * g);
      const __m256 w = _mm256_and_ps(dec(buf, g, tab), _mm256_castsi256_ps(m));
      for (int t = 0; t < N; ++t) acc[t][0] = _mm256_fmadd_ps(w, _mm256_maskload_ps(X + t * ldx + c + 8 * g, m), acc[t][0]);
    }
  }
  for (int t = 0; t < N; ++t) {
    __m256 s = acc[t][0];
    for (int a = 1; a < A; ++a) s = _mm256_add_ps(s, acc[t][a]);
    out[t] = hsum(s);
  }
}


// Calls f(X chunk, k, Y chunk) with k <= 4 tokens at a time.
template <typename F>
void token_chunks(const float* X, int64_t cols, int64_t n, float* Y, int64_t ldy, F&& f) {
  for (int64_t t = 0; t < n; t += 4) f(X + t * cols, std::min<int64_t>(4, n - t), Y + t * ldy);
}

template <typename F>
void dispatch_tokens(int64_t n, F&& f) {
  switch (n) {
    case 1: f(std::integral_constant<int, 1>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    case 3: f(std::integral_constant<int, 3>{}); break;
    default: f(std::integral_constant<int, 4>{}); break;
  }
}

template <typename F>
void dispatch_bits(int bits, F&& f) {
  switch (bits) {
    case 2: f(std::integral_constant<int, 2>{}); break;
    case 3: f(std::integral_constant<int, 3>{}); break;
    default: f(std::integral_constant<int, 4>{}); break;
  }
}

// ---- LUT ----

template <int B, int N>
void lut_rows_bn(const LutMatrix& w, const CsrMatrix* s, int64_t r0, int64_t r1, const float* X, float* Y, int64_t ldy) {
  const Decoder<B> dec;
  const int64_t words = words_per_row(B, w.cols);
  for (int64_t r = r0; r < r1; ++r) {
    const TableT<B> tab = table_from_f16<B>(w.lut + (r << B));
    float out[N];
    row_dot<B, N>(dec, w.packed + r * words, w.cols, w.cols, [&](int64_t) { return tab; }, X, w.cols, out);
    if (s) sparse_row<N>(*s, r, X, w.cols, out);
    for (int t = 0; t < N; ++t) Y[t * ldy + r] = out[t];
  }
}

void lut_rows(const LutMatrix& w, const CsrMatrix* s, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y,
              int64_t ldy) {
  token_chunks(X, w.cols, n, Y, ldy, [&](const float* Xc, int64_t k, float* Yc) {
    dispatch_bits(w.bits, [&](auto b) {
      dispatch_tokens(k, [&](auto kk) { lut_rows_bn<decltype(b)::value, decltype(kk)::value>(w, s, r0, r1, Xc, Yc, ldy); });
    });
  });
}

template <int B>
void lut_dequant_b(const LutMatrix& w, int64_t r0, int64_t r1, float* out) {
  const Decoder<B> dec;
  const int64_t words = words_per_row(B, w.cols);
  for (int64_t r = r0; r < r1; ++r) {
    const TableT<B> tab = table_from_f16<B>(w.lut + (r << B));
    float* o = out + (r - r0) * w.cols;
    for_chunks<B>(dec, w.packed + r * words, w.cols, [&](int64_t) { return tab; }, [&](int64_t c, __m256 v) {
      if (c + 8 <= w.cols) _mm256_storeu_ps(o + c, v);
      else _mm256_maskstore_ps(o + c, lane_mask(w.cols - c), v);
    });
  }
}

void lut_dequant(const LutMatrix& w, int64_t r0, int64_t r1, float* out) {
  dispatch_bits(w.bits, [&](auto b) { lut_dequant_b<decltype(b)::value>(w, r0, r1, out); });
}

// ---- uniform groups: table ((0..2^B-1) - z) * s per group, as in simd_avx512.cpp ----

inline float half(uint16_t h) { return _cvtsh_ss(h); }

template <int B>
inline TableT<B> group_table(const GroupMatrix& w, int64_t r, int64_t g) {
  const int64_t ng = w.n_groups();
  const __m256 z = _mm256_set1_ps(half(w.zeros[r * ng + g])), s = _mm256_set1_ps(half(w.scales[r * ng + g]));
  return map_table<B>(iota_table<B>(), [&](__m256 v) { return _mm256_mul_ps(_mm256_sub_ps(v, z), s); });
}

struct GatheredGroups {
  std::vector<int32_t> own_gidx;
  std::vector<float> s, z;
  const int32_t* gidx;
  explicit GatheredGroups(const GroupMatrix& w) : s((size_t)w.n_groups()), z((size_t)w.n_groups()) {
    if (w.g_idx) {
      gidx = w.g_idx;
    } else {
      own_gidx.resize((size_t)w.cols);
      for (int64_t c = 0; c < w.cols; ++c) own_gidx[(size_t)c] = (int32_t)(c / w.group);
      gidx = own_gidx.data();
    }
  }
  void load_row(const GroupMatrix& w, int64_t r) {
    const int64_t ng = w.n_groups();
    for (int64_t g = 0; g < ng; ++g) {
      s[(size_t)g] = half(w.scales[r * ng + g]);
      z[(size_t)g] = half(w.zeros[r * ng + g]);
    }
  }
  // q (as floats, zero past cols) to weights for the 8 columns at c.
  __m256 weights(__m256 q, int64_t c, int64_t cols) const {
    __m256i g;
    if (c + 8 <= cols) {
      g = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(gidx + c));
    } else {
      g = _mm256_maskload_epi32(gidx + c, lane_mask(cols - c));
    }
    const __m256 sv = _mm256_i32gather_ps(s.data(), g, 4), zv = _mm256_i32gather_ps(z.data(), g, 4);
    const __m256 w = _mm256_mul_ps(_mm256_sub_ps(q, zv), sv);
    return c + 8 <= cols ? w : _mm256_and_ps(w, _mm256_castsi256_ps(lane_mask(cols - c)));
  }
};

template <int B, int N>
void group_rows_bn(const GroupMatrix& w, int64_t r0, int64_t r1, const float* X, float* Y, int64_t ldy) {
  const Decoder<B> dec;
  const int64_t words = words_per_row(B, w.cols);
  if (group_aligned(w)) {
    for (int64_t r = r0; r < r1; ++r) {
      float out[N];
      row_dot<B, N>(dec, w.packed + r * words, w.cols, w.group, [&](int64_t c) { return group_table<B>(w, r, c / w.group); },
                    X, w.cols, out);
      for (int t = 0; t < N; ++t) Y[t * ldy + r] = out[t];
    }
    return;
  }
  GatheredGroups gg(w);
  const TableT<B> iota = iota_table<B>();
  for (int64_t r = r0; r < r1; ++r) {
    gg.load_row(w, r);
    __m256 acc[N];
    for (int t = 0; t < N; ++t) acc[t] = _mm256_setzero_ps();
    for_chunks<B>(dec, w.packed + r * words, w.cols, [&](int64_t) { return iota; }, [&](int64_t c, __m256 q) {
      const __m256 wv = gg.weights(q, c, w.cols);
      const __m256i m = lane_mask(w.cols - c);
      for (int t = 0; t < N; ++t) acc[t] = _mm256_fmadd_ps(wv, _mm256_maskload_ps(X + t * w.cols + c, m), acc[t]);
    });
    for (int t = 0; t < N; ++t) Y[t * ldy + r] = hsum(acc[t]);
  }
}

// ---- 8-bit groups: each weight computed as the reference does, ((float)q - z) * s (see simd_avx512.cpp),
// from plain bytes, 8 codes per vector ----

inline const uint8_t* row_bytes(const GroupMatrix& w, int64_t r) {
  return reinterpret_cast<const uint8_t*>(w.packed + r * words_per_row(8, w.cols));
}

// The 8 codes at p as floats; n < 8 reads only n bytes (the last row's last chunk ends the buffer) and
// leaves 0 in the other lanes.
inline __m256 codes8(const uint8_t* p, int64_t n) {
  __m128i v;
  if (n >= 8) {
    v = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
  } else {
    uint8_t buf[8] = {0};
    std::memcpy(buf, p, (size_t)n);
    v = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(buf));
  }
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v));
}

// N tokens against row r with aligned groups (as row_dot, the table replaced by the arithmetic).
template <int N>
inline void group8_row_dot(const GroupMatrix& w, int64_t r, const float* X, float* out) {
  constexpr int A = N == 1 ? 4 : 2;  // accumulators per token
  const int64_t cols = w.cols, ng = w.n_groups(), seg = std::min(w.group, cols), full = cols & ~int64_t{7};
  const uint8_t* p = row_bytes(w, r);
  __m256 acc[N][A];
  for (int t = 0; t < N; ++t)
    for (int a = 0; a < A; ++a) acc[t][a] = _mm256_setzero_ps();
  int64_t c = 0;
  __m256 z, s;
  auto load_group = [&](int64_t g) {
    z = _mm256_set1_ps(half(w.zeros[r * ng + g]));
    s = _mm256_set1_ps(half(w.scales[r * ng + g]));
  };
  while (c < full) {
    const int64_t g = c / seg, end = std::min(full, (g + 1) * seg);
    load_group(g);
    for (; c + kStep <= end; c += kStep)
      for (int j = 0; j < 4; ++j) {
        const __m256 wv = _mm256_mul_ps(_mm256_sub_ps(codes8(p + c + 8 * j, 8), z), s);
        for (int t = 0; t < N; ++t)
          acc[t][j % A] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(X + t * cols + c + 8 * j), acc[t][j % A]);
      }
    for (; c < end; c += 8) {
      const __m256 wv = _mm256_mul_ps(_mm256_sub_ps(codes8(p + c, 8), z), s);
      for (int t = 0; t < N; ++t) acc[t][0] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(X + t * cols + c), acc[t][0]);
    }
  }
  if (c < cols) {
    load_group(c / seg);
    const __m256i m = lane_mask(cols - c);
    const __m256 wv = _mm256_and_ps(_mm256_mul_ps(_mm256_sub_ps(codes8(p + c, cols - c), z), s), _mm256_castsi256_ps(m));
    for (int t = 0; t < N; ++t) acc[t][0] = _mm256_fmadd_ps(wv, _mm256_maskload_ps(X + t * cols + c, m), acc[t][0]);
  }
  for (int t = 0; t < N; ++t) {
    __m256 sum = acc[t][0];
    for (int a = 1; a < A; ++a) sum = _mm256_add_ps(sum, acc[t][a]);
    out[t] = hsum(sum);
  }
}

template <int N>
void group8_rows_n(const GroupMatrix& w, int64_t r0, int64_t r1, const float* X, float* Y, int64_t ldy) {
  if (group_aligned(w)) {
    for (int64_t r = r0; r < r1; ++r) {
      float out[N];
      group8_row_dot<N>(w, r, X, out);
      for (int t = 0; t < N; ++t) Y[t * ldy + r] = out[t];
    }
    return;
  }
  GatheredGroups gg(w);
  for (int64_t r = r0; r < r1; ++r) {
    gg.load_row(w, r);
    const uint8_t* p = row_bytes(w, r);
    __m256 acc[N];
    for (int t = 0; t < N; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t c = 0; c < w.cols; c += 8) {
      const __m256 wv = gg.weights(codes8(p + c, w.cols - c), c, w.cols);
      const __m256i m = lane_mask(w.cols - c);
      for (int t = 0; t < N; ++t) acc[t] = _mm256_fmadd_ps(wv, _mm256_maskload_ps(X + t * w.cols + c, m), acc[t]);
    }
    for (int t = 0; t < N; ++t) Y[t * ldy + r] = hsum(acc[t]);
  }
}

void group8_dequant(const GroupMatrix& w, int64_t r0, int64_t r1, float* out) {
  const int64_t cols = w.cols, ng = w.n_groups(), seg = std::min(w.group, cols);
  const bool aligned = group_aligned(w);
  std::optional<GatheredGroups> gg;
  if (!aligned) gg.emplace(w);
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* p = row_bytes(w, r);
    float* o = out + (r - r0) * cols;
    auto store = [&](int64_t c, __m256 v) {
      if (c + 8 <= cols) _mm256_storeu_ps(o + c, v);
      else _mm256_maskstore_ps(o + c, lane_mask(cols - c), v);
    };
    if (aligned) {
      for (int64_t c = 0; c < cols;) {
        const int64_t g = c / seg, end = std::min(cols, (g + 1) * seg);
        const __m256 z = _mm256_set1_ps(half(w.zeros[r * ng + g])), s = _mm256_set1_ps(half(w.scales[r * ng + g]));
        for (; c < end; c += 8) store(c, _mm256_mul_ps(_mm256_sub_ps(codes8(p + c, end - c), z), s));
      }
    } else {
      gg->load_row(w, r);
      for (int64_t c = 0; c < cols; c += 8) store(c, gg->weights(codes8(p + c, cols - c), c, cols));
    }
  }
}

void group_rows(const GroupMatrix& w, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y, int64_t ldy) {
  if (w.bits == 8) {
    token_chunks(X, w.cols, n, Y, ldy, [&](const float* Xc, int64_t k, float* Yc) {
      dispatch_tokens(k, [&](auto kk) { group8_rows_n<decltype(kk)::value>(w, r0, r1, Xc, Yc, ldy); });
    });
    return;
  }
  token_chunks(X, w.cols, n, Y, ldy, [&](const float* Xc, int64_t k, float* Yc) {
    dispatch_bits(w.bits, [&](auto b) {
      dispatch_tokens(k, [&](auto kk) { group_rows_bn<decltype(b)::value, decltype(kk)::value>(w, r0, r1, Xc, Yc, ldy); });
    });
  });
}

template <int B>
void group_dequant_b(const GroupMatrix& w, int64_t r0, int64_t r1, float* out) {
  const Decoder<B> dec;
  const int64_t words = words_per_row(B, w.cols);
  const bool aligned = group_aligned(w);
  std::optional<GatheredGroups> gg;
  if (!aligned) gg.emplace(w);
  const TableT<B> iota = iota_table<B>();
  for (int64_t r = r0; r < r1; ++r) {
    float* o = out + (r - r0) * w.cols;
    auto store = [&](int64_t c, __m256 v) {
      if (c + 8 <= w.cols) _mm256_storeu_ps(o + c, v);
      else _mm256_maskstore_ps(o + c, lane_mask(w.cols - c), v);
    };
    if (aligned) {
      for_chunks<B>(dec, w.packed + r * words, w.cols, [&](int64_t c) { return group_table<B>(w, r, c / w.group); }, store);
    } else {
      gg->load_row(w, r);
      for_chunks<B>(dec, w.packed + r * words, w.cols, [&](int64_t) { return iota; },
                    [&](int64_t c, __m256 q) { store(c, gg->weights(q, c, w.cols)); });
    }
  }
}

void group_dequant(const GroupMatrix& w, int64_t r0, int64_t r1, float* out) {
  if (w.bits == 8) {
    group8_dequant(w, r0, r1, out);
    return;
  }
  dispatch_bits(w.bits, [&](auto b) { group_dequant_b<decltype(b)::value>(w, r0, r1, out); });
}

// ---- NF4 ----

inline Table4 nf4_table(const Nf4Matrix& w, int64_t r, int64_t c) {
  const __m256 a = _mm256_set1_ps(w.absmax[(r * w.cols + c) / w.block]);
  return Table4{_mm256_mul_ps(_mm256_loadu_ps(kNf4Codebook), a), _mm256_mul_ps(_mm256_loadu_ps(kNf4Codebook + 8), a)};
}

// Unaligned blocks (see simd_avx512.cpp): codebook value times the lane's own block's absmax, the
// reference's product. Walks a row 8 columns at a time; b is the block of the chunk's first weight and rem
// how many of its weights precede it. A block of at least 8 meets at most one boundary per chunk (a blend
// of two broadcasts); smaller ones take a gather.
struct Nf4Absmax {
  const float* absmax;
  int64_t block, b, rem;
  __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  Nf4Absmax(const Nf4Matrix& w, int64_t r)
      : absmax(w.absmax), block(w.block), b(r * w.cols / w.block), rem(r * w.cols % w.block) {}
  // The next chunk, whose first n lanes are weights of the matrix (n <= 0: none, and no absmax is read).
  __m256 next(int64_t n) {
    if (n <= 0) return _mm256_setzero_ps();
    __m256 a;
    if (block >= 8) {
      a = _mm256_set1_ps(absmax[b]);
      const int64_t cross = block - rem;  // first lane in block b + 1
      if (cross < std::min<int64_t>(n, 8))
        a = _mm256_blendv_ps(a, _mm256_set1_ps(absmax[b + 1]),
                             _mm256_castsi256_ps(_mm256_cmpgt_epi32(lane, _mm256_set1_epi32((int)cross - 1))));
      rem += 8;
      if (rem >= block) {
        rem -= block;
        ++b;
      }
    } else {
      // Lane j is in block b + (rem + j) / block: count the boundaries at or before it (cmpgt gives -1).
      const __m256i pos = _mm256_add_epi32(lane, _mm256_set1_epi32((int)rem));
      __m256i off = _mm256_setzero_si256();
      for (int64_t e = block; e < rem + 8; e += block)
        off = _mm256_sub_epi32(off, _mm256_cmpgt_epi32(pos, _mm256_set1_epi32((int)e - 1)));
      a = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), absmax + b, off, _mm256_castsi256_ps(lane_mask(n)), 4);
      rem += 8;
      b += rem / block;
      rem %= block;
    }
    return a;
  }
};

inline Table4 nf4_codebook() { return Table4{_mm256_loadu_ps(kNf4Codebook), _mm256_loadu_ps(kNf4Codebook + 8)}; }

// Calls fn(c, w) for each 8-column chunk of row r with unaligned blocks (w zero in lanes past cols).
template <typename Fn>
inline void nf4_unaligned_chunks(const Decoder<4>& dec, const Nf4Matrix& w, int64_t r, Fn&& fn) {
  const Table4 cb = nf4_codebook();
  Nf4Absmax am(w, r);
  for_chunks<4>(dec, w.packed + r * words_per_row(4, w.cols), w.cols, [&](int64_t) { return cb; },
                [&](int64_t c, __m256 v) { fn(c, _mm256_mul_ps(v, am.next(w.cols - c))); });
}

template <int N>
void nf4_rows_n(const Nf4Matrix& w, int64_t r0, int64_t r1, const float* X, float* Y, int64_t ldy) {
  if (!nf4_aligned(w)) {
    const Decoder<4> dec;
    for (int64_t r = r0; r < r1; ++r) {
      // Two accumulators per token, swapped after every chunk (free once unrolled), so that one token is
      // not bound by FMA latency.
      __m256 acc[N], alt[N];
      for (int t = 0; t < N; ++t) acc[t] = alt[t] = _mm256_setzero_ps();
      nf4_unaligned_chunks(dec, w, r, [&](int64_t c, __m256 wv) {
        if (c + 8 <= w.cols) {
          for (int t = 0; t < N; ++t) acc[t] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(X + t * w.cols + c), acc[t]);
        } else {
          const __m256i m = lane_mask(w.cols - c);
          for (int t = 0; t < N; ++t) acc[t] = _mm256_fmadd_ps(wv, _mm256_maskload_ps(X + t * w.cols + c, m), acc[t]);
        }
        for (int t = 0; t < N; ++t) std::swap(acc[t], alt[t]);
      });
      for (int t = 0; t < N; ++t) Y[t * ldy + r] = hsum(_mm256_add_ps(acc[t], alt[t]));
    }
    return;
  }
  const Decoder<4> dec;
  const int64_t words = words_per_row(4, w.cols);
  for (int64_t r = r0; r < r1; ++r) {
    float out[N];
    row_dot<4, N>(dec, w.packed + r * words, w.cols, w.block, [&](int64_t c) { return nf4_table(w, r, c); }, X, w.cols, out);
    for (int t = 0; t < N; ++t) Y[t * ldy + r] = out[t];
  }
}

void nf4_rows(const Nf4Matrix& w, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y, int64_t ldy) {
  token_chunks(X, w.cols, n, Y, ldy, [&](const float* Xc, int64_t k, float* Yc) {
    dispatch_tokens(k, [&](auto kk) { nf4_rows_n<decltype(kk)::value>(w, r0, r1, Xc, Yc, ldy); });
  });
}

void nf4_dequant(const Nf4Matrix& w, int64_t r0, int64_t r1, float* out) {
  const Decoder<4> dec;
  if (!nf4_aligned(w)) {
    for (int64_t r = r0; r < r1; ++r) {
      float* o = out + (r - r0) * w.cols;
      nf4_unaligned_chunks(dec, w, r, [&](int64_t c, __m256 v) {
        if (c + 8 <= w.cols) _mm256_storeu_ps(o + c, v);
        else _mm256_maskstore_ps(o + c, lane_mask(w.cols - c), v);
      });
    }
    return;
  }
  const int64_t words = words_per_row(4, w.cols);
  for (int64_t r = r0; r < r1; ++r) {
    float* o = out + (r - r0) * w.cols;
    for_chunks<4>(dec, w.packed + r * words, w.cols, [&](int64_t c) { return nf4_table(w, r, c); },
                  [&](int64_t c, __m256 v) { _mm256_storeu_ps(o + c, v); });  // cols is a multiple of 32 here
  }
}

// ---- W8A8: vpmaddubsw with |w| (unsigned) and x * sign(w) (signed): pairs sum to at most
// 2 * 128 * 127 < 32768, so the int16 step never saturates; vpmaddwd widens to int32. ----

template <int N>
inline void i8_dot(const int8_t* w, const int8_t* X, int64_t cols, int32_t* out) {
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

void i8_rows(const Int8Matrix& w, int64_t r0, int64_t r1, const int8_t* Xq, const int32_t*, const float* xs, int64_t n,
             float* Y) {
  for (int64_t r = r0; r < r1; ++r) {
    const int8_t* wr = w.q + r * w.cols;
    for (int64_t t0 = 0; t0 < n; t0 += 4) {
      const int64_t k = std::min<int64_t>(4, n - t0);
      int32_t acc[4];
      dispatch_tokens(k, [&](auto kk) { i8_dot<decltype(kk)::value>(wr, Xq + t0 * w.cols, w.cols, acc); });
      for (int64_t j = 0; j < k; ++j) Y[(t0 + j) * w.rows + r] = (float)acc[j] * xs[t0 + j] * w.scale[r];
    }
  }
}

float absmax(const float* x, int64_t n) {
  const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 m = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + i), absmask));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
  float r = _mm_cvtss_f32(h);
  for (; i < n; ++i) r = std::max(r, std::fabs(x[i]));
  return r;
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

// ---- dense fp16 / bf16 ----

inline __m256 load8_f16(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
inline __m256 load8_bf16(const uint16_t* p) {
  return _mm256_castsi256_ps(
      _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 16));
}

template <bool Bf16>
float half_dot(const uint16_t* w, int64_t n, const float* x) {
  auto ld = [](const uint16_t* p) { return Bf16 ? load8_bf16(p) : load8_f16(p); };
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  int64_t c = 0;
  for (; c + 32 <= n; c += 32) {
    a0 = _mm256_fmadd_ps(ld(w + c), _mm256_loadu_ps(x + c), a0);
    a1 = _mm256_fmadd_ps(ld(w + c + 8), _mm256_loadu_ps(x + c + 8), a1);
    a2 = _mm256_fmadd_ps(ld(w + c + 16), _mm256_loadu_ps(x + c + 16), a2);
    a3 = _mm256_fmadd_ps(ld(w + c + 24), _mm256_loadu_ps(x + c + 24), a3);
  }
  for (; c + 8 <= n; c += 8) a0 = _mm256_fmadd_ps(ld(w + c), _mm256_loadu_ps(x + c), a0);
  float acc = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  for (; c < n; ++c) acc += (Bf16 ? bf16_to_f32(w[c]) : fp16_to_f32(w[c])) * x[c];
  return acc;
}

float f16_dot(const uint16_t* w, int64_t n, const float* x) { return half_dot<false>(w, n, x); }
float bf16_dot(const uint16_t* w, int64_t n, const float* x) { return half_dot<true>(w, n, x); }

void f16_rows(const uint16_t* W, int64_t cols, int64_t r0, int64_t r1, const float* x, float* y) {
  for (int64_t r = r0; r < r1; ++r) y[r] = f16_dot(W + r * cols, cols, x);
}
void bf16_rows(const uint16_t* W, int64_t cols, int64_t r0, int64_t r1, const float* x, float* y) {
  for (int64_t r = r0; r < r1; ++r) y[r] = bf16_dot(W + r * cols, cols, x);
}

void f16_to_f32(const uint16_t* in, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, load8_f16(in + i));
  for (; i < n; ++i) out[i] = fp16_to_f32(in[i]);
}
void bf16_to_f32(const uint16_t* in, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, load8_bf16(in + i));
  for (; i < n; ++i) out[i] = sqz::bf16_to_f32(in[i]);
}

}  // namespace

const RowOps& avx2_ops() {
  static const RowOps ops{i8_rows,  absmax,    quantize_i8, f16_dot,    bf16_dot,
                          f16_rows, bf16_rows, f16_to_f32,  bf16_to_f32};
  return ops;
}

std::span<const NamedFormatKernels> avx2_format_kernels() {
  static const NamedFormatKernels list[] = {
      {"lut", {rows_with_sparse<lut_rows, lut_of>, dequant_rows<lut_dequant, lut_of>, nullptr, lut_decode}},
      {"group", {rows_dense<group_rows, group_of>, dequant_rows<group_dequant, group_of>, nullptr, group_decode}},
      {"nf4", {rows_dense<nf4_rows, nf4_of>, dequant_rows<nf4_dequant, nf4_of>, nullptr, nf4_decode}},
  };
  return list;
}

}  // namespace sqz::kernels::detail

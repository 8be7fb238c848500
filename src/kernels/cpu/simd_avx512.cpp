// AVX-512 row kernels (F/BW/VL/DQ + VNNI + VBMI; chosen only when the CPU has them, see isa.cpp).
//
// The packed kernels work in steps of 32 columns. A step's indices become two vectors of 16 int32 lanes
// and the row's table (LUT, group scale/zero table or NF4 block table) lives in one zmm register as 16
// fp32 values; _mm512_permutexvar_ps (vpermps) looks up 16 weights at once, then one FMA per token.
// vpermps reads only bits 3..0 of each lane, so the decoders leave whatever sits above an index's own
// bits in place, and tables with fewer than 16 entries are repeated across the register (8 entries twice
// for 3-bit, 4 entries four times for 2-bit) so those leftover bits do not matter.
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
constexpr int64_t kPrefetchHalfs = 1024;  // fp16/bf16 software prefetch distance (2 KiB)

// ---- decoders: the 32 indices of a step (B words) as two vectors of 16 lanes ----

template <int B>
struct Decoder;

// 2-bit: word k holds indices 16k..16k+15 at bits 2j: lane j shifts its word right by 2j.
template <>
struct Decoder<2> {
  __m512i sh = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  void operator()(const uint32_t* p, __m512i& i0, __m512i& i1) const {
    i0 = _mm512_srlv_epi32(_mm512_set1_epi32((int)p[0]), sh);
    i1 = _mm512_srlv_epi32(_mm512_set1_epi32((int)p[1]), sh);
  }
};

// 3-bit (block of 32 = 3 words, index j at bits 3j of the block's bit stream): bytes 0..7 hold indices
// 0-15 at bits 3j, bytes 4..11 indices 16-31 at bits 16 + 3j. vpmultishiftqb copies, into byte 0 of
// dword lane j, the 8 bits starting at that offset of the broadcast qword: one byte-shuffle-class op per
// 16 indices, where the previous 2+1 bit-plane layout needed three (two shifts and a rotate).
template <>
struct Decoder<3> {
  __m512i ctl0 = offsets(0), ctl1 = offsets(16);
  static __m512i offsets(int base) {
    alignas(64) uint8_t b[64] = {};
    for (int j = 0; j < 16; ++j) b[4 * j] = (uint8_t)(base + 3 * j);
    return _mm512_load_si512(b);
  }
  static __m512i bcast64(const void* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return _mm512_set1_epi64((long long)v);
  }
  void operator()(const uint32_t* p, __m512i& i0, __m512i& i1) const {
    i0 = _mm512_multishift_epi64_epi8(ctl0, bcast64(p));
    i1 = _mm512_multishift_epi64_epi8(ctl1, bcast64(p + 1));
  }
};

// 4-bit: words 2k, 2k+1 form one little-endian qword with indices 16k..16k+15 at bits 4j. vpmultishiftqb
// copies, into byte 0 of dword lane j, the 8 bits starting at bit 4j of the broadcast qword.
template <>
struct Decoder<4> {
  __m512i ctl = _mm512_set_epi64(0x0000003C00000038, 0x0000003400000030, 0x0000002C00000028, 0x0000002400000020,
                                 0x0000001C00000018, 0x0000001400000010, 0x0000000C00000008, 0x0000000400000000);
  static __m512i bcast64(const uint32_t* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return _mm512_set1_epi64((long long)v);
  }
  void operator()(const uint32_t* p, __m512i& i0, __m512i& i1) const {
    i0 = _mm512_multishift_epi64_epi8(ctl, bcast64(p));
    i1 = _mm512_multishift_epi64_epi8(ctl, bcast64(p + 2));
  }
};

// A table with 2^B fp32 entries in its low lanes, repeated to fill 16 lanes.
template <int B>
__m512 repeat_table(__m512 t) {
  if constexpr (B == 2) return _mm512_shuffle_f32x4(t, t, 0x00);
  else if constexpr (B == 3) return _mm512_shuffle_f32x4(t, t, 0x44);
  else return t;
}

template <int B>
__m512 table_from_f16(const uint16_t* lut) {
  if constexpr (B == 2) {
    return _mm512_broadcast_f32x4(_mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(lut))));
  } else if constexpr (B == 3) {
    return _mm512_broadcast_f32x8(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(lut))));
  } else {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(lut)));
  }
}

// 0, 1, ..., 2^B - 1 repeated: the table that turns an index into its value as a float.
template <int B>
__m512 iota_table() {
  return repeat_table<B>(_mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
}

inline __mmask16 lane_mask(int64_t n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1); }

// The last, partial step of a row: its words (only those the row has) copied into a zero-padded buffer.
template <int B>
void tail_words(const uint32_t* p, int64_t c, int64_t cols, uint32_t* buf) {
  buf[0] = buf[1] = buf[2] = buf[3] = 0;
  const int64_t have = words_per_row(B, cols) - (c / kStep) * B;
  std::memcpy(buf, p, (size_t)std::min<int64_t>(have, B) * 4);
}

// Calls fn(c, i0, i1, m0, m1) for each step of a packed row (m0/m1: the step's valid lanes).
template <int B, typename Fn>
inline void for_steps(const Decoder<B>& dec, const uint32_t* p, int64_t cols, Fn&& fn) {
  int64_t c = 0;
  const int64_t full = cols & ~(kStep - 1);
  __m512i i0, i1;
  for (; c < full; c += kStep, p += B) {
    dec(p, i0, i1);
    fn(c, i0, i1, (__mmask16)0xFFFF, (__mmask16)0xFFFF);
  }
  if (c < cols) {
    uint32_t buf[4];
    tail_words<B>(p, c, cols, buf);
    dec(buf, i0, i1);
    fn(c, i0, i1, lane_mask(cols - c), lane_mask(cols - c - 16));
  }
}

// ---- the hot loops ----
// table_at(s) returns the table of segment s (columns [s * seg, (s + 1) * seg)); seg is a multiple of 32
// or >= cols, so every segment starts on a step boundary.

// One token against R consecutive packed rows (row k at p + k * words; table_at(k, c)). Sharing each x
// load across R rows keeps x traffic from L2 low and gives R independent FMA chains; R = 8 measured
// ~40% faster than one row at a time on Zen 5 (the decode then saturates the shift/permute ports).
// With R == 1 the loop runs two steps per iteration into separate accumulators instead.
// [pf, pf_end): bytes to pull into L2 meanwhile, two lines per step (the next rows' block: a row is only a
// few KiB, too short a stream for the hardware prefetcher; +10-15 % for 4-bit from DRAM).
template <int B, int R, typename TableAt>
inline void rows_dot(const Decoder<B>& dec, const uint32_t* p, int64_t words, int64_t cols, int64_t seg,
                     TableAt&& table_at, const float* x, float* out, const char* pf = nullptr,
                     const char* pf_end = nullptr) {
  constexpr int A = R == 1 ? 4 : 1;  // accumulators per row
  __m512 acc[R][A], tab[R];
  for (int k = 0; k < R; ++k)
    for (int a = 0; a < A; ++a) acc[k][a] = _mm512_setzero_ps();
  int64_t c = 0;
  const int64_t full = cols & ~(kStep - 1);
  __m512i i0, i1, i2, i3;
  int64_t si = 0;  // segment index
  for (; c < full; ++si) {
    for (int k = 0; k < R; ++k) tab[k] = table_at(k, si);
    const int64_t end = seg >= cols ? full : std::min(full, c + seg);
    if constexpr (R == 1) {
      for (; c + 2 * kStep <= end; c += 2 * kStep, p += 2 * B) {
        dec(p, i0, i1);
        dec(p + B, i2, i3);
        acc[0][0] = _mm512_fmadd_ps(_mm512_permutexvar_ps(i0, tab[0]), _mm512_loadu_ps(x + c), acc[0][0]);
        acc[0][1] = _mm512_fmadd_ps(_mm512_permutexvar_ps(i1, tab[0]), _mm512_loadu_ps(x + c + 16), acc[0][1]);
        acc[0][2] = _mm512_fmadd_ps(_mm512_permutexvar_ps(i2, tab[0]), _mm512_loadu_ps(x + c + 32), acc[0][2]);
        acc[0][3] = _mm512_fmadd_ps(_mm512_permutexvar_ps(i3, tab[0]), _mm512_loadu_ps(x + c + 48), acc[0][3]);
      }
    }
    for (; c < end; c += kStep, p += B) {
      if (pf < pf_end) {
        _mm_prefetch(pf, _MM_HINT_T1);
        _mm_prefetch(pf + 64, _MM_HINT_T1);
        pf += 128;
      }
      const __m512 x0 = _mm512_loadu_ps(x + c), x1 = _mm512_loadu_ps(x + c + 16);
      for (int k = 0; k < R; ++k) {
        dec(p + k * words, i0, i1);
        acc[k][0] = _mm512_fmadd_ps(_mm512_permutexvar_ps(i0, tab[k]), x0, acc[k][0]);
        acc[k][A - 1] = _mm512_fmadd_ps(_mm512_permutexvar_ps(i1, tab[k]), x1, acc[k][A - 1]);
      }
    }
  }
  if (c < cols) {
    const __mmask16 m0 = lane_mask(cols - c), m1 = lane_mask(cols - c - 16);
    const __m512 x0 = _mm512_maskz_loadu_ps(m0, x + c), x1 = _mm512_maskz_loadu_ps(m1, x + c + 16);
    si = seg >= cols ? 0 : c / seg;
    for (int k = 0; k < R; ++k) {
      uint32_t buf[4];
      tail_words<B>(p + k * words, c, cols, buf);
      dec(buf, i0, i1);
      const __m512 t = table_at(k, si);
      acc[k][0] = _mm512_fmadd_ps(_mm512_maskz_permutexvar_ps(m0, i0, t), x0, acc[k][0]);
      acc[k][0] = _mm512_fmadd_ps(_mm512_maskz_permutexvar_ps(m1, i1, t), x1, acc[k][0]);
    }
  }
  for (int k = 0; k < R; ++k) {
    __m512 s = acc[k][0];
    for (int a = 1; a < A; ++a) s = _mm512_add_ps(s, acc[k][a]);
    out[k] = _mm512_reduce_add_ps(s);
  }
}

constexpr int kRowsPerPass = 8;

// Rows [r0, r1) one token at a time: kRowsPerPass rows per pass, the remainder one by one.
template <int B, typename TableAt>
inline void rows_single_token(const uint32_t* packed, int64_t cols, int64_t seg, int64_t r0, int64_t r1,
                              TableAt&& table_at, const float* x, float* y) {
  const Decoder<B> dec;
  const int64_t words = words_per_row(B, cols);
  int64_t r = r0;
  const char* end = reinterpret_cast<const char*>(packed + r1 * words);
  for (; r + kRowsPerPass <= r1; r += kRowsPerPass) {
    const char* next = reinterpret_cast<const char*>(packed + (r + kRowsPerPass) * words);
    rows_dot<B, kRowsPerPass>(dec, packed + r * words, words, cols, seg,
                              [&](int k, int64_t si) { return table_at(r + k, si); }, x, y + r, next,
                              std::min(end, next + kRowsPerPass * words * 4));
  }
  for (; r < r1; ++r)
    rows_dot<B, 1>(dec, packed + r * words, words, cols, seg, [&](int, int64_t si) { return table_at(r, si); }, x, y + r);
}

// R rows x N tokens (N <= 4) over the columns [c0, c1) (c0 a multiple of 32; c1 a multiple of 32 or
// cols): each decoded step feeds N tokens' FMAs and each x load R rows. out[k * N + t] = partial dot of
// row k (at p + k * words) with token t (at X + t * ldx).
template <int B, int R, int N, typename TableAt>
inline void block_dot(const Decoder<B>& dec, const uint32_t* p, int64_t words, int64_t cols, int64_t c0, int64_t c1,
                      int64_t seg, TableAt&& table_at, const float* X, int64_t ldx, float* out) {
  __m512 acc[R][N], acc1[R][N], tab[R];
  for (int k = 0; k < R; ++k)
    for (int t = 0; t < N; ++t) acc[k][t] = acc1[k][t] = _mm512_setzero_ps();
  int64_t c = c0;
  p += (c0 / kStep) * B;
  const int64_t full = std::min(c1, cols & ~(kStep - 1));
  __m512i i0, i1;
  while (c < full) {
    const int64_t si = seg >= cols ? 0 : c / seg;
    for (int k = 0; k < R; ++k) tab[k] = table_at(k, si);
    const int64_t end = seg >= cols ? full : std::min(full, (si + 1) * seg);
    for (; c < end; c += kStep, p += B) {
      __m512 x0[N], x1[N];
      for (int t = 0; t < N; ++t) {
        x0[t] = _mm512_loadu_ps(X + t * ldx + c);
        x1[t] = _mm512_loadu_ps(X + t * ldx + c + 16);
      }
      for (int k = 0; k < R; ++k) {
        dec(p + k * words, i0, i1);
        const __m512 w0 = _mm512_permutexvar_ps(i0, tab[k]), w1 = _mm512_permutexvar_ps(i1, tab[k]);
        for (int t = 0; t < N; ++t) {
          acc[k][t] = _mm512_fmadd_ps(w0, x0[t], acc[k][t]);
          acc1[k][t] = _mm512_fmadd_ps(w1, x1[t], acc1[k][t]);
        }
      }
    }
  }
  if (c < c1) {  // the row's partial last step
    const __mmask16 m0 = lane_mask(cols - c), m1 = lane_mask(cols - c - 16);
    const int64_t si = seg >= cols ? 0 : c / seg;
    for (int k = 0; k < R; ++k) {
      uint32_t buf[4];
      tail_words<B>(p + k * words, c, cols, buf);
      dec(buf, i0, i1);
      const __m512 t = table_at(k, si);
      const __m512 w0 = _mm512_maskz_permutexvar_ps(m0, i0, t), w1 = _mm512_maskz_permutexvar_ps(m1, i1, t);
      for (int j = 0; j < N; ++j)
        acc[k][j] = _mm512_fmadd_ps(w1, _mm512_maskz_loadu_ps(m1, X + j * ldx + c + 16),
                                    _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m0, X + j * ldx + c), acc[k][j]));
    }
  }
  for (int k = 0; k < R; ++k)
    for (int t = 0; t < N; ++t) out[k * N + t] = _mm512_reduce_add_ps(_mm512_add_ps(acc[k][t], acc1[k][t]));
}

constexpr int kBlockRows = 2, kBlockTokens = 4;
// Bytes of x (kBlockTokens tokens) per column chunk: kept in L1 while every row of the range uses it.
constexpr int64_t kXChunkBytes = 24 << 10;

template <int R, typename F>
void dispatch_block(int64_t k, F&& f) {
  switch (k) {
    case 1: f(std::integral_constant<int, R>{}, std::integral_constant<int, 1>{}); break;
    case 2: f(std::integral_constant<int, R>{}, std::integral_constant<int, 2>{}); break;
    case 3: f(std::integral_constant<int, R>{}, std::integral_constant<int, 3>{}); break;
    default: f(std::integral_constant<int, R>{}, std::integral_constant<int, 4>{}); break;
  }
}

// Rows [r0, r1) x tokens [t, t + k) (k <= kBlockTokens) by column chunks, each swept over all the rows, RB
// rows at a time (the remainder one by one): block(R, N, r, c0, c1, out) writes the partial dots of rows
// r.. r + R - 1 with the N tokens over [c0, c1) to out[i * N + j], and they accumulate in Y[(t + j) * ldy + r + i].
// Forced inline (with its inner lambda): the fp16 kernel measured 22-31 G multiply-adds/s without, 32-41
// with (4096 x 11008, 32 tokens, noisy runs).
template <int RB, typename Block>
[[gnu::always_inline]] inline void sweep_row_blocks(int64_t r0, int64_t r1, int64_t cols, int64_t chunk, int64_t t, int64_t k, float* Y,
                             int64_t ldy, Block&& block) {
  for (int64_t c0 = 0; c0 < cols; c0 += chunk) {
    const int64_t c1 = std::min(cols, c0 + chunk);
    for (int64_t r = r0; r < r1;) {
      const int64_t rr = r + RB <= r1 ? RB : 1;
      auto run = [&](auto R_, auto N_) __attribute__((always_inline)) {
        constexpr int R = decltype(R_)::value, N = decltype(N_)::value;
        float out[R * N];
        block(R_, N_, r, c0, c1, out);
        for (int i = 0; i < R; ++i)
          for (int j = 0; j < N; ++j) {
            float& y = Y[(t + j) * ldy + r + i];
            y = (c0 == 0 ? 0.f : y) + out[i * N + j];
          }
      };
      if (rr == RB) dispatch_block<RB>(k, run);
      else dispatch_block<1>(k, run);
      r += rr;
    }
  }
}

// Rows [r0, r1) x all n tokens (Y[t * ldy + r]), plus the sparse rows of s when given.
// One token: the 8-row kernel. More: per block of kBlockTokens tokens, the columns in chunks whose x fits
// in L1; each chunk is swept over all rows of the range (kBlockRows rows at a time) and the partial sums
// accumulate in Y. (x from L2 instead capped this at ~10 weight-tokens/cycle.)
template <int B, typename TableAt>
void rows_multi(const uint32_t* packed, int64_t cols, int64_t seg, int64_t r0, int64_t r1, TableAt&& table_at,
                const CsrMatrix* s, const float* X, int64_t n, float* Y, int64_t ldy) {
  if (n == 1) {
    rows_single_token<B>(packed, cols, seg, r0, r1, table_at, X, Y);
    if (s)
      for (int64_t r = r0; r < r1; ++r) sparse_row<1>(*s, r, X, cols, Y + r);
    return;
  }
  const Decoder<B> dec;
  const int64_t words = words_per_row(B, cols);
  // x loads that straddle cache lines (activations from a std::vector are 16-byte aligned) cost ~40% here:
  // unaligned token blocks are copied to a 64-byte aligned buffer with rows padded to 16 floats.
  const bool aligned = reinterpret_cast<uintptr_t>(X) % 64 == 0 && cols % 16 == 0;
  const int64_t ldx = aligned ? cols : (cols + 15) / 16 * 16;
  static thread_local std::vector<float> scratch;
  float* xa = nullptr;
  if (!aligned) {
    scratch.resize((size_t)(kBlockTokens * ldx + 16));
    xa = scratch.data() + (16 - reinterpret_cast<uintptr_t>(scratch.data()) / 4 % 16) % 16;
  }
  for (int64_t t = 0; t < n; t += kBlockTokens) {
    const int64_t k = std::min<int64_t>(kBlockTokens, n - t);
    const int64_t chunk = std::max<int64_t>(kStep, kXChunkBytes / (4 * k) / kStep * kStep);
    const float* xb = X + t * cols;
    if (!aligned) {
      for (int64_t j = 0; j < k; ++j) std::memcpy(xa + j * ldx, X + (t + j) * cols, (size_t)cols * 4);
      xb = xa;
    }
    // The explicit sweep (not sweep_row_blocks): through the extra lambda GCC 12 made this ~10 % slower.
    for (int64_t c0 = 0; c0 < cols; c0 += chunk) {
      const int64_t c1 = std::min(cols, c0 + chunk);
      for (int64_t r = r0; r < r1;) {
        const int64_t rr = r + kBlockRows <= r1 ? kBlockRows : 1;
        auto run = [&](auto R_, auto N_) {
          constexpr int R = decltype(R_)::value, N = decltype(N_)::value;
          float out[R * N];
          block_dot<B, R, N>(dec, packed + r * words, words, cols, c0, c1, seg,
                             [&](int i, int64_t si) { return table_at(r + i, si); }, xb, ldx, out);
          for (int i = 0; i < R; ++i)
            for (int j = 0; j < N; ++j) {
              float& y = Y[(t + j) * ldy + r + i];
              y = (c0 == 0 ? 0.f : y) + out[i * N + j];
            }
        };
        if (rr == kBlockRows) dispatch_block<kBlockRows>(k, run);
        else dispatch_block<1>(k, run);
        r += rr;
      }
    }
    if (s)
      for (int64_t r = r0; r < r1; ++r)
        dispatch_block<1>(k, [&](auto, auto N_) {
          constexpr int N = decltype(N_)::value;
          float out[N];
          for (int j = 0; j < N; ++j) out[j] = 0.f;
          sparse_row<N>(*s, r, X + t * cols, cols, out);
          for (int j = 0; j < N; ++j) Y[(t + j) * ldy + r] += out[j];
        });
  }
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

template <int B>
void lut_rows_b(const LutMatrix& w, const CsrMatrix* s, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y,
                int64_t ldy) {
  rows_multi<B>(w.packed, w.cols, w.cols, r0, r1, [&](int64_t r, int64_t) { return table_from_f16<B>(w.lut + (r << B)); }, s,
                X, n, Y, ldy);
}

void lut_rows(const LutMatrix& w, const CsrMatrix* s, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y,
              int64_t ldy) {
  dispatch_bits(w.bits, [&](auto b) { lut_rows_b<decltype(b)::value>(w, s, r0, r1, X, n, Y, ldy); });
}

template <int B>
void lut_dequant_b(const LutMatrix& w, int64_t r0, int64_t r1, float* out) {
  const Decoder<B> dec;
  const int64_t words = words_per_row(B, w.cols);
  for (int64_t r = r0; r < r1; ++r) {
    const __m512 tab = table_from_f16<B>(w.lut + (r << B));
    float* o = out + (r - r0) * w.cols;
    for_steps<B>(dec, w.packed + r * words, w.cols, [&](int64_t c, __m512i i0, __m512i i1, __mmask16 m0, __mmask16 m1) {
      _mm512_mask_storeu_ps(o + c, m0, _mm512_permutexvar_ps(i0, tab));
      _mm512_mask_storeu_ps(o + c + 16, m1, _mm512_permutexvar_ps(i1, tab));
    });
  }
}

void lut_dequant(const LutMatrix& w, int64_t r0, int64_t r1, float* out) {
  dispatch_bits(w.bits, [&](auto b) { lut_dequant_b<decltype(b)::value>(w, r0, r1, out); });
}

// ---- uniform groups ----
// Group g of row r has the table ((0..2^B-1) - z) * s: the same float operations as the reference's
// ((float)q - z) * s, so looked-up weights equal the reference's bit for bit.

inline float half(uint16_t h) { return _cvtsh_ss(h); }

template <int B>
inline __m512 group_table(const GroupMatrix& w, int64_t ng, int64_t r, int64_t g, __m512 iota) {
  return _mm512_mul_ps(_mm512_sub_ps(iota, _mm512_set1_ps(half(w.zeros[r * ng + g]))),
                       _mm512_set1_ps(half(w.scales[r * ng + g])));
}

// Unaligned groups or g_idx: each lane's group index, its scale and zero gathered from fp32 copies of the
// row's scales and zeros.
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
  // q: the 16 codes at column c as floats.
  __m512 weights_of(__m512 q, int64_t c, __mmask16 m) const {
    const __m512i g = _mm512_maskz_loadu_epi32(m, gidx + c);
    const __m512 sv = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, g, s.data(), 4);
    const __m512 zv = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, g, z.data(), 4);
    return _mm512_maskz_mul_ps(m, _mm512_sub_ps(q, zv), sv);
  }
  __m512 weights(__m512i idx, int64_t c, __mmask16 m, __m512 iota) const {
    return weights_of(_mm512_permutexvar_ps(idx, iota), c, m);
  }
};

// ---- 8-bit groups ----
// 256 levels do not fit a register table, so each weight is computed from its code as the reference does,
// ((float)q - z) * s (bit for bit); 8-bit rows are plain bytes in column order, 16 codes per vector.

inline const uint8_t* row_bytes(const GroupMatrix& w, int64_t r) {
  return reinterpret_cast<const uint8_t*>(w.packed + r * words_per_row(8, w.cols));
}

// Masked so that a row's last chunk never reads past its words (the last row's are the buffer's end).
inline __m512 codes8(const uint8_t* p, __mmask16 m) {
  return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, p)));
}

// R rows x N tokens over the columns [c0, c1) (c0 a multiple of 32; c1 a multiple of 32 or cols) with
// aligned groups; out[k * N + t] = partial dot of row r + k with token t (at X + t * ldx). Segments are
// whole groups, so a group ends on a 16-column boundary or at cols.
template <int R, int N>
inline void group8_block(const GroupMatrix& w, int64_t r, int64_t c0, int64_t c1, const float* X, int64_t ldx,
                         float* out) {
  const int64_t ng = w.n_groups(), seg = std::min(w.group, w.cols);
  const uint8_t* p[R];
  __m512 acc[R][N], s[R], z[R];
  for (int k = 0; k < R; ++k) {
    p[k] = row_bytes(w, r + k);
    for (int t = 0; t < N; ++t) acc[k][t] = _mm512_setzero_ps();
  }
  for (int64_t c = c0; c < c1;) {
    const int64_t g = c / seg, end = std::min(c1, (g + 1) * seg);
    for (int k = 0; k < R; ++k) {
      z[k] = _mm512_set1_ps(half(w.zeros[(r + k) * ng + g]));
      s[k] = _mm512_set1_ps(half(w.scales[(r + k) * ng + g]));
    }
    auto chunk = [&](__mmask16 m) {
      __m512 x[N];
      for (int t = 0; t < N; ++t) x[t] = _mm512_maskz_loadu_ps(m, X + t * ldx + c);
      for (int k = 0; k < R; ++k) {
        const __m512 wv = _mm512_mul_ps(_mm512_sub_ps(codes8(p[k] + c, m), z[k]), s[k]);
        for (int t = 0; t < N; ++t) acc[k][t] = _mm512_fmadd_ps(wv, x[t], acc[k][t]);
      }
    };
    // A constant full mask lets the compiler drop the masking from the steady loop.
    for (; c + 16 <= end; c += 16) chunk((__mmask16)0xFFFF);
    if (c < end) {
      chunk(lane_mask(end - c));
      c = end;
    }
  }
  for (int k = 0; k < R; ++k)
    for (int t = 0; t < N; ++t) out[k * N + t] = _mm512_reduce_add_ps(acc[k][t]);
}

// Tokens per pass of the 8-bit kernel: computing a weight costs ~4 instructions (the LUT kernels' lookup
// 1), so it is spread over twice rows_multi's kBlockTokens (2 rows x 8 tokens measured ~1.3x faster than
// 2 x 4 on Zen 5 at n = 16..64; 1 row x 8 slower than both).
constexpr int kGroup8Tokens = 8;

template <int R, typename F>
void dispatch_group8_block(int64_t k, F&& f) {
  auto g = [&](auto N_) { f(std::integral_constant<int, R>{}, N_); };
  switch (k) {
    case 1: g(std::integral_constant<int, 1>{}); break;
    case 2: g(std::integral_constant<int, 2>{}); break;
    case 3: g(std::integral_constant<int, 3>{}); break;
    case 4: g(std::integral_constant<int, 4>{}); break;
    case 5: g(std::integral_constant<int, 5>{}); break;
    case 6: g(std::integral_constant<int, 6>{}); break;
    case 7: g(std::integral_constant<int, 7>{}); break;
    default: g(std::integral_constant<int, 8>{}); break;
  }
}

// As rows_multi: one token takes 4 rows per pass (independent FMA chains over one x load); more tokens go
// in blocks of kGroup8Tokens over column chunks whose x stays in L1, partial sums accumulating in Y.
void group8_rows(const GroupMatrix& w, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y, int64_t ldy) {
  const int64_t cols = w.cols;
  for (int64_t t = 0; t < n; t += kGroup8Tokens) {
    const int64_t k = std::min<int64_t>(kGroup8Tokens, n - t);
    const int64_t chunk = k == 1 ? cols : std::max<int64_t>(kStep, kXChunkBytes / (4 * k) / kStep * kStep);
    for (int64_t c0 = 0; c0 < cols; c0 += chunk) {
      const int64_t c1 = std::min(cols, c0 + chunk);
      for (int64_t r = r0; r < r1;) {
        auto run = [&](auto R_, auto N_) {
          constexpr int R = decltype(R_)::value, N = decltype(N_)::value;
          float out[R * N];
          group8_block<R, N>(w, r, c0, c1, X + t * cols, cols, out);
          for (int i = 0; i < R; ++i)
            for (int j = 0; j < N; ++j) {
              float& y = Y[(t + j) * ldy + r + i];
              y = (c0 == 0 ? 0.f : y) + out[i * N + j];
            }
          r += R;
        };
        if (k == 1) {
          if (r + 4 <= r1) run(std::integral_constant<int, 4>{}, std::integral_constant<int, 1>{});
          else run(std::integral_constant<int, 1>{}, std::integral_constant<int, 1>{});
        } else if (r + kBlockRows <= r1) {
          dispatch_group8_block<kBlockRows>(k, run);
        } else {
          dispatch_group8_block<1>(k, run);
        }
      }
    }
  }
}

template <int N>
void group8_rows_gathered(const GroupMatrix& w, int64_t r0, int64_t r1, const float* X, float* Y, int64_t ldy) {
  GatheredGroups gg(w);
  for (int64_t r = r0; r < r1; ++r) {
    gg.load_row(w, r);
    const uint8_t* p = row_bytes(w, r);
    __m512 acc[N];
    for (int t = 0; t < N; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t c = 0; c < w.cols; c += 16) {
      const __mmask16 m = lane_mask(w.cols - c);
      const __m512 wv = gg.weights_of(codes8(p + c, m), c, m);
      for (int t = 0; t < N; ++t) acc[t] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, X + t * w.cols + c), acc[t]);
    }
    for (int t = 0; t < N; ++t) Y[t * ldy + r] = _mm512_reduce_add_ps(acc[t]);
  }
}

void group8_dequant(const GroupMatrix& w, int64_t r0, int64_t r1, float* out) {
  const int64_t ng = w.n_groups(), seg = std::min(w.group, w.cols);
  const bool aligned = group_aligned(w);
  std::optional<GatheredGroups> gg;
  if (!aligned) gg.emplace(w);
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* p = row_bytes(w, r);
    float* o = out + (r - r0) * w.cols;
    if (aligned) {
      for (int64_t c = 0; c < w.cols;) {
        const int64_t g = c / seg, end = std::min(w.cols, (g + 1) * seg);
        const __m512 z = _mm512_set1_ps(half(w.zeros[r * ng + g])), s = _mm512_set1_ps(half(w.scales[r * ng + g]));
        auto chunk = [&](__mmask16 m) { _mm512_mask_storeu_ps(o + c, m, _mm512_mul_ps(_mm512_sub_ps(codes8(p + c, m), z), s)); };
        // Masked stores with a run-time mask are slow (~1.8x for this loop on Zen 5): full chunks get a
        // constant one, which compiles to a plain store.
        for (; c + 16 <= end; c += 16) chunk((__mmask16)0xFFFF);
        if (c < end) {
          chunk(lane_mask(end - c));
          c = end;
        }
      }
    } else {
      gg->load_row(w, r);
      auto chunk = [&](int64_t c, __mmask16 m) { _mm512_mask_storeu_ps(o + c, m, gg->weights_of(codes8(p + c, m), c, m)); };
      int64_t c = 0;
      for (; c + 16 <= w.cols; c += 16) chunk(c, (__mmask16)0xFFFF);
      if (c < w.cols) chunk(c, lane_mask(w.cols - c));
    }
  }
}

template <int B, int N>
void group_rows_gathered(const GroupMatrix& w, int64_t r0, int64_t r1, const float* X, float* Y, int64_t ldy) {
  const Decoder<B> dec;
  const __m512 iota = iota_table<B>();
  const int64_t words = words_per_row(B, w.cols);
  GatheredGroups gg(w);
  for (int64_t r = r0; r < r1; ++r) {
    gg.load_row(w, r);
    __m512 acc[N];
    for (int t = 0; t < N; ++t) acc[t] = _mm512_setzero_ps();
    for_steps<B>(dec, w.packed + r * words, w.cols, [&](int64_t c, __m512i i0, __m512i i1, __mmask16 m0, __mmask16 m1) {
      const __m512 w0 = gg.weights(i0, c, m0, iota), w1 = gg.weights(i1, c + 16, m1, iota);
      for (int t = 0; t < N; ++t) {
        acc[t] = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m0, X + t * w.cols + c), acc[t]);
        acc[t] = _mm512_fmadd_ps(w1, _mm512_maskz_loadu_ps(m1, X + t * w.cols + c + 16), acc[t]);
      }
    });
    for (int t = 0; t < N; ++t) Y[t * ldy + r] = _mm512_reduce_add_ps(acc[t]);
  }
}

template <int B>
void group_rows_b(const GroupMatrix& w, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y, int64_t ldy) {
  if (group_aligned(w)) {
    const __m512 iota = iota_table<B>();
    const int64_t ng = w.n_groups();
    rows_multi<B>(w.packed, w.cols, w.group, r0, r1, [&](int64_t r, int64_t g) { return group_table<B>(w, ng, r, g, iota); },
                  nullptr, X, n, Y, ldy);
    return;
  }
  for (int64_t t = 0; t < n; t += 4)
    dispatch_tokens(std::min<int64_t>(4, n - t), [&](auto k) {
      group_rows_gathered<B, decltype(k)::value>(w, r0, r1, X + t * w.cols, Y + t * ldy, ldy);
    });
}

void group_rows(const GroupMatrix& w, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y, int64_t ldy) {
  if (w.bits == 8) {
    if (group_aligned(w)) {
      group8_rows(w, r0, r1, X, n, Y, ldy);
    } else {
      for (int64_t t = 0; t < n; t += 4)
        dispatch_tokens(std::min<int64_t>(4, n - t), [&](auto k) {
          group8_rows_gathered<decltype(k)::value>(w, r0, r1, X + t * w.cols, Y + t * ldy, ldy);
        });
    }
    return;
  }
  dispatch_bits(w.bits, [&](auto b) { group_rows_b<decltype(b)::value>(w, r0, r1, X, n, Y, ldy); });
}

template <int B>
void group_dequant_b(const GroupMatrix& w, int64_t r0, int64_t r1, float* out) {
  const Decoder<B> dec;
  const __m512 iota = iota_table<B>();
  const int64_t words = words_per_row(B, w.cols), ng = w.n_groups();
  const bool aligned = group_aligned(w);
  std::optional<GatheredGroups> gg;
  if (!aligned) gg.emplace(w);
  for (int64_t r = r0; r < r1; ++r) {
    float* o = out + (r - r0) * w.cols;
    if (aligned) {
      __m512 tab = _mm512_setzero_ps();
      for_steps<B>(dec, w.packed + r * words, w.cols, [&](int64_t c, __m512i i0, __m512i i1, __mmask16 m0, __mmask16 m1) {
        if (c % w.group == 0) tab = group_table<B>(w, ng, r, c / w.group, iota);
        _mm512_mask_storeu_ps(o + c, m0, _mm512_permutexvar_ps(i0, tab));
        _mm512_mask_storeu_ps(o + c + 16, m1, _mm512_permutexvar_ps(i1, tab));
      });
    } else {
      gg->load_row(w, r);
      for_steps<B>(dec, w.packed + r * words, w.cols, [&](int64_t c, __m512i i0, __m512i i1, __mmask16 m0, __mmask16 m1) {
        _mm512_mask_storeu_ps(o + c, m0, gg->weights(i0, c, m0, iota));
        _mm512_mask_storeu_ps(o + c + 16, m1, gg->weights(i1, c + 16, m1, iota));
      });
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
// Block k's table is codebook * absmax[k] (the reference's product, bit for bit). When blocks tile the
// rows in whole 32-column steps the table changes at block starts; otherwise (a block not a multiple of
// 32, or one straddling rows) each lane multiplies its codebook value by its own block's absmax (the
// same product again).

inline __m512 nf4_table(const float* absmax, int64_t block) {
  return _mm512_mul_ps(_mm512_loadu_ps(kNf4Codebook), _mm512_set1_ps(absmax[block]));
}

// The absmax of each lane along a row, 16 columns at a time: b is the block of the chunk's first weight
// and rem how many of its weights precede it, kept up to date without a division per chunk. A block of at
// least 16 meets at most one boundary per chunk (a blend of two broadcasts); smaller ones take a gather.
struct Nf4Absmax {
  const float* absmax;
  int64_t block, b, rem;
  __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  Nf4Absmax(const Nf4Matrix& w, int64_t r)
      : absmax(w.absmax), block(w.block), b(r * w.cols / w.block), rem(r * w.cols % w.block) {}
  // The next chunk, whose first n lanes are weights of the matrix (n <= 0: none, and no absmax is read).
  __m512 next(int64_t n) {
    if (n <= 0) return _mm512_setzero_ps();
    __m512 a;
    if (block >= 16) {
      a = _mm512_set1_ps(absmax[b]);
      const int64_t cross = block - rem;  // first lane in block b + 1
      if (cross < std::min<int64_t>(n, 16))
        a = _mm512_mask_mov_ps(a, _mm512_cmpge_epi32_mask(lane, _mm512_set1_epi32((int)cross)), _mm512_set1_ps(absmax[b + 1]));
      rem += 16;
      if (rem >= block) {
        rem -= block;
        ++b;
      }
    } else {
      // Lane j is in block b + (rem + j) / block: count the boundaries at or before it.
      const __m512i pos = _mm512_add_epi32(lane, _mm512_set1_epi32((int)rem));
      __m512i off = _mm512_setzero_si512();
      for (int64_t e = block; e < rem + 16; e += block)
        off = _mm512_mask_add_epi32(off, _mm512_cmpge_epi32_mask(pos, _mm512_set1_epi32((int)e)), off, _mm512_set1_epi32(1));
      a = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), lane_mask(n), off, absmax + b, 4);
      rem += 16;
      b += rem / block;
      rem %= block;
    }
    return a;
  }
};

// Unaligned blocks, N tokens, one row at a time.
template <int N>
void nf4_rows_unaligned(const Nf4Matrix& w, int64_t r0, int64_t r1, const float* X, float* Y, int64_t ldy) {
  const Decoder<4> dec;
  const __m512 cb = _mm512_loadu_ps(kNf4Codebook);
  const int64_t words = words_per_row(4, w.cols);
  for (int64_t r = r0; r < r1; ++r) {
    Nf4Absmax am(w, r);
    __m512 acc0[N], acc1[N];
    for (int t = 0; t < N; ++t) acc0[t] = acc1[t] = _mm512_setzero_ps();
    for_steps<4>(dec, w.packed + r * words, w.cols, [&](int64_t c, __m512i i0, __m512i i1, __mmask16 m0, __mmask16 m1) {
      const __m512 w0 = _mm512_mul_ps(_mm512_permutexvar_ps(i0, cb), am.next(w.cols - c));
      const __m512 w1 = _mm512_mul_ps(_mm512_permutexvar_ps(i1, cb), am.next(w.cols - c - 16));
      for (int t = 0; t < N; ++t) {
        acc0[t] = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m0, X + t * w.cols + c), acc0[t]);
        acc1[t] = _mm512_fmadd_ps(w1, _mm512_maskz_loadu_ps(m1, X + t * w.cols + c + 16), acc1[t]);
      }
    });
    for (int t = 0; t < N; ++t) Y[t * ldy + r] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[t], acc1[t]));
  }
}

void nf4_rows(const Nf4Matrix& w, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y, int64_t ldy) {
  if (!nf4_aligned(w)) {
    for (int64_t t = 0; t < n; t += 4)
      dispatch_tokens(std::min<int64_t>(4, n - t), [&](auto k) {
        nf4_rows_unaligned<decltype(k)::value>(w, r0, r1, X + t * w.cols, Y + t * ldy, ldy);
      });
    return;
  }
  // Aligned: row r's blocks are r * bpr + 0 .. bpr - 1.
  const int64_t bpr = w.cols / w.block;
  rows_multi<4>(w.packed, w.cols, w.block, r0, r1, [&](int64_t r, int64_t b) { return nf4_table(w.absmax, r * bpr + b); },
                nullptr, X, n, Y, ldy);
}

void nf4_dequant(const Nf4Matrix& w, int64_t r0, int64_t r1, float* out) {
  const Decoder<4> dec;
  const int64_t words = words_per_row(4, w.cols);
  if (!nf4_aligned(w)) {
    const __m512 cb = _mm512_loadu_ps(kNf4Codebook);
    for (int64_t r = r0; r < r1; ++r) {
      float* o = out + (r - r0) * w.cols;
      Nf4Absmax am(w, r);
      for_steps<4>(dec, w.packed + r * words, w.cols, [&](int64_t c, __m512i i0, __m512i i1, __mmask16 m0, __mmask16 m1) {
        _mm512_mask_storeu_ps(o + c, m0, _mm512_mul_ps(_mm512_permutexvar_ps(i0, cb), am.next(w.cols - c)));
        _mm512_mask_storeu_ps(o + c + 16, m1, _mm512_mul_ps(_mm512_permutexvar_ps(i1, cb), am.next(w.cols - c - 16)));
      });
    }
    return;
  }
  for (int64_t r = r0; r < r1; ++r) {
    float* o = out + (r - r0) * w.cols;
    __m512 tab = _mm512_setzero_ps();
    for_steps<4>(dec, w.packed + r * words, w.cols, [&](int64_t c, __m512i i0, __m512i i1, __mmask16 m0, __mmask16 m1) {
      if (c % w.block == 0) tab = nf4_table(w.absmax, (r * w.cols + c) / w.block);
      _mm512_mask_storeu_ps(o + c, m0, _mm512_permutexvar_ps(i0, tab));
      _mm512_mask_storeu_ps(o + c + 16, m1, _mm512_permutexvar_ps(i1, tab));
    });
  }
}

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

void i8_rows(const Int8Matrix& w, int64_t r0, int64_t r1, const int8_t* Xq, const int32_t* xsum, const float* xs, int64_t n,
             float* Y) {
  for (int64_t r = r0; r < r1; ++r) {
    const int8_t* wr = w.q + r * w.cols;
    for (int64_t t0 = 0; t0 < n; t0 += 4) {
      const int64_t k = std::min<int64_t>(4, n - t0);
      int32_t acc[4];
      dispatch_tokens(k, [&](auto kk) { i8_dot<decltype(kk)::value>(wr, Xq + t0 * w.cols, w.cols, xsum + t0, acc); });
      for (int64_t j = 0; j < k; ++j) Y[(t0 + j) * w.rows + r] = (float)acc[j] * xs[t0 + j] * w.scale[r];
    }
  }
}

float absmax(const float* x, int64_t n) {
  __m512 m = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_maskz_loadu_ps(lane_mask(n - i), x + i)));
  return _mm512_reduce_max_ps(m);
}

void quantize_i8(const float* x, int64_t n, float inv, int8_t* q) {
  const __m512 vinv = _mm512_set1_ps(inv), lo = _mm512_set1_ps(-127.f), hi = _mm512_set1_ps(127.f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = lane_mask(n - i);
    const __m512 v = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), vinv), lo), hi);
    // Round to nearest even (the default MXCSR mode), as std::nearbyint does.
    _mm512_mask_cvtepi32_storeu_epi8(q + i, m, _mm512_cvtps_epi32(v));
  }
}

// ---- dense fp16 / bf16 ----

inline __m512 load_bf16(const uint16_t* p, __mmask16 m) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}
inline __m512 load_f16(const uint16_t* p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }

// R rows against x at once (shared x loads, R independent FMA chains; several rows in flight also keep
// more DRAM streams busy than one row at a time).
template <bool Bf16, int R>
inline void half_rows_dot(const uint16_t* w, int64_t ld, int64_t n, const float* x, float* out) {
  auto ld16 = [](const uint16_t* p, __mmask16 m) { return Bf16 ? load_bf16(p, m) : load_f16(p, m); };
  constexpr int A = R == 1 ? 4 : 2;  // accumulators per row
  __m512 acc[R][A];
  for (int k = 0; k < R; ++k)
    for (int a = 0; a < A; ++a) acc[k][a] = _mm512_setzero_ps();
  int64_t c = 0;
  const __mmask16 all = 0xFFFF;
  constexpr int64_t step = 16 * A;
  for (; c + step <= n; c += step)
    for (int a = 0; a < A; ++a) {
      // Software prefetch ~2 KiB ahead in each row: measured +20% on one DRAM stream per core.
      if (a % 2 == 0)
        for (int k = 0; k < R; ++k) _mm_prefetch(reinterpret_cast<const char*>(w + k * ld + c + 16 * a + kPrefetchHalfs), _MM_HINT_T0);
      const __m512 xv = _mm512_loadu_ps(x + c + 16 * a);
      for (int k = 0; k < R; ++k) acc[k][a] = _mm512_fmadd_ps(ld16(w + k * ld + c + 16 * a, all), xv, acc[k][a]);
    }
  for (; c < n; c += 16) {
    const __mmask16 m = lane_mask(n - c);
    const __m512 xv = _mm512_maskz_loadu_ps(m, x + c);
    for (int k = 0; k < R; ++k) acc[k][0] = _mm512_fmadd_ps(ld16(w + k * ld + c, m), xv, acc[k][0]);
  }
  for (int k = 0; k < R; ++k) {
    __m512 s = acc[k][0];
    for (int a = 1; a < A; ++a) s = _mm512_add_ps(s, acc[k][a]);
    out[k] = _mm512_reduce_add_ps(s);
  }
}

template <bool Bf16>
void half_gemv_rows(const uint16_t* W, int64_t cols, int64_t r0, int64_t r1, const float* x, float* y) {
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) half_rows_dot<Bf16, 4>(W + r * cols, cols, cols, x, y + r);
  for (; r < r1; ++r) half_rows_dot<Bf16, 1>(W + r * cols, cols, cols, x, y + r);
}

// R rows x N tokens over the columns [c0, c1): each converted weight vector feeds N tokens' FMAs and each
// x load R rows. out[k * N + t] = partial dot of row k (at w + k * ld) with token t (at X + t * ldx).
template <bool Bf16, int R, int N>
inline void half_block_dot(const uint16_t* w, int64_t ld, int64_t c0, int64_t c1, const float* X, int64_t ldx,
                           float* out) {
  auto ld16 = [](const uint16_t* p, __mmask16 m) { return Bf16 ? load_bf16(p, m) : load_f16(p, m); };
  __m512 acc[R][N];
  for (int k = 0; k < R; ++k)
    for (int t = 0; t < N; ++t) acc[k][t] = _mm512_setzero_ps();
  // The full steps and the tail written out (with one lambda for both, GCC 12 ran 2.3x slower).
  int64_t c = c0;
  for (; c + 16 <= c1; c += 16) {
    __m512 xv[N];
    for (int t = 0; t < N; ++t) xv[t] = _mm512_loadu_ps(X + t * ldx + c);
    for (int k = 0; k < R; ++k) {
      const __m512 wv = ld16(w + k * ld + c, (__mmask16)0xFFFF);
      for (int t = 0; t < N; ++t) acc[k][t] = _mm512_fmadd_ps(wv, xv[t], acc[k][t]);
    }
  }
  if (c < c1) {
    const __mmask16 m = lane_mask(c1 - c);
    __m512 xv[N];
    for (int t = 0; t < N; ++t) xv[t] = _mm512_maskz_loadu_ps(m, X + t * ldx + c);
    for (int k = 0; k < R; ++k) {
      const __m512 wv = ld16(w + k * ld + c, m);
      for (int t = 0; t < N; ++t) acc[k][t] = _mm512_fmadd_ps(wv, xv[t], acc[k][t]);
    }
  }
  for (int k = 0; k < R; ++k)
    for (int t = 0; t < N; ++t) out[k * N + t] = _mm512_reduce_add_ps(acc[k][t]);
}

// Rows [r0, r1) x n tokens (Y[t * ldy + r]): per block of kBlockTokens tokens, column chunks whose x stays
// in L1, each swept over all rows, partial sums accumulated in Y (as rows_multi does for packed formats).
template <bool Bf16>
void half_rows_multi(const uint16_t* W, int64_t cols, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y,
                     int64_t ldy) {
  constexpr int R = 4;
  for (int64_t t = 0; t < n; t += kBlockTokens) {
    const int64_t k = std::min<int64_t>(kBlockTokens, n - t);
    const int64_t chunk = std::max<int64_t>(16, kXChunkBytes / (4 * k) / 16 * 16);
    sweep_row_blocks<R>(r0, r1, cols, chunk, t, k, Y, ldy, [&](auto R_, auto N_, int64_t r, int64_t c0, int64_t c1, float* out) {
      half_block_dot<Bf16, decltype(R_)::value, decltype(N_)::value>(W + r * cols, cols, c0, c1, X + t * cols, cols, out);
    });
  }
}

void f16_rows_n(const uint16_t* W, int64_t cols, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y,
                int64_t ldy) {
  half_rows_multi<false>(W, cols, r0, r1, X, n, Y, ldy);
}
void bf16_rows_n(const uint16_t* W, int64_t cols, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y,
                 int64_t ldy) {
  half_rows_multi<true>(W, cols, r0, r1, X, n, Y, ldy);
}

float f16_dot(const uint16_t* w, int64_t n, const float* x) {
  float y;
  half_rows_dot<false, 1>(w, n, n, x, &y);
  return y;
}
float bf16_dot(const uint16_t* w, int64_t n, const float* x) {
  float y;
  half_rows_dot<true, 1>(w, n, n, x, &y);
  return y;
}
void f16_rows(const uint16_t* W, int64_t cols, int64_t r0, int64_t r1, const float* x, float* y) {
  half_gemv_rows<false>(W, cols, r0, r1, x, y);
}
void bf16_rows(const uint16_t* W, int64_t cols, int64_t r0, int64_t r1, const float* x, float* y) {
  half_gemv_rows<true>(W, cols, r0, r1, x, y);
}

void f16_to_f32(const uint16_t* in, float* out, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = lane_mask(n - i);
    _mm512_mask_storeu_ps(out + i, m, load_f16(in + i, m));
  }
}
void bf16_to_f32(const uint16_t* in, float* out, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = lane_mask(n - i);
    _mm512_mask_storeu_ps(out + i, m, load_bf16(in + i, m));
  }
}

}  // namespace

const RowOps& avx512_ops() {
  static const RowOps ops{i8_rows,  absmax,    quantize_i8, f16_dot,    bf16_dot,
                          f16_rows, bf16_rows, f16_to_f32,  bf16_to_f32,
                          f16_rows_n,  bf16_rows_n};
  return ops;
}

std::span<const NamedFormatKernels> avx512_format_kernels() {
  static const NamedFormatKernels list[] = {
      {"lut", {rows_with_sparse<lut_rows, lut_of>, dequant_rows<lut_dequant, lut_of>, nullptr, lut_decode}},
      {"group", {rows_dense<group_rows, group_of>, dequant_rows<group_dequant, group_of>, nullptr, group_decode}},
      {"nf4", {rows_dense<nf4_rows, nf4_of>, dequant_rows<nf4_dequant, nf4_of>, nullptr, nf4_decode}},
  };
  return list;
}

}  // namespace sqz::kernels::detail

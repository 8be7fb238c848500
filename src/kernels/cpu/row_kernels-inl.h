// Internal: the one skeleton of the SIMD row kernels, compiled once per instruction set. Each *_avx2.cpp /
// *_avx512.cpp file includes its vector traits (vec_avx2.h / vec_avx512.h, which define `Vec`) and then
// this file, so the loops below are written once and built with each ISA's flags. Everything here has
// internal linkage: an inline or template definition shared between the ISA files could let the linker
// hand the AVX-512 build to the AVX2 kernels (see sparse_row.h).
//
// A packed matrix reaches the loops as a row source, a small struct that knows its layout:
//   int64_t cols, seg;        columns, and columns per table segment (a multiple of kStep, or >= cols)
//   using Tab;                what a row needs per segment (a lookup table, or scales for arithmetic)
//   void table(r, si, tab);   row r's segment si, written in place (scales built with scalar stores and
//                             copied as a whole would be read back wider than written: no store forwarding)
//   F weights(r, s, g, j, tab);  the fp32 weights of chunk j (kLanes columns) of the 32-column step s of
//                             row r, the g-th step of its segment
//   kUnrollSteps;             steps per segment to unroll, so that g is a constant (0: none)
//   kWholeSteps;              true when cols is always a multiple of kStep (no partial last step), else
//   void tail(r, s, tab, w);  the weights of row r's partial last step s (lanes past cols may be anything)
//   row_begin(r), row_bytes;  where row r's bytes start, for software prefetch
//   kRowsPerPass, kBlockRows, kBlockTokens  (from TableBlocking or ArithBlocking)
// The source's weights() holds what is ISA- or format-specific (index decoders, table lookups, block
// layouts); the blocking over rows and tokens, the column chunks, the tails, the prefetch and the
// segment (group, block) bookkeeping are here, shared by every format and both ISAs.
#pragma once
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels/cpu/ops.h"
#include "kernels/cpu/sparse_row.h"

namespace sqz::kernels::detail {
namespace {

using F = Vec::F;
using I = Vec::I;
using M = Vec::M;
constexpr int kLanes = Vec::kLanes;
constexpr int64_t kStep = 32;  // columns per step: one 32-index block of sqz's packing, one GGUF sub-block
constexpr int kChunks = (int)(kStep / kLanes);
// Bytes of x (a block of tokens) per column chunk: kept in L1 while every row of the range uses it.
constexpr int64_t kXChunkBytes = 24 << 10;
constexpr int64_t kPrefetchHalfs = 1024;  // fp16/bf16 software prefetch distance (2 KiB)

template <int K>
using Int = std::integral_constant<int, K>;

// f(Int<k>) with k = n clamped to [1, Max] (a compile-time token or row count).
template <int Max, int K = 1, typename Fn>
[[gnu::always_inline]] inline void dispatch_upto(int64_t n, Fn&& f) {
  if constexpr (K >= Max) f(Int<Max>{});
  else if (n <= K) f(Int<K>{});
  else dispatch_upto<Max, K + 1>(n, f);
}

template <typename Fn>
inline void dispatch_bits(int bits, Fn&& f) {
  switch (bits) {
    case 2: f(Int<2>{}); break;
    case 3: f(Int<3>{}); break;
    default: f(Int<4>{}); break;
  }
}

// f(Int<0>{}), ..., f(Int<N - 1>{}).
template <int N, typename Fn>
[[gnu::always_inline]] inline void static_for(Fn&& f) {
  [&]<int... G>(std::integer_sequence<int, G...>) { (f(Int<G>{}), ...); }(std::make_integer_sequence<int, N>{});
}

// Calls step(s, g) for the steps [s, end) of a segment that starts at step s0: unrolled with constant g
// when the source asks for it and the segment is whole (its block layout then folds into constant
// offsets and shifts), else in a loop.
template <typename Src, typename Step>
[[gnu::always_inline]] inline void segment_steps_do(int64_t s0, int64_t& s, int64_t end, Step&& step) {
  if constexpr (Src::kUnrollSteps > 0) {
    if (s == s0 && end - s0 == Src::kUnrollSteps) {
      static_for<Src::kUnrollSteps>([&](auto g) { step(s0 + decltype(g)::value, (int)decltype(g)::value); });
      s = end;
      return;
    }
  }
  for (; s < end; ++s) step(s, (int)(s - s0));
}

// Blocking of sources whose weights are one table lookup per lane (see Vec for the numbers).
struct TableBlocking {
  static constexpr int kRowsPerPass = Vec::kRowsPerPass, kBlockRows = Vec::kBlockRows, kBlockTokens = Vec::kBlockTokens;
};
// Blocking of sources whose weights take a few instructions per lane: more tokens share each weight.
struct ArithBlocking {
  static constexpr int kRowsPerPass = Vec::kArithRowsPerPass, kBlockRows = Vec::kBlockRows,
                       kBlockTokens = Vec::kArithBlockTokens;
};

// Steps per table segment (one segment when seg >= cols; then the count exceeds every step index).
template <typename Src>
inline int64_t segment_steps(const Src& src) {
  return src.seg >= src.cols ? std::max<int64_t>(1, (src.cols + kStep - 1) / kStep) : src.seg / kStep;
}

inline float reduce_sum(const F* acc, int n) {
  F s = acc[0];
  for (int a = 1; a < n; ++a) s = Vec::add(s, acc[a]);
  return Vec::reduce_add(s);
}

// ---- one token ----

// One token against R consecutive rows from r (out[k] = row r + k . x). Sharing each x load across R rows
// keeps x traffic from L2 low and gives R independent FMA chains; on AVX-512 R = 8 measured ~40% faster
// than one row at a time on Zen 5 (the decode then saturates the shift/permute ports). With R == 1 the
// row gets 4 accumulators instead (two steps per iteration where a step is two vectors).
// [pf, pf_end): bytes to pull into L2 meanwhile, two lines per step (the next rows' block: a row is only a
// few KiB, too short a stream for the hardware prefetcher; +10-15 % for 4-bit from DRAM).
template <int R, typename Src>
[[gnu::always_inline]] inline void rows_dot(const Src& src, int64_t r, const float* x, float* out,
                                            const char* pf = nullptr, const char* pf_end = nullptr) {
  constexpr int A = R == 1 ? 4 : Vec::kAccPerRow;  // accumulators per row
  constexpr int U = A > kChunks ? A / kChunks : 1;  // steps per iteration of the unrolled loop
  const int64_t cols = src.cols, full = cols / kStep, seg_steps = segment_steps(src);
  F acc[R][A];
  typename Src::Tab tab[R];
  for (int k = 0; k < R; ++k)
    for (int a = 0; a < A; ++a) acc[k][a] = Vec::zero();
  int64_t s = 0;
  for (int64_t si = 0; s < full; ++si) {
    for (int k = 0; k < R; ++k) src.table(r + k, si, tab[k]);
    const int64_t s0 = s, end = std::min(full, s + seg_steps);
    if constexpr (U > 1 && Src::kUnrollSteps == 0) {
      for (; s + U <= end; s += U)
        for (int u = 0; u < U; ++u)
          for (int j = 0; j < kChunks; ++j) {
            const F xv = Vec::load(x + (s + u) * kStep + j * kLanes);
            for (int k = 0; k < R; ++k) {
              F& a = acc[k][(u * kChunks + j) % A];
              a = Vec::fmadd(src.weights(r + k, s + u, (int)(s + u - s0), j, tab[k]), xv, a);
            }
          }
    }
    segment_steps_do<Src>(s0, s, end, [&](int64_t st, int g) __attribute__((always_inline)) {
      if (pf < pf_end) {
        _mm_prefetch(pf, _MM_HINT_T1);
        _mm_prefetch(pf + 64, _MM_HINT_T1);
        pf += 128;
      }
      const int u = U > 1 ? g % U : 0;  // with unrolled steps, alternate accumulators step by step
      for (int j = 0; j < kChunks; ++j) {
        const F xv = Vec::load(x + st * kStep + j * kLanes);
        for (int k = 0; k < R; ++k) {
          F& a = acc[k][(u * kChunks + j) % A];
          a = Vec::fmadd(src.weights(r + k, st, g, j, tab[k]), xv, a);
        }
      }
    });
  }
  if constexpr (!Src::kWholeSteps) {
    const int64_t c = full * kStep;
    if (c < cols) {
      M m[kChunks];
      F xv[kChunks];
      for (int j = 0; j < kChunks; ++j) {
        m[j] = Vec::mask(cols - c - j * kLanes);
        xv[j] = Vec::load(x + c + j * kLanes, m[j]);
      }
      for (int k = 0; k < R; ++k) {
        F w[kChunks];
        typename Src::Tab t;
        src.table(r + k, full / seg_steps, t);
        src.tail(r + k, full, t, w);
        for (int j = 0; j < kChunks; ++j) acc[k][0] = Vec::fmadd(Vec::zero_past(w[j], m[j]), xv[j], acc[k][0]);
      }
    }
  }
  for (int k = 0; k < R; ++k) out[k] = reduce_sum(acc[k], A);
}

// Rows [r0, r1) one token at a time: the source's kRowsPerPass rows per pass, the remainder one by one,
// each pass prefetching the next one's rows.
template <typename Src>
inline void rows_single_token(const Src& src, int64_t r0, int64_t r1, const float* x, float* y) {
  constexpr int R = Src::kRowsPerPass;
  const char* end = src.row_begin(r1);
  int64_t r = r0;
  for (; r + R <= r1; r += R) {
    const char* next = src.row_begin(r + R);
    rows_dot<R>(src, r, x, y + r, next, std::min(end, next + R * src.row_bytes));
  }
  for (; r < r1; ++r) rows_dot<1>(src, r, x, y + r);
}

// ---- several tokens ----

// R rows from r x N tokens over the columns [c0, c1) (c0 a multiple of kStep; c1 a multiple of kStep or
// cols): each weight vector feeds N tokens' FMAs and each x load R rows. out[k * N + t] = partial dot of
// row r + k with token t (at X + t * ldx).
template <int R, int N, typename Src>
[[gnu::always_inline]] inline void block_dot(const Src& src, int64_t r, int64_t c0, int64_t c1, const float* X,
                                             int64_t ldx, float* out) {
  constexpr int A = Vec::kBlockAcc;  // accumulators per row and token
  const int64_t cols = src.cols, seg_steps = segment_steps(src);
  F acc[R][N][A];
  typename Src::Tab tab[R];
  for (int k = 0; k < R; ++k)
    for (int t = 0; t < N; ++t)
      for (int a = 0; a < A; ++a) acc[k][t][a] = Vec::zero();
  int64_t s = c0 / kStep;
  const int64_t s_end = std::min(c1, cols & ~(kStep - 1)) / kStep;
  int64_t si = s / seg_steps;  // the only division: segments are then counted
  while (s < s_end) {
    for (int k = 0; k < R; ++k) src.table(r + k, si, tab[k]);
    const int64_t s0 = si * seg_steps, end = std::min(s_end, s0 + seg_steps);
    segment_steps_do<Src>(s0, s, end, [&](int64_t st, int g) __attribute__((always_inline)) {
      for (int j = 0; j < kChunks; ++j) {
        F xv[N];
        for (int t = 0; t < N; ++t) xv[t] = Vec::load(X + t * ldx + st * kStep + j * kLanes);
        for (int k = 0; k < R; ++k) {
          const F w = src.weights(r + k, st, g, j, tab[k]);
          for (int t = 0; t < N; ++t) acc[k][t][j % A] = Vec::fmadd(w, xv[t], acc[k][t][j % A]);
        }
      }
    });
    ++si;
  }
  if constexpr (!Src::kWholeSteps) {
    const int64_t c = s * kStep;
    if (c < c1) {  // the row's partial last step
      M m[kChunks];
      for (int j = 0; j < kChunks; ++j) m[j] = Vec::mask(cols - c - j * kLanes);
      for (int k = 0; k < R; ++k) {
        F w[kChunks];
        typename Src::Tab tt;
        src.table(r + k, s / seg_steps, tt);
        src.tail(r + k, s, tt, w);
        for (int j = 0; j < kChunks; ++j) {
          const F wz = Vec::zero_past(w[j], m[j]);
          for (int t = 0; t < N; ++t) acc[k][t][0] = Vec::fmadd(wz, Vec::load(X + t * ldx + c + j * kLanes, m[j]), acc[k][t][0]);
        }
      }
    }
  }
  for (int k = 0; k < R; ++k)
    for (int t = 0; t < N; ++t) out[k * N + t] = reduce_sum(acc[k][t], A);
}

// Rows [r0, r1) x all n tokens (Y[t * ldy + r]), plus the sparse rows of s when given.
// One token: the multi-row single-token kernel. More: per block of kBlockTokens tokens, the columns in
// chunks whose x fits in L1; each chunk is swept over all rows of the range (kBlockRows rows at a time) and
// the partial sums accumulate in Y. (x from L2 instead capped this at ~10 weight-tokens/cycle.)
template <typename Src>
void rows_multi(const Src& src, const CsrMatrix* s, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y,
                int64_t ldy) {
  const int64_t cols = src.cols;
  if (n == 1) {
    rows_single_token(src, r0, r1, X, Y);
    if (s)
      for (int64_t r = r0; r < r1; ++r) sparse_row<1>(*s, r, X, cols, Y + r);
    return;
  }
  constexpr int RB = Src::kBlockRows, TB = Src::kBlockTokens;
  // x loads that straddle cache lines (activations from a std::vector are 16-byte aligned) cost ~40% here:
  // unaligned token blocks are copied to a 64-byte aligned buffer with rows padded to 16 floats.
  const bool aligned = reinterpret_cast<uintptr_t>(X) % 64 == 0 && cols % 16 == 0;
  const int64_t ldx = aligned ? cols : (cols + 15) / 16 * 16;
  static thread_local std::vector<float> scratch;
  float* xa = nullptr;
  if (!aligned) {
    scratch.resize((size_t)(TB * ldx + 16));
    xa = scratch.data() + (16 - reinterpret_cast<uintptr_t>(scratch.data()) / 4 % 16) % 16;
  }
  for (int64_t t = 0; t < n; t += TB) {
    const int64_t k = std::min<int64_t>(TB, n - t);
    // Whole segments per chunk where the source unrolls them.
    constexpr int64_t unit = Src::kUnrollSteps > 0 ? Src::kUnrollSteps * kStep : kStep;
    const int64_t chunk = std::max<int64_t>(unit, kXChunkBytes / (4 * k) / unit * unit);
    const float* xb = X + t * cols;
    if (!aligned) {
      for (int64_t j = 0; j < k; ++j) std::memcpy(xa + j * ldx, X + (t + j) * cols, (size_t)cols * 4);
      xb = xa;
    }
    // The explicit sweep (not sweep_row_blocks): through the extra lambda GCC 12 made this ~10 % slower.
    for (int64_t c0 = 0; c0 < cols; c0 += chunk) {
      const int64_t c1 = std::min(cols, c0 + chunk);
      for (int64_t r = r0; r < r1;) {
        const int64_t rr = r + RB <= r1 ? RB : 1;
        auto run = [&](auto R_, auto N_) {
          constexpr int R = decltype(R_)::value, N = decltype(N_)::value;
          float out[R * N];
          block_dot<R, N>(src, r, c0, c1, xb, ldx, out);
          for (int i = 0; i < R; ++i)
            for (int j = 0; j < N; ++j) {
              float& y = Y[(t + j) * ldy + r + i];
              y = (c0 == 0 ? 0.f : y) + out[i * N + j];
            }
        };
        if (rr == RB) dispatch_upto<TB>(k, [&](auto N_) { run(Int<RB>{}, N_); });
        else dispatch_upto<TB>(k, [&](auto N_) { run(Int<1>{}, N_); });
        r += rr;
      }
    }
    if (s)
      for (int64_t r = r0; r < r1; ++r)
        dispatch_upto<TB>(k, [&](auto N_) {
          constexpr int N = decltype(N_)::value;
          float out[N];
          for (int j = 0; j < N; ++j) out[j] = 0.f;
          sparse_row<N>(*s, r, X + t * cols, cols, out);
          for (int j = 0; j < N; ++j) Y[(t + j) * ldy + r] += out[j];
        });
  }
}

// ---- dequantization ----

// Calls fn(c, w, n) for each step of row r: w the step's kChunks weight vectors, n its valid columns (an
// Int<kStep> for whole steps, so that fn's partial-step code folds away there).
template <typename Src, typename Fn>
[[gnu::always_inline]] inline void for_row_steps(const Src& src, int64_t r, Fn&& fn) {
  const int64_t cols = src.cols, full = cols / kStep, seg_steps = segment_steps(src);
  int64_t s = 0;
  for (int64_t si = 0; s < full; ++si) {
    typename Src::Tab tab;
    src.table(r, si, tab);
    const int64_t s0 = s, end = std::min(full, s + seg_steps);
    segment_steps_do<Src>(s0, s, end, [&](int64_t st, int g) __attribute__((always_inline)) {
      F w[kChunks];
      for (int j = 0; j < kChunks; ++j) w[j] = src.weights(r, st, g, j, tab);
      fn(st * kStep, w, Int<(int)kStep>{});
    });
  }
  if constexpr (!Src::kWholeSteps) {
    if (full * kStep < cols) {
      F w[kChunks];
      typename Src::Tab tab;
      src.table(r, full / seg_steps, tab);
      src.tail(r, full, tab, w);
      fn(full * kStep, w, cols - full * kStep);
    }
  }
}

// Rows [r0, r1) as fp32 into out[(r1 - r0) * cols]: the weights the row kernels multiply, which the
// sources build with the reference's float operations, so they equal the scalar decoder bit for bit.
template <typename Src>
void dequant_source(const Src& src, int64_t r0, int64_t r1, float* out) {
  for (int64_t r = r0; r < r1; ++r) {
    float* o = out + (r - r0) * src.cols;
    for_row_steps(src, r, [&](int64_t c, const F* w, auto n) {
      for (int j = 0; j < kChunks; ++j) {
        // Masked stores with a run-time mask are slow (~1.8x for a dequant loop on Zen 5): whole steps
        // take plain ones.
        if (n >= kStep) Vec::store(o + c + j * kLanes, w[j]);
        else Vec::store(o + c + j * kLanes, w[j], Vec::mask(n - j * kLanes));
      }
    });
  }
}

// ---- dense fp16 / bf16 ----

template <bool Bf16>
inline F load_half(const uint16_t* p) {
  return Bf16 ? Vec::bf16(p) : Vec::f16(p);
}
template <bool Bf16>
inline F load_half(const uint16_t* p, int64_t n) {
  return Bf16 ? Vec::bf16(p, n) : Vec::f16(p, n);
}

// R rows against x at once (shared x loads, R independent FMA chains; several rows in flight also keep
// more DRAM streams busy than one row at a time).
template <bool Bf16, int R>
inline void half_rows_dot(const uint16_t* w, int64_t ld, int64_t n, const float* x, float* out) {
  constexpr int A = R == 1 ? 4 : 2;  // accumulators per row
  constexpr int64_t step = std::max<int64_t>(32, (int64_t)kLanes * A);
  constexpr int Q = (int)(step / kLanes);
  F acc[R][A];
  for (int k = 0; k < R; ++k)
    for (int a = 0; a < A; ++a) acc[k][a] = Vec::zero();
  int64_t c = 0;
  for (; c + step <= n; c += step)
    for (int q = 0; q < Q; ++q) {
      // Software prefetch ~2 KiB ahead in each row, one line per 32 halves: measured +20% on one DRAM
      // stream per core.
      if ((q * kLanes) % 32 == 0)
        for (int k = 0; k < R; ++k) _mm_prefetch(reinterpret_cast<const char*>(w + k * ld + c + q * kLanes + kPrefetchHalfs), _MM_HINT_T0);
      const F xv = Vec::load(x + c + q * kLanes);
      for (int k = 0; k < R; ++k) acc[k][q % A] = Vec::fmadd(load_half<Bf16>(w + k * ld + c + q * kLanes), xv, acc[k][q % A]);
    }
  for (; c < n; c += kLanes) {
    const int64_t left = n - c;
    const F xv = Vec::load(x + c, Vec::mask(left));
    for (int k = 0; k < R; ++k) acc[k][0] = Vec::fmadd(load_half<Bf16>(w + k * ld + c, left), xv, acc[k][0]);
  }
  for (int k = 0; k < R; ++k) out[k] = reduce_sum(acc[k], A);
}

template <bool Bf16>
void half_gemv_rows(const uint16_t* W, int64_t cols, int64_t r0, int64_t r1, const float* x, float* y) {
  constexpr int R = Vec::kHalfRows;
  int64_t r = r0;
  for (; r + R <= r1; r += R) half_rows_dot<Bf16, R>(W + r * cols, cols, cols, x, y + r);
  for (; r < r1; ++r) half_rows_dot<Bf16, 1>(W + r * cols, cols, cols, x, y + r);
}

// R rows x N tokens over the columns [c0, c1): each converted weight vector feeds N tokens' FMAs and each
// x load R rows. out[k * N + t] = partial dot of row k (at w + k * ld) with token t (at X + t * ldx).
template <bool Bf16, int R, int N>
inline void half_block_dot(const uint16_t* w, int64_t ld, int64_t c0, int64_t c1, const float* X, int64_t ldx,
                           float* out) {
  F acc[R][N];
  for (int k = 0; k < R; ++k)
    for (int t = 0; t < N; ++t) acc[k][t] = Vec::zero();
  // The full steps and the tail written out (with one lambda for both, GCC 12 ran 2.3x slower).
  int64_t c = c0;
  for (; c + kLanes <= c1; c += kLanes) {
    F xv[N];
    for (int t = 0; t < N; ++t) xv[t] = Vec::load(X + t * ldx + c);
    for (int k = 0; k < R; ++k) {
      const F wv = load_half<Bf16>(w + k * ld + c);
      for (int t = 0; t < N; ++t) acc[k][t] = Vec::fmadd(wv, xv[t], acc[k][t]);
    }
  }
  if (c < c1) {
    const M m = Vec::mask(c1 - c);
    F xv[N];
    for (int t = 0; t < N; ++t) xv[t] = Vec::load(X + t * ldx + c, m);
    for (int k = 0; k < R; ++k) {
      const F wv = load_half<Bf16>(w + k * ld + c, c1 - c);
      for (int t = 0; t < N; ++t) acc[k][t] = Vec::fmadd(wv, xv[t], acc[k][t]);
    }
  }
  for (int k = 0; k < R; ++k)
    for (int t = 0; t < N; ++t) out[k * N + t] = Vec::reduce_add(acc[k][t]);
}

// Rows [r0, r1) x tokens [t, t + k) (k <= TB) by column chunks, each swept over all the rows, RB rows at a
// time (the remainder one by one): block(R, N, r, c0, c1, out) writes the partial dots of rows r .. r + R - 1
// with the N tokens over [c0, c1) to out[i * N + j], and they accumulate in Y[(t + j) * ldy + r + i].
// Forced inline (with its inner lambda): the fp16 kernel measured 22-31 G multiply-adds/s without, 32-41
// with (4096 x 11008, 32 tokens, noisy runs).
template <int RB, int TB, typename Block>
[[gnu::always_inline]] inline void sweep_row_blocks(int64_t r0, int64_t r1, int64_t cols, int64_t chunk, int64_t t,
                                                    int64_t k, float* Y, int64_t ldy, Block&& block) {
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
      if (rr == RB) dispatch_upto<TB>(k, [&](auto N_) __attribute__((always_inline)) { run(Int<RB>{}, N_); });
      else dispatch_upto<TB>(k, [&](auto N_) __attribute__((always_inline)) { run(Int<1>{}, N_); });
      r += rr;
    }
  }
}

// Rows [r0, r1) x n tokens (Y[t * ldy + r]): per block of kBlockTokens tokens, column chunks whose x stays
// in L1, each swept over all rows, partial sums accumulated in Y (as rows_multi does for packed formats).
template <bool Bf16>
void half_rows_multi(const uint16_t* W, int64_t cols, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y,
                     int64_t ldy) {
  constexpr int R = Vec::kHalfRows, TB = Vec::kBlockTokens;
  for (int64_t t = 0; t < n; t += TB) {
    const int64_t k = std::min<int64_t>(TB, n - t);
    const int64_t chunk = std::max<int64_t>(kLanes, kXChunkBytes / (4 * k) / kLanes * kLanes);
    sweep_row_blocks<R, TB>(r0, r1, cols, chunk, t, k, Y, ldy, [&](auto R_, auto N_, int64_t r, int64_t c0, int64_t c1, float* out) {
      half_block_dot<Bf16, decltype(R_)::value, decltype(N_)::value>(W + r * cols, cols, c0, c1, X + t * cols, cols, out);
    });
  }
}

template <bool Bf16>
void half_to_f32(const uint16_t* in, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) Vec::store(out + i, load_half<Bf16>(in + i));
  if (i < n) Vec::store(out + i, load_half<Bf16>(in + i, n - i), Vec::mask(n - i));
}

}  // namespace
}  // namespace sqz::kernels::detail

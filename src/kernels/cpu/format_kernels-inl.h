// Internal: the SIMD kernels of sqz's own formats (LUT, uniform groups, NF4, W8A8) and of dense fp16/bf16
// rows, written once on the row-kernel skeleton (row_kernels-inl.h) and compiled per instruction set by
// simd_avx2.cpp and simd_avx512.cpp. Before including this file an ISA file defines, besides `Vec`:
//   template <int B> struct Decoder;  F operator()(const uint32_t* p, int j, const Vec::Table<B>& t):
//       the weights of chunk j of the 32-index step at p (sqz's index packing, formats.h), looked up in t;
//   template <int N> void i8_dot(const int8_t* w, const int8_t* X, int64_t cols, const int32_t* xsum,
//       int32_t* out): exact int32 dot products of one int8 row with N int8 tokens.
//
// Tables: a row segment's 2^B weights as fp32. LUT: the row's codebook; uniform groups: ((0..2^B-1) - z) * s,
// the same float operations as the reference's ((float)q - z) * s; NF4: codebook * absmax, the reference's
// product. So looked-up weights equal the scalar dequantizers' bit for bit.
#pragma once
#include <optional>
#include <vector>

#include "kernels/cpu/format_views.h"
#include "kernels/cpu/row_kernels-inl.h"

namespace sqz::kernels::detail {
namespace {

// ---- sqz's index packing as a row source ----

// Rows of B-bit indices (words_per_row(B, cols) words each); table_at(r, si) gives row r's table of
// segment si (columns [si * seg, (si + 1) * seg)).
template <int B, typename TableAt>
struct IndexedRows : TableBlocking {
  using Tab = Vec::Table<B>;
  static constexpr bool kWholeSteps = false;
  static constexpr int kUnrollSteps = 0;
  const uint32_t* packed;
  int64_t cols, seg, words, row_bytes;
  TableAt table_at;
  Decoder<B> dec;

  IndexedRows(const uint32_t* p, int64_t c, int64_t sg, TableAt t)
      : packed(p), cols(c), seg(sg), words(words_per_row(B, c)), row_bytes(words * 4), table_at(t) {}
  void table(int64_t r, int64_t si, Tab& t) const { t = table_at(r, si); }
  F weights(int64_t r, int64_t s, int, int j, const Tab& t) const { return dec(packed + r * words + s * B, j, t); }
  // The partial last step: the words the row has, copied into a zero-padded buffer.
  void tail(int64_t r, int64_t s, const Tab& t, F* w) const {
    uint32_t buf[4] = {0, 0, 0, 0};
    std::memcpy(buf, packed + r * words + s * B, (size_t)std::min<int64_t>(words - s * B, B) * 4);
    for (int j = 0; j < kChunks; ++j) w[j] = dec(buf, j, t);
  }
  const char* row_begin(int64_t r) const { return reinterpret_cast<const char*>(packed + r * words); }
};

template <int B, typename TableAt>
IndexedRows<B, TableAt> indexed_rows(const uint32_t* packed, int64_t cols, int64_t seg, TableAt table_at) {
  return IndexedRows<B, TableAt>(packed, cols, seg, table_at);
}

// ---- LUT ----

template <int B>
inline auto lut_source(const LutMatrix& w) {
  return indexed_rows<B>(w.packed, w.cols, w.cols, [lut = w.lut](int64_t r, int64_t) { return Vec::table_f16<B>(lut + (r << B)); });
}

void lut_rows(const LutMatrix& w, const CsrMatrix* s, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y,
              int64_t ldy) {
  dispatch_bits(w.bits, [&](auto b) { rows_multi(lut_source<decltype(b)::value>(w), s, r0, r1, X, n, Y, ldy); });
}

void lut_dequant(const LutMatrix& w, int64_t r0, int64_t r1, float* out) {
  dispatch_bits(w.bits, [&](auto b) { dequant_source(lut_source<decltype(b)::value>(w), r0, r1, out); });
}

// ---- uniform groups ----

// Aligned groups (group_aligned): one table per group.
template <int B>
inline auto group_source(const GroupMatrix& w) {
  return indexed_rows<B>(w.packed, w.cols, w.group, [&w, ng = w.n_groups()](int64_t r, int64_t g) {
    const F z = Vec::set1(Vec::half(w.zeros[r * ng + g])), s = Vec::set1(Vec::half(w.scales[r * ng + g]));
    return Vec::map<B>(Vec::iota<B>(), [&](F v) { return Vec::mul(Vec::sub(v, z), s); });
  });
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
      s[(size_t)g] = Vec::half(w.scales[r * ng + g]);
      z[(size_t)g] = Vec::half(w.zeros[r * ng + g]);
    }
  }
  // q: the codes of the kLanes columns at c as floats; lanes outside m are 0.
  F weights(F q, int64_t c, M m) const {
    const I g = Vec::load_i32(gidx + c, m);
    const F sv = Vec::gather(s.data(), g, m), zv = Vec::gather(z.data(), g, m);
    return Vec::zero_past(Vec::mul(Vec::sub(q, zv), sv), m);
  }
};

// Codes as floats (looked up in 0..2^B-1), one row at a time, for the per-lane paths.
template <int B>
inline auto code_source(const uint32_t* packed, int64_t cols) {
  return indexed_rows<B>(packed, cols, cols, [](int64_t, int64_t) { return Vec::iota<B>(); });
}

// N tokens, one row at a time: fn(r, c, q, m) gives the weights of the kLanes columns at c from their
// codes q as floats (m: the lanes inside the row).
template <int N, typename Src, typename Start, typename Weights>
inline void per_lane_rows(const Src& src, int64_t r0, int64_t r1, const float* X, float* Y, int64_t ldy, Start&& start,
                          Weights&& weights_of) {
  const int64_t cols = src.cols;
  for (int64_t r = r0; r < r1; ++r) {
    start(r);
    F acc[N][2];
    for (int t = 0; t < N; ++t) acc[t][0] = acc[t][1] = Vec::zero();
    for_row_steps(src, r, [&](int64_t c, const F* q, auto n) {
      for (int j = 0; j < kChunks; ++j) {
        const M m = Vec::mask(n - j * kLanes);
        const F wv = weights_of(c + j * kLanes, q[j], m, n - j * kLanes);
        for (int t = 0; t < N; ++t) {
          const float* x = X + t * cols + c + j * kLanes;
          acc[t][j % 2] = Vec::fmadd(wv, n >= kStep ? Vec::load(x) : Vec::load(x, m), acc[t][j % 2]);
        }
      }
    });
    for (int t = 0; t < N; ++t) Y[t * ldy + r] = reduce_sum(acc[t], 2);
  }
}

template <typename Src, typename Start, typename Weights>
inline void per_lane_dequant(const Src& src, int64_t r0, int64_t r1, float* out, Start&& start, Weights&& weights_of) {
  for (int64_t r = r0; r < r1; ++r) {
    start(r);
    float* o = out + (r - r0) * src.cols;
    for_row_steps(src, r, [&](int64_t c, const F* q, auto n) {
      for (int j = 0; j < kChunks; ++j) {
        const M m = Vec::mask(n - j * kLanes);
        const F wv = weights_of(c + j * kLanes, q[j], m, n - j * kLanes);
        if (n >= kStep) Vec::store(o + c + j * kLanes, wv);
        else Vec::store(o + c + j * kLanes, wv, m);
      }
    });
  }
}

// ---- 8-bit groups ----
// 256 levels do not fit a register table, so each weight is computed from its code as the reference does,
// ((float)q - z) * s (bit for bit); 8-bit rows are plain bytes in column order.

struct Group8Rows : ArithBlocking {
  struct Tab {
    F z, s;
  };
  static constexpr bool kWholeSteps = false;
  static constexpr int kUnrollSteps = 0;
  const GroupMatrix& w;
  int64_t cols, seg, ng, row_bytes;
  explicit Group8Rows(const GroupMatrix& m)
      : w(m), cols(m.cols), seg(m.group), ng(m.n_groups()), row_bytes(words_per_row(8, m.cols) * 4) {}
  const uint8_t* bytes(int64_t r) const { return reinterpret_cast<const uint8_t*>(w.packed) + r * row_bytes; }
  void table(int64_t r, int64_t g, Tab& t) const {
    t = Tab{Vec::set1(Vec::half(w.zeros[r * ng + g])), Vec::set1(Vec::half(w.scales[r * ng + g]))};
  }
  F weights(int64_t r, int64_t s, int, int j, const Tab& t) const {
    return Vec::mul(Vec::sub(Vec::to_f(Vec::u8(bytes(r) + s * kStep + j * kLanes)), t.z), t.s);
  }
  // Reads only the row's own bytes (the last row's are the buffer's end).
  void tail(int64_t r, int64_t s, const Tab& t, F* out) const {
    const int64_t c = s * kStep;
    for (int j = 0; j < kChunks; ++j)
      out[j] = Vec::mul(Vec::sub(Vec::to_f(Vec::u8(bytes(r) + c + j * kLanes, cols - c - j * kLanes)), t.z), t.s);
  }
  const char* row_begin(int64_t r) const { return reinterpret_cast<const char*>(bytes(r)); }
};

// The unaligned 8-bit path: codes from bytes, weights through GatheredGroups.
template <int N>
void group8_rows_gathered(const GroupMatrix& w, int64_t r0, int64_t r1, const float* X, float* Y, int64_t ldy) {
  GatheredGroups gg(w);
  const Group8Rows src(w);
  const int64_t cols = w.cols;
  for (int64_t r = r0; r < r1; ++r) {
    gg.load_row(w, r);
    const uint8_t* p = src.bytes(r);
    F acc[N];
    for (int t = 0; t < N; ++t) acc[t] = Vec::zero();
    for (int64_t c = 0; c < cols; c += kLanes) {
      const M m = Vec::mask(cols - c);
      const F wv = gg.weights(Vec::to_f(Vec::u8(p + c, cols - c)), c, m);
      for (int t = 0; t < N; ++t) acc[t] = Vec::fmadd(wv, Vec::load(X + t * cols + c, m), acc[t]);
    }
    for (int t = 0; t < N; ++t) Y[t * ldy + r] = Vec::reduce_add(acc[t]);
  }
}

void group8_dequant_gathered(const GroupMatrix& w, int64_t r0, int64_t r1, float* out) {
  GatheredGroups gg(w);
  const Group8Rows src(w);
  for (int64_t r = r0; r < r1; ++r) {
    gg.load_row(w, r);
    const uint8_t* p = src.bytes(r);
    float* o = out + (r - r0) * w.cols;
    int64_t c = 0;
    for (; c + kLanes <= w.cols; c += kLanes) Vec::store(o + c, gg.weights(Vec::to_f(Vec::u8(p + c)), c, Vec::mask(kLanes)));
    if (c < w.cols) {
      const M m = Vec::mask(w.cols - c);
      Vec::store(o + c, gg.weights(Vec::to_f(Vec::u8(p + c, w.cols - c)), c, m), m);
    }
  }
}

// ---- uniform groups: the kernels ----

template <int B, int N>
void group_rows_gathered(const GroupMatrix& w, int64_t r0, int64_t r1, const float* X, float* Y, int64_t ldy) {
  GatheredGroups gg(w);
  per_lane_rows<N>(code_source<B>(w.packed, w.cols), r0, r1, X, Y, ldy, [&](int64_t r) { gg.load_row(w, r); },
                   [&](int64_t c, F q, M m, int64_t) { return gg.weights(q, c, m); });
}

void group_rows(const GroupMatrix& w, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y, int64_t ldy) {
  if (group_aligned(w)) {
    if (w.bits == 8) rows_multi(Group8Rows(w), nullptr, r0, r1, X, n, Y, ldy);
    else dispatch_bits(w.bits, [&](auto b) { rows_multi(group_source<decltype(b)::value>(w), nullptr, r0, r1, X, n, Y, ldy); });
    return;
  }
  for (int64_t t = 0; t < n; t += 4)
    dispatch_upto<4>(n - t, [&](auto k) {
      constexpr int N = decltype(k)::value;
      if (w.bits == 8) group8_rows_gathered<N>(w, r0, r1, X + t * w.cols, Y + t * ldy, ldy);
      else dispatch_bits(w.bits, [&](auto b) { group_rows_gathered<decltype(b)::value, N>(w, r0, r1, X + t * w.cols, Y + t * ldy, ldy); });
    });
}

void group_dequant(const GroupMatrix& w, int64_t r0, int64_t r1, float* out) {
  if (group_aligned(w)) {
    if (w.bits == 8) dequant_source(Group8Rows(w), r0, r1, out);
    else dispatch_bits(w.bits, [&](auto b) { dequant_source(group_source<decltype(b)::value>(w), r0, r1, out); });
    return;
  }
  if (w.bits == 8) {
    group8_dequant_gathered(w, r0, r1, out);
    return;
  }
  GatheredGroups gg(w);
  dispatch_bits(w.bits, [&](auto b) {
    per_lane_dequant(code_source<decltype(b)::value>(w.packed, w.cols), r0, r1, out, [&](int64_t r) { gg.load_row(w, r); },
                     [&](int64_t c, F q, M m, int64_t) { return gg.weights(q, c, m); });
  });
}

// ---- NF4 ----
// Block k's table is codebook * absmax[k]. When blocks tile the rows in whole 32-column steps the table
// changes at block starts; otherwise (a block not a multiple of 32, or one straddling rows) each lane
// multiplies its codebook value by its own block's absmax (the same product again).

inline auto nf4_source(const Nf4Matrix& w) {
  const int64_t bpr = w.cols / w.block;  // aligned: row r's blocks are r * bpr + 0 .. bpr - 1
  return indexed_rows<4>(w.packed, w.cols, w.block, [absmax = w.absmax, bpr](int64_t r, int64_t b) {
    const F a = Vec::set1(absmax[r * bpr + b]);
    return Vec::map<4>(Vec::table16(kNf4Codebook), [&](F v) { return Vec::mul(v, a); });
  });
}

// The absmax of each lane along a row, kLanes columns at a time: b is the block of the chunk's first weight
// and rem how many of its weights precede it, kept up to date without a division per chunk. A block of at
// least kLanes meets at most one boundary per chunk (a blend of two broadcasts); smaller ones take a gather.
struct Nf4Absmax {
  const float* absmax;
  int64_t block, b, rem;
  Nf4Absmax(const Nf4Matrix& w, int64_t r) : absmax(w.absmax), block(w.block), b(r * w.cols / w.block), rem(r * w.cols % w.block) {}
  void start(const Nf4Matrix& w, int64_t r) {
    b = r * w.cols / w.block;
    rem = r * w.cols % w.block;
  }
  // The next chunk, whose first n lanes are weights of the matrix (n <= 0: none, and no absmax is read).
  F next(int64_t n) {
    if (n <= 0) return Vec::zero();
    F a;
    if (block >= kLanes) {
      a = Vec::set1(absmax[b]);
      const int64_t cross = block - rem;  // first lane in block b + 1
      if (cross < std::min<int64_t>(n, kLanes))
        a = Vec::blend(a, Vec::set1(absmax[b + 1]), Vec::ge_i(Vec::iota_i(), Vec::set1_i((int)cross)));
      rem += kLanes;
      if (rem >= block) {
        rem -= block;
        ++b;
      }
    } else {
      // Lane j is in block b + (rem + j) / block: count the boundaries at or before it.
      const I pos = Vec::add_i(Vec::iota_i(), Vec::set1_i((int)rem));
      I off = Vec::set1_i(0);
      for (int64_t e = block; e < rem + kLanes; e += block) off = Vec::inc_where(off, Vec::ge_i(pos, Vec::set1_i((int)e)));
      a = Vec::gather(absmax + b, off, Vec::mask(n));
      rem += kLanes;
      b += rem / block;
      rem %= block;
    }
    return a;
  }
};

// Unaligned blocks: the codebook values of a row (one table for every step), times each lane's absmax.
inline auto nf4_codes(const Nf4Matrix& w) {
  return indexed_rows<4>(w.packed, w.cols, w.cols, [](int64_t, int64_t) { return Vec::table16(kNf4Codebook); });
}

void nf4_rows(const Nf4Matrix& w, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y, int64_t ldy) {
  if (nf4_aligned(w)) {
    rows_multi(nf4_source(w), nullptr, r0, r1, X, n, Y, ldy);
    return;
  }
  Nf4Absmax am(w, r0);
  for (int64_t t = 0; t < n; t += 4)
    dispatch_upto<4>(n - t, [&](auto k) {
      per_lane_rows<decltype(k)::value>(nf4_codes(w), r0, r1, X + t * w.cols, Y + t * ldy, ldy, [&](int64_t r) { am.start(w, r); },
                                        [&](int64_t, F v, M, int64_t left) { return Vec::mul(v, am.next(left)); });
    });
}

void nf4_dequant(const Nf4Matrix& w, int64_t r0, int64_t r1, float* out) {
  if (nf4_aligned(w)) {
    dequant_source(nf4_source(w), r0, r1, out);
    return;
  }
  Nf4Absmax am(w, r0);
  per_lane_dequant(nf4_codes(w), r0, r1, out, [&](int64_t r) { am.start(w, r); },
                   [&](int64_t, F v, M, int64_t left) { return Vec::mul(v, am.next(left)); });
}

// ---- W8A8: the ISA's exact int32 dot (i8_dot) over rows and blocks of 4 tokens ----

void i8_rows(const Int8Matrix& w, int64_t r0, int64_t r1, const int8_t* Xq, const int32_t* xsum, const float* xs, int64_t n,
             float* Y) {
  for (int64_t r = r0; r < r1; ++r) {
    const int8_t* wr = w.q + r * w.cols;
    for (int64_t t0 = 0; t0 < n; t0 += 4) {
      const int64_t k = std::min<int64_t>(4, n - t0);
      int32_t acc[4];
      dispatch_upto<4>(k, [&](auto kk) { i8_dot<decltype(kk)::value>(wr, Xq + t0 * w.cols, w.cols, xsum + t0, acc); });
      for (int64_t j = 0; j < k; ++j) Y[(t0 + j) * w.rows + r] = (float)acc[j] * xs[t0 + j] * w.scale[r];
    }
  }
}

// ---- dense fp16 / bf16 (the loops are row_kernels-inl.h's) ----

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
// Unused by an ISA whose RowOps has no multi-token fp16/bf16 kernel (simd_avx2.cpp).
[[maybe_unused]] void f16_rows_n(const uint16_t* W, int64_t cols, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y, int64_t ldy) {
  half_rows_multi<false>(W, cols, r0, r1, X, n, Y, ldy);
}
[[maybe_unused]] void bf16_rows_n(const uint16_t* W, int64_t cols, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y, int64_t ldy) {
  half_rows_multi<true>(W, cols, r0, r1, X, n, Y, ldy);
}
void f16_to_f32(const uint16_t* in, float* out, int64_t n) { half_to_f32<false>(in, out, n); }
void bf16_to_f32(const uint16_t* in, float* out, int64_t n) { half_to_f32<true>(in, out, n); }

// 8-bit LUTs (256 entries) fit no register table: they run the scalar kernels.
inline bool lut_handles(const FormatParams& p) { return p.bits == 2 || p.bits == 3 || p.bits == 4; }

// The format kernels of this ISA, by format name (kernels/cpu/ops.h).
constexpr NamedFormatKernels kFormatKernels[] = {
    {"lut", {rows_with_sparse<lut_rows, lut_of>, dequant_rows<lut_dequant, lut_of>, lut_handles, lut_decode}},
    {"group", {rows_dense<group_rows, group_of>, dequant_rows<group_dequant, group_of>, nullptr, group_decode}},
    {"nf4", {rows_dense<nf4_rows, nf4_of>, dequant_rows<nf4_dequant, nf4_of>, nullptr, nf4_decode}},
};

}  // namespace
}  // namespace sqz::kernels::detail

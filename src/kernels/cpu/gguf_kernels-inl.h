// Internal: SIMD kernels of the GGUF block types (gguf_blocks.h), written once as row sources of the
// row-kernel skeleton (row_kernels-inl.h) and compiled per instruction set by gguf_avx2.cpp and
// gguf_avx512.cpp. fp32 activations and fp32 accumulation, as the scalar reference (gguf_formats.cpp:
// decode a row, fp32 dot products); not ggml's int8-activation dot products, whose results differ from
// the reference by the activations' quantization error.
//
// Every type is a source whose table segment is 256 columns (a k-quant super-block, or 8 legacy blocks):
// table() decodes the segment's scales once (fp16 fields, packed 6-bit sub-block scales) into fp32, and
// weights() turns a 32-column step's codes into weights with them. Decoding the scales per step instead
// cost more than the weights themselves (Q4_K at half of Q4_0's speed). The weights come out of the scalar
// decoder's float operations in its order, so dequant equals it bit for bit and the row kernels multiply
// exactly the decoded weights. Where the decoder adds to a product (d * q + m, dl * q - ml) the product is
// exact in fp32: d is an fp16 (11 significant bits), a sub-block scale d * sc has at most 17 and such a
// code at most 5, so GCC may fuse the pair into an FMA (its default fp-contract) and still round once, as
// the reference does.
//   Table types (4-bit codes): the step's 16 possible weights in a register table, one lookup per lane:
//   Q4_0, Q4_1, IQ4_NL, Q4_K, IQ4_XS.
//   Arithmetic types (5, 6 or 8-bit codes, or 2/3-bit codes with a scale per 16 weights): each lane's
//   code converted to float and scaled: Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q5_K, Q6_K.
#pragma once
#include "kernels/cpu/gguf_blocks.h"
#include "kernels/cpu/gguf_scales.h"
#include "kernels/cpu/row_kernels-inl.h"
#include "kernels/format.h"

namespace sqz::kernels::detail {
namespace {

constexpr int64_t kGgufSegment = 256;  // columns per table segment
constexpr int kSegSteps = (int)(kGgufSegment / kStep);

// A GGUF matrix: rows of row_bytes bytes, blocks of BlockBytes bytes per BlockCols (32 or 256) columns.
template <int64_t BlockBytes, int64_t BlockCols>
struct GgufRows {
  static constexpr bool kWholeSteps = true;  // rows are whole blocks of 32 or 256 weights
  static constexpr int64_t seg = kGgufSegment;
  static constexpr int kUnrollSteps = kSegSteps;
  static constexpr int64_t kSubBlocks = BlockCols / kStep;  // steps per block
  const uint8_t* data;
  int64_t cols, row_bytes;
  explicit GgufRows(const PackedMatrix& m)
      : data(m.at<uint8_t>(0)), cols(m.cols), row_bytes(m.cols / BlockCols * BlockBytes) {}
  // The block that holds step s of row r.
  const uint8_t* block(int64_t r, int64_t s) const {
    return data + r * row_bytes + (int64_t)((uint64_t)s / kSubBlocks) * BlockBytes;
  }
  // Legacy blocks of segment si that the row has (the last segment of a row may hold fewer than 8).
  int blocks_in(int64_t si) const { return (int)std::min<int64_t>(kSegSteps, cols / kStep - si * kSegSteps); }
  const char* row_begin(int64_t r) const { return reinterpret_cast<const char*>(data + r * row_bytes); }
};

// The fp16 fields at p, p + stride, ... (n of them) as fp32 into out[0 .. n). One scalar conversion each:
// packing them into one vector for a single vcvtph2ps went through memory, and the 16-byte load after
// 2-byte stores (no store forwarding) made Q4_0 ~1.7x slower.
inline void halves_at(const uint8_t* p, int64_t stride, int n, float* out) {
  for (int k = 0; k < n; ++k) out[k] = Vec::half_at(p + k * stride);
}

// The eight bytes of v (value k in byte k) minus bias, times d, into out[0 .. 8): the scales of a segment's
// sub-blocks as d * (float)(scale - bias), the reference's product, eight at once.
inline void scaled_bytes(uint64_t v, int bias, float d, float* out) {
  const __m256i w = _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)v)), _mm256_set1_epi32(bias));
  _mm256_storeu_ps(out, _mm256_mul_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(w)));
}

// Chunk j's kLanes columns of a 32-weight run whose 16 bytes hold weights l (low nibble) and l + 16
// (high nibble) at byte l: the legacy blocks' and IQ4_XS's layout.
inline I split_nibbles(const uint8_t* qs, int j) {
  const I b = Vec::u8(qs + (j * kLanes) % 16);
  return j * kLanes >= 16 ? Vec::srli<4>(b) : b;
}
// Chunk j of 32 consecutive bytes, their low (shift 0) or high (shift 4) nibbles.
inline I run_nibbles(const uint8_t* qs, int j, int shift) { return Vec::srl(Vec::u8(qs + j * kLanes), shift); }
// Chunk j of the 32-bit word at p, one bit per weight: bit (j * kLanes + lane) as 0 or 1 << 4 (the fifth
// code bit of Q5_0 / Q5_1).
inline I fifth_bits(const uint8_t* p, int j) {
  uint32_t qh;
  std::memcpy(&qh, p, 4);
  return Vec::slli<4>(Vec::and_i(Vec::srlv(Vec::set1_i((int)qh), Vec::add_i(Vec::iota_i(), Vec::set1_i(j * kLanes))), 1));
}
// Scales per 16 weights (Q2_K, Q3_K, Q6_K): chunk j of a step takes its 16-weight group's (0 or 1).
inline int group16(int j) { return j * kLanes / 16; }

inline Vec::Table<4> iq4_grid() {
  static const float grid[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
  static_assert(sizeof(grid) / sizeof(grid[0]) == sizeof(gguf::kIq4Values));
  return Vec::table16(grid);
}

// ---- legacy blocks (32 weights): per segment the d (and m) of its 8 blocks ----

struct Scales8 {
  float d[8];
};
struct ScalesMins8 {
  float d[8], m[8];
};

// Q4_0: d, qs[16]; w = d * (q - 8).
struct Q4_0Rows : GgufRows<18, 32>, TableBlocking {
  using GgufRows::GgufRows;
  using Tab = Scales8;
  void table(int64_t r, int64_t si, Tab& t) const {
    halves_at(block(r, si * kSegSteps), 18, blocks_in(si), t.d);
  }
  F weights(int64_t r, int64_t s, int g, int j, const Tab& t) const {
    const F d = Vec::set1(t.d[g]);
    const auto tab = Vec::map<4>(Vec::iota<4>(), [&](F v) { return Vec::mul(d, Vec::sub(v, Vec::set1(8.f))); });
    return Vec::lookup16(tab, split_nibbles(block(r, s) + 2, j));
  }
};

// Q4_1: d, m, qs[16]; w = d * q + m.
struct Q4_1Rows : GgufRows<20, 32>, TableBlocking {
  using GgufRows::GgufRows;
  using Tab = ScalesMins8;
  void table(int64_t r, int64_t si, Tab& t) const {
    const uint8_t* b = block(r, si * kSegSteps);
    halves_at(b, 20, blocks_in(si), t.d);
    halves_at(b + 2, 20, blocks_in(si), t.m);
  }
  F weights(int64_t r, int64_t s, int g, int j, const Tab& t) const {
    const F d = Vec::set1(t.d[g]), m = Vec::set1(t.m[g]);
    const auto tab = Vec::map<4>(Vec::iota<4>(), [&](F v) { return Vec::add(Vec::mul(d, v), m); });
    return Vec::lookup16(tab, split_nibbles(block(r, s) + 4, j));
  }
};

// IQ4_NL: d, qs[16]; w = d * grid[q].
struct Iq4NlRows : GgufRows<18, 32>, TableBlocking {
  using GgufRows::GgufRows;
  using Tab = Scales8;
  void table(int64_t r, int64_t si, Tab& t) const {
    halves_at(block(r, si * kSegSteps), 18, blocks_in(si), t.d);
  }
  F weights(int64_t r, int64_t s, int g, int j, const Tab& t) const {
    const F d = Vec::set1(t.d[g]);
    const auto tab = Vec::map<4>(iq4_grid(), [&](F v) { return Vec::mul(d, v); });
    return Vec::lookup16(tab, split_nibbles(block(r, s) + 2, j));
  }
};

// Q8_0: d, int8 qs[32]; w = d * q.
struct Q8_0Rows : GgufRows<34, 32>, ArithBlocking {
  using GgufRows::GgufRows;
  using Tab = Scales8;
  void table(int64_t r, int64_t si, Tab& t) const {
    halves_at(block(r, si * kSegSteps), 34, blocks_in(si), t.d);
  }
  F weights(int64_t r, int64_t s, int g, int j, const Tab& t) const {
    return Vec::mul(Vec::set1(t.d[g]), Vec::to_f(Vec::i8(block(r, s) + 2 + j * kLanes)));
  }
};

// Q5_0: d, qh (fifth bits), qs[16]; w = d * (q - 16).
struct Q5_0Rows : GgufRows<22, 32>, ArithBlocking {
  using GgufRows::GgufRows;
  using Tab = Scales8;
  void table(int64_t r, int64_t si, Tab& t) const {
    halves_at(block(r, si * kSegSteps), 22, blocks_in(si), t.d);
  }
  F weights(int64_t r, int64_t s, int g, int j, const Tab& t) const {
    const uint8_t* b = block(r, s);
    const I q = Vec::or_i(Vec::and_i(split_nibbles(b + 6, j), 0xF), fifth_bits(b + 2, j));
    return Vec::mul(Vec::set1(t.d[g]), Vec::to_f(Vec::sub_i(q, Vec::set1_i(16))));
  }
};

// Q5_1: d, m, qh, qs[16]; w = d * q + m.
struct Q5_1Rows : GgufRows<24, 32>, ArithBlocking {
  using GgufRows::GgufRows;
  using Tab = ScalesMins8;
  void table(int64_t r, int64_t si, Tab& t) const {
    const uint8_t* b = block(r, si * kSegSteps);
    halves_at(b, 24, blocks_in(si), t.d);
    halves_at(b + 2, 24, blocks_in(si), t.m);
  }
  F weights(int64_t r, int64_t s, int g, int j, const Tab& t) const {
    const uint8_t* b = block(r, s);
    const I q = Vec::or_i(Vec::and_i(split_nibbles(b + 8, j), 0xF), fifth_bits(b + 4, j));
    return Vec::add(Vec::mul(Vec::set1(t.d[g]), Vec::to_f(q)), Vec::set1(t.m[g]));
  }
};

// ---- k-quants and IQ4_XS (256-weight super-blocks): per segment the scales of its sub-blocks ----

// Q4_K / Q5_K: d, dmin, scales[12] (8 x 6-bit scale and min): sub-block g has dl = d * sc_g, ml = dmin * m_g.
inline void k4_scales(const uint8_t* b, ScalesMins8& t) {
  uint64_t sc, mn;
  gguf::k4_scales_mins(b + 4, sc, mn);
  scaled_bytes(sc, 0, Vec::half_at(b), t.d);
  scaled_bytes(mn, 0, Vec::half_at(b + 2), t.m);
}

// Q4_K: d, dmin, scales[12], qs[128]; sub-block g: w = dl * q - ml, its codes the low (g even) or high
// nibbles of qs[32 (g / 2) ..].
struct Q4_KRows : GgufRows<144, 256>, TableBlocking {
  using GgufRows::GgufRows;
  using Tab = ScalesMins8;
  void table(int64_t r, int64_t si, Tab& t) const { k4_scales(block(r, si * kSegSteps), t); }
  F weights(int64_t r, int64_t s, int g, int j, const Tab& t) const {
    const F dl = Vec::set1(t.d[g]), ml = Vec::set1(t.m[g]);
    const auto tab = Vec::map<4>(Vec::iota<4>(), [&](F v) { return Vec::sub(Vec::mul(dl, v), ml); });
    return Vec::lookup16(tab, run_nibbles(block(r, s) + 16 + 32 * (g / 2), j, 4 * (g % 2)));
  }
};

// Q5_K: d, dmin, scales[12], qh[32], qs[128]; sub-block g: w = dl * q - ml, the code's low four bits as
// Q4_K's, its fifth bit g of qh[l].
struct Q5_KRows : GgufRows<176, 256>, ArithBlocking {
  using GgufRows::GgufRows;
  using Tab = ScalesMins8;
  void table(int64_t r, int64_t si, Tab& t) const { k4_scales(block(r, si * kSegSteps), t); }
  F weights(int64_t r, int64_t s, int g, int j, const Tab& t) const {
    const uint8_t* b = block(r, s);
    const I lo = Vec::and_i(run_nibbles(b + 48 + 32 * (g / 2), j, 4 * (g % 2)), 0xF);
    const I hi = Vec::slli<4>(Vec::and_i(Vec::srl(Vec::u8(b + 16 + j * kLanes), g), 1));
    return Vec::sub(Vec::mul(Vec::set1(t.d[g]), Vec::to_f(Vec::or_i(lo, hi))), Vec::set1(t.m[g]));
  }
};

// IQ4_XS: d, scales_h, scales_l[4], qs[128]; block ib: w = d * (ls - 32) * grid[q], codes as IQ4_NL's.
struct Iq4XsRows : GgufRows<136, 256>, TableBlocking {
  using GgufRows::GgufRows;
  using Tab = Scales8;
  void table(int64_t r, int64_t si, Tab& t) const {
    const uint8_t* b = block(r, si * kSegSteps);
    scaled_bytes(gguf::iq4xs_scales(b), 32, Vec::half_at(b), t.d);
  }
  F weights(int64_t r, int64_t s, int g, int j, const Tab& t) const {
    const F dl = Vec::set1(t.d[g]);
    const auto tab = Vec::map<4>(iq4_grid(), [&](F v) { return Vec::mul(dl, v); });
    return Vec::lookup16(tab, split_nibbles(block(r, s) + 8 + 16 * g, j));
  }
};

// Scales of the 16 groups of 16 weights.
struct Scales16 {
  float d[16];
};
struct ScalesMins16 {
  float d[16], m[16];
};

// Q6_K: ql[128], qh[64], int8 scales[16], d; step g: h = g / 4, q = g % 4, codes = low (q < 2) or high
// nibbles of ql[64 h + 32 (q % 2) ..] | bits 2q, 2q+1 of qh[32 h ..] << 4; w = d * sc * (code - 32).
struct Q6_KRows : GgufRows<210, 256>, ArithBlocking {
  using GgufRows::GgufRows;
  using Tab = Scales16;
  void table(int64_t r, int64_t si, Tab& t) const {
    const uint8_t* b = block(r, si * kSegSteps);
    const float d = Vec::half_at(b + 208);
    for (int k = 0; k < 16; k += kLanes) Vec::store(t.d + k, Vec::mul(Vec::set1(d), Vec::to_f(Vec::i8(b + 192 + k))));
  }
  F weights(int64_t r, int64_t s, int g, int j, const Tab& t) const {
    const uint8_t* b = block(r, s);
    const int h = g / 4, q = g % 4;
    const I lo = Vec::and_i(run_nibbles(b + 64 * h + 32 * (q % 2), j, q < 2 ? 0 : 4), 0xF);
    const I hi = Vec::slli<4>(Vec::and_i(Vec::srl(Vec::u8(b + 128 + 32 * h + j * kLanes), 2 * q), 3));
    return Vec::mul(Vec::set1(t.d[2 * g + group16(j)]), Vec::to_f(Vec::sub_i(Vec::or_i(lo, hi), Vec::set1_i(32))));
  }
};

// Q2_K and Q3_K's two low code bits: step g's codes at bits 2 (g % 4) of qs[32 (g / 4) ..].
inline I two_bits(const uint8_t* qs, int g, int j) {
  return Vec::and_i(Vec::srl(Vec::u8(qs + 32 * (g / 4) + j * kLanes), 2 * (g % 4)), 3);
}

// Q2_K: scales[16] (scale | min << 4 per 16 weights), qs[64], d, dmin; w = d * sc * q - dmin * min.
struct Q2_KRows : GgufRows<84, 256>, ArithBlocking {
  using GgufRows::GgufRows;
  using Tab = ScalesMins16;
  void table(int64_t r, int64_t si, Tab& t) const {
    const uint8_t* b = block(r, si * kSegSteps);
    const F d = Vec::set1(Vec::half_at(b + 80)), dmin = Vec::set1(Vec::half_at(b + 82));
    for (int k = 0; k < 16; k += kLanes) {
      const I sc = Vec::u8(b + k);
      Vec::store(t.d + k, Vec::mul(d, Vec::to_f(Vec::and_i(sc, 0xF))));
      Vec::store(t.m + k, Vec::mul(dmin, Vec::to_f(Vec::srli<4>(sc))));
    }
  }
  F weights(int64_t r, int64_t s, int g, int j, const Tab& t) const {
    const int k = 2 * g + group16(j);
    return Vec::sub(Vec::mul(Vec::set1(t.d[k]), Vec::to_f(two_bits(block(r, s) + 16, g, j))), Vec::set1(t.m[k]));
  }
};

// Q3_K: hmask[32], qs[64], scales[12], d; step g: code = two bits - 4 unless bit g of hmask[l] is set;
// w = d * (scale - 32) * code.
struct Q3_KRows : GgufRows<110, 256>, ArithBlocking {
  using GgufRows::GgufRows;
  using Tab = Scales16;
  void table(int64_t r, int64_t si, Tab& t) const {
    const uint8_t* b = block(r, si * kSegSteps);
    const float d = Vec::half_at(b + 108);
    uint64_t lo, hi;
    gguf::q3k_scales(b + 96, lo, hi);
    scaled_bytes(lo, 32, d, t.d);
    scaled_bytes(hi, 32, d, t.d + 8);
  }
  F weights(int64_t r, int64_t s, int g, int j, const Tab& t) const {
    const uint8_t* b = block(r, s);
    const I high = Vec::and_i(Vec::srl(Vec::u8(b + j * kLanes), g), 1);
    const I code = Vec::sub_i(Vec::add_i(two_bits(b + 32, g, j), Vec::slli<2>(high)), Vec::set1_i(4));
    return Vec::mul(Vec::set1(t.d[2 * g + group16(j)]), Vec::to_f(code));
  }
};

// ---- the table's kernels ----

template <typename Src>
void gguf_rows(const PackedMatrix& m, const CsrMatrix*, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y,
               int64_t ldy) {
  rows_multi(Src(m), nullptr, r0, r1, X, n, Y, ldy);
}

template <typename Src>
void gguf_dequant(const PackedMatrix& m, int64_t r0, int64_t r1, float* out) {
  dequant_source(Src(m), r0, r1, out);
}

template <typename Src>
RowDecode gguf_decode(const PackedMatrix&) {
  return std::is_base_of_v<TableBlocking, Src> ? RowDecode::Table : RowDecode::PerLane;
}

template <typename Src>
constexpr FormatKernels gguf_kernels() {
  return FormatKernels{gguf_rows<Src>, gguf_dequant<Src>, nullptr, gguf_decode<Src>};
}

constexpr NamedFormatKernels kGgufKernels[] = {
    {"q4_0", gguf_kernels<Q4_0Rows>()},  {"q4_1", gguf_kernels<Q4_1Rows>()},   {"q5_0", gguf_kernels<Q5_0Rows>()},
    {"q5_1", gguf_kernels<Q5_1Rows>()},  {"q8_0", gguf_kernels<Q8_0Rows>()},   {"q2_k", gguf_kernels<Q2_KRows>()},
    {"q3_k", gguf_kernels<Q3_KRows>()},  {"q4_k", gguf_kernels<Q4_KRows>()},   {"q5_k", gguf_kernels<Q5_KRows>()},
    {"q6_k", gguf_kernels<Q6_KRows>()},  {"iq4_nl", gguf_kernels<Iq4NlRows>()}, {"iq4_xs", gguf_kernels<Iq4XsRows>()},
};

}  // namespace
}  // namespace sqz::kernels::detail

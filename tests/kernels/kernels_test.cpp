// Every kernel against its scalar reference, for each instruction set this CPU supports (set_isa pins
// one at a time), on random shapes including ragged ones (columns not a multiple of the 16/32-column SIMD
// steps, one row, odd sizes) and shapes large enough to take the multi-threaded paths. Products are
// compared within the tolerance explained in kernel_test_support.h (1e-5 of sum |w x| per output);
// integer paths (W8A8, activation quantization) and dequantization are compared for exact equality.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "core/error.h"
#include "core/half.h"
#include "core/threads.h"
#include "kernels/cpu/dense.h"
#include "kernels/cpu/format_views.h"
#include "kernels/cpu/formats.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/tuning.h"
#include "kernel_test_support.h"

using namespace sqz;
using namespace sqz::kernels;
using namespace sqz::kernels::test;

namespace {

std::vector<uint8_t> random_codes(size_t n, int bits, uint32_t seed) {
  std::mt19937 g(seed);
  std::vector<uint8_t> v(n);
  for (auto& x : v) x = (uint8_t)(g() & ((1u << bits) - 1));
  return v;
}

std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

std::vector<uint16_t> to_half(const std::vector<float>& v) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = f32_to_fp16(v[i]);
  return h;
}

std::vector<uint32_t> pack_matrix(int bits, const std::vector<uint8_t>& codes, int64_t rows, int64_t cols) {
  const int64_t words = packed_words_per_row(bits, cols);
  // Sentinel-filled so a kernel reading past a row's last word would see garbage, not zeros.
  std::vector<uint32_t> packed((size_t)(rows * words), 0xA5A5A5A5u);
  for (int64_t r = 0; r < rows; ++r) pack_row(bits, codes.data() + r * cols, cols, packed.data() + r * words);
  return packed;
}

// Ragged and regular shapes; the last ones take the multi-threaded path (rows * cols >= 2^17).
const std::vector<std::pair<int64_t, int64_t>> kShapes = {{1, 1},   {1, 32},  {7, 33},   {5, 64},    {16, 100},
                                                          {3, 257}, {9, 31},  {2, 15},   {4, 17},    {64, 1024},
                                                          {1, 1000}, {130, 47}, {257, 1031}, {512, 256}};

// A random CSR matrix: a few entries per row, one row much denser (partitioning by nnz must cope).
struct RandomCsr {
  std::vector<int32_t> row_ptr{0}, col;
  std::vector<uint16_t> val;
  CsrMatrix m;
  RandomCsr(int64_t rows, int64_t cols, uint32_t seed) {
    std::mt19937 g(seed);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t k = r == rows / 2 ? std::min<int64_t>(cols, 200) : (int64_t)(g() % 6);
      std::vector<int32_t> cs;
      for (int64_t i = 0; i < k; ++i) cs.push_back((int32_t)(g() % (uint32_t)cols));
      std::sort(cs.begin(), cs.end());
      cs.erase(std::unique(cs.begin(), cs.end()), cs.end());
      for (int32_t c : cs) {
        col.push_back(c);
        val.push_back(f32_to_fp16(std::normal_distribution<float>(0.f, 3.f)(g)));
      }
      row_ptr.push_back((int32_t)col.size());
    }
    m = CsrMatrix{rows, cols, row_ptr.data(), col.data(), val.data()};
  }
};

struct RandomLut {
  int bits;
  int64_t rows, cols;
  std::vector<uint8_t> codes;
  std::vector<uint32_t> packed;
  std::vector<uint16_t> lut;
  LutMatrix m;
  RandomLut(int bits_, int64_t rows_, int64_t cols_, uint32_t seed)
      : bits(bits_), rows(rows_), cols(cols_), codes(random_codes((size_t)(rows * cols), bits, seed)),
        packed(pack_matrix(bits, codes, rows, cols)), lut(to_half(random_floats((size_t)(rows << bits), seed + 1))) {
    m = LutMatrix{bits, rows, cols, packed.data(), lut.data()};
  }
  std::vector<float> dense(const CsrMatrix* s) const {
    std::vector<float> w((size_t)(rows * cols));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) w[(size_t)(r * cols + c)] = fp16_to_f32(lut[(size_t)((r << bits) + codes[(size_t)(r * cols + c)])]);
    if (s) csr_add_rows(*s, 0, rows, w.data());
    return w;
  }
};

}  // namespace

// ---------------- ISA selection ----------------

TEST(Isa, SupportedListStartsWithScalarAndPinningWorks) {
  const auto isas = tested_isas();
  ASSERT_FALSE(isas.empty());
  EXPECT_EQ(isas.front(), Isa::Scalar);
  EXPECT_EQ(isas.back(), detected_isa());
  for (Isa isa : isas) {
    IsaScope pin(isa);
    EXPECT_EQ(active_isa(), isa);
    EXPECT_EQ(parse_isa(isa_name(isa)), isa);
  }
  EXPECT_FALSE(parse_isa("sse9").has_value());
  if (detected_isa() != Isa::Avx512) {
    EXPECT_THROW(set_isa(Isa::Avx512), Error);
  }
  std::printf("kernel tests run on %d threads\n", num_threads());
}

// Every comparison below with the scalar reference also passes when an ISA silently runs the scalar
// kernels; this one fails then: the typed entry points (lut_gemv, ...) reach the table's row, whose entry
// for each ISA carries that ISA's kernels.
TEST(Isa, TypedEntryPointsRunEachIsasOwnKernels) {
  const uint32_t packed[16] = {};
  const uint16_t halves[64] = {};
  const float absmax[2] = {1, 1};
  const std::pair<const char*, PackedMatrix> cases[] = {
      {"lut", detail::packed_of(LutMatrix{4, 1, 32, packed, halves})},
      {"group", detail::packed_of(GroupMatrix{4, 1, 64, 32, packed, halves, halves, nullptr})},
      {"nf4", detail::packed_of(Nf4Matrix{1, 64, 64, packed, absmax})},
  };
  for (const auto& [name, m] : cases)
    for (Isa isa : tested_isas()) {
      const Format& row = format(name);
      EXPECT_EQ(m.format, &row) << name;
      EXPECT_EQ(&kernels_for(m, isa), &row.isa[(size_t)isa]) << name << " on " << isa_name(isa);
      EXPECT_NE(row.isa[(size_t)isa].rows, nullptr) << name << " has no " << isa_name(isa) << " row kernel";
    }
}

// ---------------- packing ----------------

TEST(Packing, RoundTripsEveryWidthAndOddLengths) {
  for (int bits : {2, 3, 4, 8})
    for (int64_t cols : {1, 2, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 95, 96, 100, 257, 1000}) {
      auto idx = random_codes((size_t)cols, bits, (uint32_t)(bits * 1000 + cols));
      std::vector<uint32_t> packed((size_t)packed_words_per_row(bits, cols), 0xdeadbeef);
      pack_row(bits, idx.data(), cols, packed.data());
      std::vector<uint8_t> back((size_t)cols);
      unpack_row(bits, packed.data(), cols, back.data());
      EXPECT_EQ(back, idx) << bits << " bits, " << cols << " columns";
    }
  // Dense: 3-bit uses exactly 3 words per 32 indices; tails round up to a whole block / word.
  EXPECT_EQ(packed_words_per_row(3, 4096), 384);
  EXPECT_EQ(packed_words_per_row(3, 33), 6);
  EXPECT_EQ(packed_words_per_row(4, 4096), 512);
  EXPECT_EQ(packed_words_per_row(4, 9), 2);
  EXPECT_EQ(packed_words_per_row(2, 4096), 256);
  EXPECT_EQ(packed_words_per_row(2, 17), 2);
  EXPECT_THROW(packed_words_per_row(5, 10), Error);
}

TEST(Packing, TailBitsAreZero) {
  for (int bits : {2, 3, 4}) {
    std::vector<uint8_t> idx(5, (uint8_t)((1 << bits) - 1));
    std::vector<uint32_t> packed((size_t)packed_words_per_row(bits, 5), 0xffffffffu);
    pack_row(bits, idx.data(), 5, packed.data());
    std::vector<uint8_t> all((size_t)(packed.size() * 32 / bits) + 32, 0);
    // Unpacking the whole padded block gives the 5 indices, then zeros.
    const int64_t padded = bits == 3 ? 32 : (int64_t)packed.size() * (32 / bits);
    unpack_row(bits, packed.data(), padded, all.data());
    for (int64_t c = 0; c < padded; ++c) EXPECT_EQ(all[(size_t)c], c < 5 ? idx[0] : 0) << bits << " bits, column " << c;
  }
}

TEST(Packing, ThreeBitLayoutIsTheDocumentedOne) {
  // Index j of a 32-block at bits 3j..3j+2 of the block's 96-bit little-endian stream.
  std::vector<uint8_t> idx(32, 0);
  idx[0] = 5;   // bits 0..2
  idx[10] = 7;  // bits 30..32: straddles words 0 and 1
  idx[21] = 6;  // bits 63..65: 0b110, bit 63 = 0, bits 64, 65 = 1
  idx[31] = 3;  // bits 93..95
  uint32_t w[3];
  pack_row(3, idx.data(), 32, w);
  EXPECT_EQ(w[0], 0x5u | (3u << 30));
  EXPECT_EQ(w[1], 0x1u);
  EXPECT_EQ(w[2], 0x3u | (3u << 29));
  // 4-bit and 2-bit: index c at bits b*(c mod 32/b) of word c / (32/b).
  std::vector<uint8_t> i4 = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  uint32_t p4[2];
  pack_row(4, i4.data(), 9, p4);
  EXPECT_EQ(p4[0], 0x87654321u);
  EXPECT_EQ(p4[1], 0x9u);
}

// ---------------- LUT (SqueezeLLM) ----------------

TEST(Lut, DequantRowsEqualsUnpackPlusLutOnEveryIsa) {
  // 8-bit LUTs have no SIMD kernel (256 entries fit no register table): every ISA must route them to the
  // scalar one.
  for (int bits : {2, 3, 4, 8})
    for (auto [rows, cols] : kShapes) {
      RandomLut L(bits, rows, cols, (uint32_t)(rows * 31 + cols + bits));
      const auto want = L.dense(nullptr);
      for (Isa isa : tested_isas()) {
        IsaScope pin(isa);
        std::vector<float> got((size_t)(rows * cols), -1.f);
        lut_dequant_rows(L.m, 0, rows, got.data());
        EXPECT_EQ(got, want) << label(isa, "bits " + std::to_string(bits)) << " " << rows << "x" << cols;
        if (rows >= 3) {  // a sub-range of rows
          std::vector<float> part((size_t)((rows - 2) * cols));
          lut_dequant_rows(L.m, 1, rows - 1, part.data());
          EXPECT_TRUE(std::equal(part.begin(), part.end(), want.begin() + cols)) << label(isa, "sub-range");
        }
      }
    }
}

TEST(Lut, CsrAddRowsAddsEachEntryOnce) {
  RandomCsr S(9, 40, 3);
  std::vector<float> out((size_t)(9 * 40), 1.0f);
  csr_add_rows(S.m, 2, 7, out.data() + 2 * 40);
  std::vector<float> want((size_t)(9 * 40), 1.0f);
  for (int64_t r = 2; r < 7; ++r)
    for (int32_t i = S.row_ptr[(size_t)r]; i < S.row_ptr[(size_t)r + 1]; ++i)
      want[(size_t)(r * 40 + S.col[(size_t)i])] += fp16_to_f32(S.val[(size_t)i]);
  EXPECT_EQ(out, want);
}

TEST(Lut, GemvEveryIsaMatchesReferenceWithAndWithoutSparse) {
  for (int bits : {2, 3, 4, 8})
    for (auto [rows, cols] : kShapes) {
      RandomLut L(bits, rows, cols, (uint32_t)(rows * 7 + cols));
      RandomCsr S(rows, cols, (uint32_t)(rows + cols));
      const auto x = random_floats((size_t)cols, 4);
      for (const CsrMatrix* s : {(const CsrMatrix*)nullptr, (const CsrMatrix*)&S.m}) {
        const auto scale = abs_products(L.dense(s), rows, cols, x, 1);
        std::vector<float> want((size_t)rows);
        lut_gemv_ref(L.m, s, x.data(), want.data());
        for (Isa isa : tested_isas()) {
          IsaScope pin(isa);
          std::vector<float> got((size_t)rows, NAN);
          lut_gemv(L.m, s, x.data(), got.data());
          expect_close(got, want, scale,
                       label(isa, "lut_gemv bits " + std::to_string(bits) + (s ? " +csr " : " ") + std::to_string(rows) +
                                      "x" + std::to_string(cols)));
        }
      }
    }
}

TEST(Lut, GemmEveryIsaAndBatchSizeMatchesPerTokenReference) {
  // Each n through both batched paths: the multi-token row kernels (1-4 tokens per pass) and dequantized
  // tiles for sgemm.
  // 3000 columns cross the AVX-512 kernels' column chunks (x of 4 tokens kept in L1).
  for (int bits : {3, 4, 2, 8})
    for (auto [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{7, 33}, {40, 100}, {130, 1031}, {1, 64}, {9, 3000}, {6, 3008}}) {
      RandomLut L(bits, rows, cols, (uint32_t)(bits + rows + cols));
      RandomCsr S(rows, cols, 11);
      const auto W = L.dense(&S.m);
      for (int64_t n : {1, 2, 3, 4, 5, 7, 8, 9, 17}) {
        const auto X = random_floats((size_t)(n * cols), (uint32_t)n);
        const auto scale = abs_products(W, rows, cols, X, n);
        std::vector<float> want((size_t)(n * rows));
        for (int64_t t = 0; t < n; ++t) lut_gemv_ref(L.m, &S.m, X.data() + t * cols, want.data() + t * rows);
        // The kernels copy unaligned activations; a 64-byte aligned X takes the direct path.
        std::vector<float> Xbuf((size_t)(n * cols) + 16);
        float* Xa = Xbuf.data() + (16 - reinterpret_cast<uintptr_t>(Xbuf.data()) / 4 % 16) % 16;
        std::copy(X.begin(), X.end(), Xa);
        for (Isa isa : tested_isas())
          for (const BatchedPath& path : kBatchedPaths) {
            IsaScope pin(isa);
            BatchedPathScope use(path);
            for (const float* Xp : {X.data(), (const float*)Xa}) {
              std::vector<float> got((size_t)(n * rows), NAN);
              lut_gemm(L.m, &S.m, Xp, n, got.data());
              expect_close(got, want, scale,
                           label(isa, "lut_gemm bits " + std::to_string(bits) + " " + std::to_string(rows) + "x" +
                                          std::to_string(cols) + " n " + std::to_string(n) + (Xp == Xa ? " aligned" : "") +
                                          " " + path.name));
            }
          }
      }
    }
}

// ---------------- uniform groups ----------------

namespace {
struct RandomGroup {
  std::vector<uint8_t> codes;
  std::vector<uint32_t> packed;
  std::vector<uint16_t> scales, zeros;
  std::vector<int32_t> gidx;
  GroupMatrix m;
  RandomGroup(int bits, int64_t rows, int64_t cols, int64_t group, bool act_order, uint32_t seed) {
    codes = random_codes((size_t)(rows * cols), bits, seed);
    packed = pack_matrix(bits, codes, rows, cols);
    m = GroupMatrix{bits, rows, cols, group, packed.data(), nullptr, nullptr, nullptr};
    const int64_t ng = m.n_groups();
    scales = to_half(random_floats((size_t)(rows * ng), seed + 1, 0.05f));
    std::mt19937 g(seed + 2);
    for (int64_t i = 0; i < rows * ng; ++i) zeros.push_back(f32_to_fp16((float)(g() % (1u << bits))));
    m.scales = scales.data();
    m.zeros = zeros.data();
    if (act_order) {  // GPTQ act-order: groups of a permutation of the columns
      std::vector<int32_t> perm((size_t)cols);
      std::iota(perm.begin(), perm.end(), 0);
      std::shuffle(perm.begin(), perm.end(), g);
      gidx.resize((size_t)cols);
      for (int64_t i = 0; i < cols; ++i) gidx[(size_t)perm[(size_t)i]] = (int32_t)(i / group);
      m.g_idx = gidx.data();
    }
  }
  // The documented formula, element by element.
  std::vector<float> dense() const {
    const int64_t ng = m.n_groups();
    std::vector<float> w((size_t)(m.rows * m.cols));
    for (int64_t r = 0; r < m.rows; ++r)
      for (int64_t c = 0; c < m.cols; ++c) {
        const int64_t g = m.g_idx ? m.g_idx[c] : c / m.group;
        w[(size_t)(r * m.cols + c)] =
            ((float)codes[(size_t)(r * m.cols + c)] - fp16_to_f32(zeros[(size_t)(r * ng + g)])) * fp16_to_f32(scales[(size_t)(r * ng + g)]);
      }
    return w;
  }
};

struct GroupCase {
  int bits;
  int64_t rows, cols, group;
  bool act_order;
};
// Aligned groups (multiples of 32), per-channel (group = cols), unaligned groups (gathered scales),
// act-order g_idx, ragged columns. 8-bit weights are computed rather than looked up: the same shapes, plus
// row counts around the 4-row single-token pass and columns past the multi-token column chunks.
const std::vector<GroupCase> kGroupCases = {
    {4, 6, 300, 128, false}, {3, 6, 300, 128, false}, {2, 6, 300, 128, false}, {4, 5, 256, 32, false},
    {3, 9, 77, 77, false},   {4, 1, 33, 33, false},   {4, 7, 100, 48, false},  {3, 7, 100, 20, false},
    {4, 8, 256, 64, true},   {3, 5, 130, 32, true},   {2, 3, 70, 16, true},    {4, 300, 1030, 128, false},
    {3, 260, 1024, 128, true}, {4, 1, 1, 128, false}, {4, 5, 3200, 160, false}, {3, 3, 3000, 128, false},
    {8, 6, 300, 128, false}, {8, 5, 256, 32, false},  {8, 9, 77, 77, false},   {8, 1, 33, 33, false},
    {8, 7, 100, 48, false},  {8, 7, 100, 20, false},  {8, 8, 256, 64, true},   {8, 5, 130, 32, true},
    {8, 300, 1030, 128, false}, {8, 260, 1024, 128, true}, {8, 1, 1, 128, false}, {8, 5, 3200, 160, false},
    {8, 11, 3000, 128, false}, {8, 4, 1000, 1000, false}, {8, 3, 7, 32, false}};
}  // namespace

TEST(Group, DequantEqualsFormulaOnEveryIsa) {
  for (const auto& gc : kGroupCases) {
    RandomGroup G(gc.bits, gc.rows, gc.cols, gc.group, gc.act_order, (uint32_t)(gc.cols + gc.group));
    const auto want = G.dense();
    for (Isa isa : tested_isas()) {
      IsaScope pin(isa);
      std::vector<float> got(want.size(), -1.f);
      group_dequant_rows(G.m, 0, gc.rows, got.data());
      const std::string what = "group bits " + std::to_string(gc.bits) + " group " + std::to_string(gc.group) + " cols " +
                               std::to_string(gc.cols) + (gc.act_order ? " g_idx" : "");
      EXPECT_EQ(got, want) << label(isa, what);
      if (gc.rows >= 3) {  // a sub-range of rows
        std::vector<float> part((size_t)((gc.rows - 2) * gc.cols));
        group_dequant_rows(G.m, 1, gc.rows - 1, part.data());
        EXPECT_TRUE(std::equal(part.begin(), part.end(), want.begin() + gc.cols)) << label(isa, what + " sub-range");
      }
    }
  }
}

TEST(Group, GemvAndGemmEveryIsaMatchReference) {
  for (const auto& gc : kGroupCases) {
    RandomGroup G(gc.bits, gc.rows, gc.cols, gc.group, gc.act_order, (uint32_t)(gc.rows + gc.group));
    const auto W = G.dense();
    for (int64_t n : {1, 3, 6, 12}) {
      const auto X = random_floats((size_t)(n * gc.cols), (uint32_t)(n + 5));
      const auto scale = abs_products(W, gc.rows, gc.cols, X, n);
      std::vector<float> want((size_t)(n * gc.rows));
      for (int64_t t = 0; t < n; ++t) group_gemv_ref(G.m, X.data() + t * gc.cols, want.data() + t * gc.rows);
      const std::string what = "group bits " + std::to_string(gc.bits) + " group " + std::to_string(gc.group) + " " +
                               std::to_string(gc.rows) + "x" + std::to_string(gc.cols) + (gc.act_order ? " g_idx" : "") +
                               " n " + std::to_string(n);
      for (Isa isa : tested_isas())
        for (const BatchedPath& path : kBatchedPaths) {
          IsaScope pin(isa);
          BatchedPathScope use(path);
          std::vector<float> got((size_t)(n * gc.rows), NAN);
          if (n == 1) group_gemv(G.m, X.data(), got.data());
          else group_gemm(G.m, X.data(), n, got.data());
          expect_close(got, want, scale, label(isa, what + " " + path.name));
        }
    }
  }
}

// ---------------- NF4 ----------------

TEST(Nf4, CodebookIsQLoRAs) {
  const double want[16] = {-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
                           -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
                           0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                           0.7229568362236023, 1.0};
  for (int i = 0; i < 16; ++i) EXPECT_EQ(kNf4Codebook[i], (float)want[i]);
}

TEST(Nf4, DequantGemvGemmEveryIsaMatchReference) {
  struct Case {
    int64_t rows, cols, block;
  };
  // Aligned blocks (block | cols, block % 32 == 0) and blocks that straddle rows or steps: cols % block != 0,
  // block % 32 != 0 (one boundary per 16 lanes at most), blocks under 16 and under 8 (several per vector).
  for (Case cs : std::vector<Case>{{5, 256, 64}, {3, 64, 64}, {7, 100, 64}, {4, 96, 32}, {6, 50, 16}, {1, 17, 64},
                                   {300, 1024, 64}, {130, 1000, 64}, {5, 3008, 64}, {5, 96, 48}, {7, 100, 48},
                                   {9, 33, 12}, {4, 70, 5}, {3, 19, 1}, {6, 40, 100}, {70, 3000, 100}, {257, 1031, 64}}) {
    const int64_t rows = cs.rows, cols = cs.cols;
    const auto codes = random_codes((size_t)(rows * cols), 4, (uint32_t)cols);
    const auto packed = pack_matrix(4, codes, rows, cols);
    std::vector<float> absmax((size_t)((rows * cols + cs.block - 1) / cs.block));
    std::mt19937 g(7);
    for (auto& a : absmax) a = 0.01f + (float)(g() % 1000) * 1e-3f;
    Nf4Matrix m{rows, cols, cs.block, packed.data(), absmax.data()};
    std::vector<float> W((size_t)(rows * cols));
    for (int64_t i = 0; i < rows * cols; ++i) W[(size_t)i] = kNf4Codebook[codes[(size_t)i]] * absmax[(size_t)(i / cs.block)];
    const std::string what = "nf4 " + std::to_string(rows) + "x" + std::to_string(cols) + " block " + std::to_string(cs.block);
    for (Isa isa : tested_isas()) {
      IsaScope pin(isa);
      std::vector<float> got(W.size(), -1.f);
      nf4_dequant_rows(m, 0, rows, got.data());
      EXPECT_EQ(got, W) << label(isa, what);
      if (rows >= 3) {  // a sub-range of rows (blocks then start inside the first row)
        std::vector<float> part((size_t)((rows - 2) * cols));
        nf4_dequant_rows(m, 1, rows - 1, part.data());
        EXPECT_TRUE(std::equal(part.begin(), part.end(), W.begin() + cols)) << label(isa, what + " sub-range");
      }
    }
    for (int64_t n : {1, 2, 5, 10}) {
      const auto X = random_floats((size_t)(n * cols), (uint32_t)(n * 3));
      const auto scale = abs_products(W, rows, cols, X, n);
      std::vector<float> want((size_t)(n * rows));
      for (int64_t t = 0; t < n; ++t) nf4_gemv_ref(m, X.data() + t * cols, want.data() + t * rows);
      for (Isa isa : tested_isas())
        for (const BatchedPath& path : kBatchedPaths) {
          IsaScope pin(isa);
          BatchedPathScope use(path);
          std::vector<float> got((size_t)(n * rows), NAN);
          if (n == 1) nf4_gemv(m, X.data(), got.data());
          else nf4_gemm(m, X.data(), n, got.data());
          expect_close(got, want, scale, label(isa, what + " n " + std::to_string(n) + " " + path.name));
        }
    }
  }
}

// ---------------- W8A8 ----------------

TEST(W8A8, QuantizedActivationsIdenticalOnEveryIsa) {
  for (int64_t cols : {1, 7, 16, 77, 200, 1031}) {
    const int64_t n = 3;
    auto X = random_floats((size_t)(n * cols), (uint32_t)cols);
    X[0] = 1e6f;  // far beyond the static scale's range: clamps to 127
    for (ActQuant mode : {ActQuant::PerToken, ActQuant::PerTensorDynamic, ActQuant::PerTensorStatic}) {
      std::vector<int8_t> want((size_t)(n * cols));
      std::vector<float> want_s((size_t)n);
      {
        IsaScope pin(Isa::Scalar);
        quantize_activations(X.data(), n, cols, mode, 0.01f, want.data(), want_s.data());
      }
      // The scalar path is the formula of formats.h.
      for (int64_t t = 0; t < n; ++t)
        for (int64_t c = 0; c < cols; ++c) {
          const float v = std::clamp(std::nearbyint(X[(size_t)(t * cols + c)] / want_s[(size_t)t] * 1.0f), -127.f, 127.f);
          EXPECT_LE(std::fabs(v - want[(size_t)(t * cols + c)]), 1.f);  // x/s vs x*(1/s) may differ by one step
        }
      for (Isa isa : tested_isas()) {
        IsaScope pin(isa);
        std::vector<int8_t> got((size_t)(n * cols));
        std::vector<float> got_s((size_t)n);
        quantize_activations(X.data(), n, cols, mode, 0.01f, got.data(), got_s.data());
        EXPECT_EQ(got, want) << label(isa, "cols " + std::to_string(cols));
        EXPECT_EQ(got_s, want_s) << label(isa, "scales");
      }
    }
  }
}

TEST(W8A8, EveryIsaEqualsExactIntegerArithmetic) {
  for (auto [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{13, 77}, {1, 1}, {4, 64}, {9, 130}, {300, 1000}, {64, 4096}})
    for (int64_t n : {1, 3, 5, 9}) {
      std::mt19937 g((uint32_t)(rows + cols + n));
      std::vector<int8_t> q((size_t)(rows * cols));
      for (auto& v : q) v = (int8_t)((int)(g() % 256) - 128);  // includes -128
      std::vector<float> ws((size_t)rows);
      for (auto& s : ws) s = 0.01f + (float)(g() % 100) * 1e-3f;
      Int8Matrix m{rows, cols, q.data(), ws.data()};
      const auto X = random_floats((size_t)(n * cols), 12);
      for (ActQuant mode : {ActQuant::PerToken, ActQuant::PerTensorDynamic, ActQuant::PerTensorStatic}) {
        std::vector<int8_t> xq((size_t)(n * cols));
        std::vector<float> xs((size_t)n);
        quantize_activations(X.data(), n, cols, mode, 0.02f, xq.data(), xs.data());
        // Exact integer dot products (int64), scaled once as the kernels do.
        std::vector<float> want((size_t)(n * rows));
        for (int64_t t = 0; t < n; ++t)
          for (int64_t r = 0; r < rows; ++r) {
            int64_t acc = 0;
            for (int64_t c = 0; c < cols; ++c) acc += (int64_t)xq[(size_t)(t * cols + c)] * q[(size_t)(r * cols + c)];
            want[(size_t)(t * rows + r)] = (float)acc * xs[(size_t)t] * ws[(size_t)r];
          }
        std::vector<float> ref((size_t)(n * rows));
        w8a8_gemm_ref(m, xq.data(), xs.data(), n, ref.data());
        EXPECT_EQ(ref, want);
        for (Isa isa : tested_isas()) {
          IsaScope pin(isa);
          std::vector<float> got((size_t)(n * rows), NAN), got_q((size_t)(n * rows), NAN);
          w8a8_gemm(m, X.data(), n, mode, 0.02f, got.data());
          w8a8_gemm_q(m, xq.data(), xs.data(), n, got_q.data());
          EXPECT_EQ(got, want) << label(isa, std::to_string(rows) + "x" + std::to_string(cols) + " n " + std::to_string(n));
          EXPECT_EQ(got_q, want) << label(isa, "w8a8_gemm_q");
        }
      }
    }
}

// ---------------- dense ----------------

TEST(Dense, F16AndBf16GemvEveryIsaMatchReference) {
  for (auto [rows, cols] : kShapes) {
    const auto wf = random_floats((size_t)(rows * cols), 5);
    const auto x = random_floats((size_t)cols, 6);
    std::vector<uint16_t> wh = to_half(wf), wb(wf.size());
    for (size_t i = 0; i < wf.size(); ++i) wb[i] = f32_to_bf16(wf[i]);
    for (bool bf : {false, true}) {
      const auto& w = bf ? wb : wh;
      std::vector<float> W(w.size());
      for (size_t i = 0; i < w.size(); ++i) W[i] = bf ? bf16_to_f32(w[i]) : fp16_to_f32(w[i]);
      const auto scale = abs_products(W, rows, cols, x, 1);
      std::vector<float> want((size_t)rows);
      (bf ? gemv_bf16_ref : gemv_f16_ref)(w.data(), rows, cols, x.data(), want.data());
      for (Isa isa : tested_isas()) {
        IsaScope pin(isa);
        std::vector<float> got((size_t)rows, NAN);
        (bf ? gemv_bf16 : gemv_f16)(w.data(), rows, cols, x.data(), got.data());
        expect_close(got, want, scale, label(isa, std::string(bf ? "bf16 " : "f16 ") + std::to_string(rows) + "x" + std::to_string(cols)));
        std::vector<float> conv(w.size(), -1.f);
        (bf ? convert_bf16_to_f32 : convert_f16_to_f32)(w.data(), conv.data(), (int64_t)w.size());
        EXPECT_EQ(conv, W) << label(isa, "convert");
      }
    }
  }
}

// The multi-token fp16 / bf16 row kernels (where an ISA has them) equal the per-token reference GEMV up to
// summation order, for token counts on both sides of the 4-token blocks and columns across the x chunks.
TEST(Dense, F16AndBf16MultiTokenRowKernelsMatchReference) {
  std::vector<std::pair<int64_t, int64_t>> shapes = kShapes;
  shapes.push_back({9, 3000});  // several column chunks per token block
  for (auto [rows, cols] : shapes) {
    const auto wf = random_floats((size_t)(rows * cols), 15);
    std::vector<uint16_t> wh = to_half(wf), wb(wf.size());
    for (size_t i = 0; i < wf.size(); ++i) wb[i] = f32_to_bf16(wf[i]);
    for (int64_t n : {2, 4, 5, 11}) {
      const auto X = random_floats((size_t)(n * cols), 16);
      for (bool bf : {false, true}) {
        const auto& w = bf ? wb : wh;
        std::vector<float> W(w.size());
        for (size_t i = 0; i < w.size(); ++i) W[i] = bf ? bf16_to_f32(w[i]) : fp16_to_f32(w[i]);
        const auto scale = abs_products(W, rows, cols, X, n);
        std::vector<float> want((size_t)(n * rows));
        for (int64_t t = 0; t < n; ++t)
          (bf ? gemv_bf16_ref : gemv_f16_ref)(w.data(), rows, cols, X.data() + t * cols, want.data() + t * rows);
        for (Isa isa : tested_isas()) {
          IsaScope pin(isa);
          std::vector<float> got((size_t)(n * rows), NAN);
          const bool ran = (bf ? gemm_bf16_rows : gemm_f16_rows)(w.data(), rows, cols, X.data(), n, got.data());
          if (isa == Isa::Avx512) {
            EXPECT_TRUE(ran) << "AVX-512 has the multi-token kernel";
          }
          if (!ran) continue;
          expect_close(got, want, scale,
                       label(isa, std::string(bf ? "bf16 " : "f16 ") + std::to_string(rows) + "x" + std::to_string(cols) +
                                      " n=" + std::to_string(n)));
        }
      }
    }
  }
}

TEST(Dense, ConversionsAreExactForSpecialValues) {
  std::vector<uint16_t> h = {0x0000, 0x8000, 0x0001, 0x03ff, 0x0400, 0x3c00, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x3555,
                             0x1234, 0x8001, 0xc000, 0x4000, 0x5bff, 0x0200};
  std::vector<float> want(h.size());
  for (size_t i = 0; i < h.size(); ++i) want[i] = fp16_to_f32(h[i]);
  for (Isa isa : tested_isas()) {
    IsaScope pin(isa);
    std::vector<float> got(h.size());
    convert_f16_to_f32(h.data(), got.data(), (int64_t)h.size());
    for (size_t i = 0; i < h.size(); ++i) EXPECT_EQ(f32_to_bits(got[i]), f32_to_bits(want[i])) << label(isa, "f16 ") << h[i];
    convert_bf16_to_f32(h.data(), got.data(), (int64_t)h.size());
    for (size_t i = 0; i < h.size(); ++i) EXPECT_EQ(f32_to_bits(got[i]), (uint32_t)h[i] << 16) << label(isa, "bf16 ") << h[i];
  }
}

TEST(Dense, GemmF32MatchesNaiveProduct) {
  const int64_t rows = 37, cols = 53;
  const auto W = random_floats((size_t)(rows * cols), 1);
  for (int64_t n : {1, 4}) {
    const auto X = random_floats((size_t)(n * cols), 2);
    std::vector<float> Y((size_t)(n * rows));
    gemm_f32(W.data(), rows, cols, X.data(), n, Y.data());
    const auto scale = abs_products(W, rows, cols, X, n);
    std::vector<float> want((size_t)(n * rows));
    for (int64_t t = 0; t < n; ++t)
      for (int64_t r = 0; r < rows; ++r) {
        double acc = 0;
        for (int64_t c = 0; c < cols; ++c) acc += (double)W[(size_t)(r * cols + c)] * X[(size_t)(t * cols + c)];
        want[(size_t)(t * rows + r)] = (float)acc;
      }
    expect_close(Y, want, scale, "gemm_f32");
  }
}

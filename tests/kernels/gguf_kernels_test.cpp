// The GGUF block types' SIMD kernels (kernels/cpu/gguf_kernels-inl.h) against the rows' scalar references
// (gguf_formats.cpp: the gguf_blocks.h decoder, then fp32 dot products), on every instruction set this CPU
// runs. Dequantization must equal the reference bit for bit; products must match within the tolerance of
// kernel_test_support.h (1e-5 of sum |w x| per output). Blocks are random bytes with random finite fp16
// scale fields over the whole fp16 range (zeros, subnormals, huge, negative), so every code, sub-block
// scale and min appears; row counts are ragged (around the kernels' row blocks) and every n = 1..40
// goes through both batched paths (row kernels, and dequantized tiles + sgemm).
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/half.h"
#include "kernels/cpu/gguf_blocks.h"
#include "kernels/format.h"
#include "kernel_test_support.h"

using namespace sqz;
using namespace sqz::kernels;
using namespace sqz::kernels::test;

namespace {

// The types a typical GGUF file holds: each must have kernels on every SIMD instruction set.
const char* const kSimdTypes[] = {"q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "iq4_nl", "iq4_xs"};

// Byte offsets of the fp16 scale fields in each block (ggml's block layouts, as in
// reference/gguf_blocks_ref.py).
const std::map<std::string, std::vector<int>> kHalfFields = {
    {"q4_0", {0}},      {"q4_1", {0, 2}},  {"q5_0", {0}},    {"q5_1", {0, 2}}, {"q8_0", {0}},    {"q2_k", {80, 82}},
    {"q3_k", {108}},    {"q4_k", {0, 2}},  {"q5_k", {0, 2}}, {"q6_k", {208}},  {"iq4_nl", {0}},  {"iq4_xs", {0}},
};

// A finite fp16 bit pattern: a quarter from the edges of the range, the rest uniform over all patterns
// with infinities and NaNs moved to finite values.
uint16_t random_finite_half(std::mt19937& g) {
  static const uint16_t edges[] = {0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x83FF, 0x0400,
                                   0x8400, 0x3C00, 0xBC00, 0x7BFF, 0xFBFF, 0x1000, 0x5800};
  if (g() % 4 == 0) return edges[g() % (sizeof(edges) / sizeof(edges[0]))];
  uint16_t h = (uint16_t)g();
  if ((h & 0x7C00) == 0x7C00) h &= 0xBFFF;
  return h;
}

struct RandomGguf {
  const Format* row;
  const gguf::BlockType* type;
  int64_t rows, cols;
  std::vector<uint8_t> data;
  PackedMatrix m;
  RandomGguf(const Format& f, int64_t rows_, int64_t blocks_per_row, uint32_t seed) : row(&f), rows(rows_) {
    type = gguf::find_block_type(f.ggml_type);
    cols = blocks_per_row * type->block_weights;
    const int64_t nb = rows * blocks_per_row;
    data.resize((size_t)(nb * type->block_bytes));
    std::mt19937 g(seed);
    for (auto& b : data) b = (uint8_t)g();
    for (int64_t i = 0; i < nb; ++i)
      for (int off : kHalfFields.at(f.name)) {
        const uint16_t h = random_finite_half(g);
        std::memcpy(data.data() + i * type->block_bytes + off, &h, 2);
      }
    m.format = &f;
    m.rows = rows, m.cols = cols;
    m.t[0] = data.data();
    m.numel[0] = (int64_t)data.size();
  }
  std::vector<float> dense() const {
    std::vector<float> w((size_t)(rows * cols));
    packed_dequant_ref(m, 0, rows, w.data());
    return w;
  }
};

std::vector<const Format*> simd_gguf_rows() {
  std::vector<const Format*> rows;
  for (const Format& f : format_table())
    if (f.ggml_type != kNoGgmlType && (f.isa[(size_t)Isa::Avx2].rows || f.isa[(size_t)Isa::Avx512].rows)) rows.push_back(&f);
  return rows;
}

std::vector<float> random_tokens(int64_t n, int64_t cols, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> x((size_t)(n * cols));
  for (auto& v : x) v = d(g);
  return x;
}

std::string what(const RandomGguf& G) { return std::string(G.row->name) + " " + std::to_string(G.rows) + "x" + std::to_string(G.cols); }

}  // namespace

TEST(GgufKernels, TypicalTypesRunTheirOwnKernelsOnEverySimdIsa) {
  for (const char* name : kSimdTypes) {
    const Format& f = format(name);
    ASSERT_TRUE(kHalfFields.count(name)) << name;
    RandomGguf G(f, 1, 1, 1);
    for (Isa isa : tested_isas()) {
      if (isa == Isa::Scalar) continue;
      const FormatKernels& k = f.isa[(size_t)isa];
      EXPECT_TRUE(k.rows && k.dequant && k.decode) << name << " has no " << isa_name(isa) << " kernels";
      EXPECT_EQ(&kernels_for(G.m, isa), &k) << name << " on " << isa_name(isa);
    }
  }
  EXPECT_EQ(simd_gguf_rows().size(), std::size(kSimdTypes)) << "a GGUF row with SIMD kernels is missing from kSimdTypes";
}

TEST(GgufKernels, DequantEqualsReferenceBitForBitOnEveryIsa) {
  for (const Format* f : simd_gguf_rows())
    for (auto [rows, bpr] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {3, 2}, {7, 3}, {17, 1}, {33, 2}, {9, 16}}) {
      const RandomGguf G(*f, rows, bpr, (uint32_t)(rows * 131 + bpr + f->ggml_type));
      const auto want = G.dense();
      for (Isa isa : tested_isas()) {
        IsaScope pin(isa);
        std::vector<float> got(want.size(), -1.f);
        packed_dequant(G.m, nullptr, 0, rows, got.data());
        EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * 4), 0) << label(isa, what(G));
        if (rows >= 3) {  // a sub-range of rows
          std::vector<float> part((size_t)((rows - 2) * G.cols));
          packed_dequant(G.m, nullptr, 1, rows - 1, part.data());
          EXPECT_EQ(std::memcmp(part.data(), want.data() + G.cols, part.size() * 4), 0) << label(isa, what(G) + " sub-range");
        }
      }
    }
}

TEST(GgufKernels, RowsMatchReferenceForOneTo40TokensOnEveryIsaAndPath) {
  // Rows around the row blocks (8, 4 or 2 rows per single-token pass, 2 per multi-token block) and rows of
  // one to 56 blocks; 1792 columns cross the kernels' x column chunks (24 KiB of x per token block).
  for (const Format* f : simd_gguf_rows()) {
    const int64_t bw = gguf::find_block_type(f->ggml_type)->block_weights;
    for (auto [rows, bpr] : std::vector<std::pair<int64_t, int64_t>>{{11, bw == 32 ? 7 : 1}, {5, bw == 32 ? 56 : 7}}) {
      const RandomGguf G(*f, rows, bpr, (uint32_t)(rows + 7 * bpr + f->ggml_type));
      const auto W = G.dense();
      for (int64_t n = 1; n <= 40; ++n) {
        const auto X = random_tokens(n, G.cols, (uint32_t)(n + f->ggml_type));
        const auto scale = abs_products(W, rows, G.cols, X, n);
        std::vector<float> want((size_t)(n * rows));
        packed_gemm_ref(G.m, nullptr, X.data(), n, want.data());
        for (Isa isa : tested_isas())
          for (const BatchedPath& path : kBatchedPaths) {
            IsaScope pin(isa);
            BatchedPathScope use(path);
            std::vector<float> got((size_t)(n * rows), NAN);
            packed_gemm(G.m, nullptr, X.data(), n, got.data());
            expect_close(got, want, scale, label(isa, what(G) + " n " + std::to_string(n) + " " + path.name));
          }
      }
    }
  }
}

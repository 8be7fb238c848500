// Every kernel against its scalar reference, for each instruction set this CPU supports.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/half.h"
#include "kernels/cpu/dense.h"
#include "kernels/cpu/formats.h"
#include "kernels/cpu/isa.h"

using namespace sqz;
using namespace sqz::kernels;

namespace {

struct IsaGuard {
  Isa saved = active_isa();
  ~IsaGuard() { set_isa(saved); }
};

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

// Different ISAs sum the same products in a different order; in fp32 that changes a dot product by at
// most ~n * 2^-24 * sum|w x| (n up to a few hundred here), so 1e-5 of sum|w x| is a bound any real
// indexing or unpacking mistake exceeds by orders of magnitude.
void expect_close(const std::vector<float>& got, const std::vector<float>& want, const std::vector<float>& scale,
                  const char* what) {
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5 * scale[i] + 1e-30) << what << " row " << i;
}

const std::vector<std::pair<int64_t, int64_t>> kShapes = {{1, 32}, {7, 33}, {5, 64}, {16, 100}, {3, 257}, {64, 1024}, {9, 31}};

}  // namespace

TEST(Packing, RoundTripsEveryWidthAndOddLengths) {
  for (int bits : {2, 3, 4, 8})
    for (int64_t cols : {1, 5, 15, 16, 17, 31, 32, 33, 63, 100, 257}) {
      auto idx = random_codes((size_t)cols, bits, (uint32_t)(bits * 1000 + cols));
      std::vector<uint32_t> packed((size_t)packed_words_per_row(bits, cols), 0xdeadbeef);
      pack_row(bits, idx.data(), cols, packed.data());
      std::vector<uint8_t> back((size_t)cols);
      unpack_row(bits, packed.data(), cols, back.data());
      EXPECT_EQ(back, idx) << bits << " bits, " << cols << " columns";
    }
  // No wasted bits: 3-bit uses exactly 3 words per 32 indices.
  EXPECT_EQ(packed_words_per_row(3, 4096), 384);
  EXPECT_EQ(packed_words_per_row(4, 4096), 512);
  EXPECT_EQ(packed_words_per_row(2, 4096), 256);
}

TEST(LutGemv, EveryIsaMatchesReferenceWithSparse) {
  IsaGuard guard;
  for (int bits : {2, 3, 4})
    for (auto [rows, cols] : kShapes) {
      const int64_t words = packed_words_per_row(bits, cols);
      std::vector<uint32_t> packed((size_t)(rows * words));
      std::vector<uint8_t> all = random_codes((size_t)(rows * cols), bits, (uint32_t)(rows * 7 + cols));
      for (int64_t r = 0; r < rows; ++r) pack_row(bits, all.data() + r * cols, cols, packed.data() + r * words);
      const auto lut = to_half(random_floats((size_t)(rows << bits), 3));
      const auto x = random_floats((size_t)cols, 4);
      // A sparse part with a few entries in some rows.
      std::vector<int32_t> row_ptr(1, 0), col;
      std::vector<uint16_t> val;
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = r % 3; c < cols; c += 11) {
          col.push_back((int32_t)c);
          val.push_back(f32_to_fp16(0.5f + (float)c));
        }
        row_ptr.push_back((int32_t)col.size());
      }
      LutMatrix m{bits, rows, cols, packed.data(), lut.data()};
      CsrMatrix s{rows, cols, row_ptr.data(), col.data(), val.data()};
      std::vector<float> want((size_t)rows), scale((size_t)rows, 0.f);
      lut_gemv_ref(m, &s, x.data(), want.data());
      std::vector<float> dense((size_t)(rows * cols));
      lut_dequant_rows(m, 0, rows, dense.data());
      csr_add_rows(s, 0, rows, dense.data());
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) scale[(size_t)r] += std::fabs(dense[(size_t)(r * cols + c)] * x[(size_t)c]);
      for (Isa isa : supported_isas()) {
        set_isa(isa);
        std::vector<float> got((size_t)rows);
        lut_gemv(m, &s, x.data(), got.data());
        expect_close(got, want, scale, isa_name(isa));
        // Batched path: each token's row of Y equals the GEMV.
        std::vector<float> X((size_t)(2 * cols)), Y((size_t)(2 * rows));
        std::copy(x.begin(), x.end(), X.begin());
        std::copy(x.begin(), x.end(), X.begin() + cols);
        lut_gemm(m, &s, X.data(), 2, Y.data());
        for (int64_t r = 0; r < rows; ++r) {
          EXPECT_NEAR(Y[(size_t)r], want[(size_t)r], 1e-5 * scale[(size_t)r] + 1e-30);
          EXPECT_NEAR(Y[(size_t)(rows + r)], want[(size_t)r], 1e-5 * scale[(size_t)r] + 1e-30);
        }
      }
    }
}

TEST(DenseGemv, F16EveryIsaMatchesReference) {
  IsaGuard guard;
  for (auto [rows, cols] : kShapes) {
    const auto w = to_half(random_floats((size_t)(rows * cols), 5));
    const auto x = random_floats((size_t)cols, 6);
    std::vector<float> want((size_t)rows), scale((size_t)rows, 0.f);
    gemv_f16_ref(w.data(), rows, cols, x.data(), want.data());
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) scale[(size_t)r] += std::fabs(fp16_to_f32(w[(size_t)(r * cols + c)]) * x[(size_t)c]);
    for (Isa isa : supported_isas()) {
      set_isa(isa);
      std::vector<float> got((size_t)rows);
      gemv_f16(w.data(), rows, cols, x.data(), got.data());
      expect_close(got, want, scale, isa_name(isa));
    }
  }
}

TEST(GroupGemv, MatchesDequantizedProduct) {
  for (int bits : {2, 3, 4}) {
    const int64_t rows = 6, cols = 300, group = 128;
    const int64_t words = packed_words_per_row(bits, cols), ng = (cols + group - 1) / group;
    auto codes = random_codes((size_t)(rows * cols), bits, 9);
    std::vector<uint32_t> packed((size_t)(rows * words));
    for (int64_t r = 0; r < rows; ++r) pack_row(bits, codes.data() + r * cols, cols, packed.data() + r * words);
    auto sc = to_half(random_floats((size_t)(rows * ng), 10, 0.1f));
    std::vector<uint16_t> z((size_t)(rows * ng), f32_to_fp16(2.0f));
    GroupMatrix m{bits, rows, cols, group, packed.data(), sc.data(), z.data(), nullptr};
    const auto x = random_floats((size_t)cols, 11);
    std::vector<float> got((size_t)rows), want((size_t)rows);
    group_gemv(m, x.data(), got.data());
    for (int64_t r = 0; r < rows; ++r) {
      double acc = 0;
      for (int64_t c = 0; c < cols; ++c)
        acc += ((double)codes[(size_t)(r * cols + c)] - 2.0) * fp16_to_f32(sc[(size_t)(r * ng + c / group)]) * x[(size_t)c];
      want[(size_t)r] = (float)acc;
      EXPECT_NEAR(got[(size_t)r], want[(size_t)r], 1e-4);
    }
  }
}

TEST(W8A8, EqualsExactIntegerArithmetic) {
  const int64_t rows = 13, cols = 77, n = 3;
  std::mt19937 g(1);
  std::vector<int8_t> q((size_t)(rows * cols));
  for (auto& v : q) v = (int8_t)((int)(g() % 255) - 127);
  std::vector<float> ws((size_t)rows);
  for (auto& s : ws) s = 0.01f + (float)(g() % 100) * 1e-3f;
  Int8Matrix m{rows, cols, q.data(), ws.data()};
  const auto X = random_floats((size_t)(n * cols), 12);
  for (ActQuant mode : {ActQuant::PerToken, ActQuant::PerTensorDynamic, ActQuant::PerTensorStatic}) {
    std::vector<int8_t> xq((size_t)(n * cols));
    std::vector<float> xs((size_t)n);
    quantize_activations(X.data(), n, cols, mode, 0.02f, xq.data(), xs.data());
    std::vector<float> want((size_t)(n * rows)), got((size_t)(n * rows));
    // Exact integer dot products, scaled once.
    for (int64_t t = 0; t < n; ++t)
      for (int64_t r = 0; r < rows; ++r) {
        int64_t acc = 0;
        for (int64_t c = 0; c < cols; ++c) acc += (int64_t)xq[(size_t)(t * cols + c)] * q[(size_t)(r * cols + c)];
        want[(size_t)(t * rows + r)] = (float)acc * xs[(size_t)t] * ws[(size_t)r];
      }
    w8a8_gemm(m, X.data(), n, mode, 0.02f, got.data());
    EXPECT_EQ(got, want);
  }
}

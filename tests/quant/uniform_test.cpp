#include "quant/algo/uniform.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/half.h"
#include "quant_test_util.h"

namespace sqz::quant {
namespace {

using testing::rand_heavy;
using testing::randn;

// Scalar reference written from the formulas, group by group, without the library's helpers.
struct RefGroup {
  float scale, zero;
  std::vector<uint8_t> q;
};
RefGroup ref_group(const float* w, int64_t n, int bits, double shrink, bool include_zero) {
  const int maxq = (1 << bits) - 1;
  double lo = *std::min_element(w, w + n), hi = *std::max_element(w, w + n);
  if (include_zero) lo = std::min(lo, 0.0), hi = std::max(hi, 0.0);
  RefGroup g;
  if (lo == hi && lo != 0) {
    g.scale = round_fp16(std::fabs((float)lo));
    g.zero = lo > 0 ? 0.0f : 1.0f;
  } else {
    if (lo == hi) lo = -1, hi = 1;
    lo *= shrink, hi *= shrink;
    g.scale = std::max(round_fp16((float)((hi - lo) / maxq)), 0x1.0p-24f);
    g.zero = (float)std::min(std::max(std::nearbyint(-lo / g.scale), 0.0), (double)maxq);
  }
  for (int64_t i = 0; i < n; ++i) {
    double v = std::nearbyint((double)w[i] / g.scale) + g.zero;
    g.q.push_back((uint8_t)std::min(std::max(v, 0.0), (double)maxq));
  }
  return g;
}
double ref_err(const float* w, const RefGroup& g, int64_t n) {
  double e = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = (double)w[i] - (double)(((float)g.q[i] - g.zero) * g.scale);
    e += d * d;
  }
  return e;
}

TEST(Uniform, MatchesScalarReference) {
  const int64_t rows = 37, cols = 300;  // last group of 128 is partial (44 columns)
  std::vector<float> W = rand_heavy(rows * cols, 1, 0.02f);
  for (int bits : {2, 3, 4, 8})
    for (int64_t group : {int64_t{128}, int64_t{32}, int64_t{0}})
      for (bool include_zero : {false, true})
        for (bool clip : {false, true}) {
          UniformOptions o{.bits = bits, .group = group, .clip_search = clip, .include_zero = include_zero};
          const GroupQuant g = uniform_quantize(W.data(), rows, cols, o);
          const int64_t gs = group == 0 ? cols : group;
          ASSERT_EQ(g.group, gs);
          ASSERT_EQ(g.n_groups(), (cols + gs - 1) / gs);
          const std::vector<float> deq = g.dequantize();
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t gi = 0; gi < g.n_groups(); ++gi) {
              const int64_t c0 = gi * gs, n = std::min(cols, c0 + gs) - c0;
              const float* w = W.data() + r * cols + c0;
              // Clip search reference: brute force over the 11 ratios, first minimum wins.
              RefGroup best = ref_group(w, n, bits, 1.0, include_zero);
              if (clip) {
                double be = ref_err(w, best, n);
                for (int i = 1; i <= 10; ++i) {
                  RefGroup cand = ref_group(w, n, bits, 1.0 - i / 20.0, include_zero);
                  const double e = ref_err(w, cand, n);
                  if (e < be) be = e, best = cand;
                }
              }
              ASSERT_EQ(g.scales[r * g.n_groups() + gi], best.scale);
              ASSERT_EQ(g.zeros[r * g.n_groups() + gi], best.zero);
              for (int64_t c = 0; c < n; ++c) {
                ASSERT_EQ(g.q[r * cols + c0 + c], best.q[c]) << bits << " " << group << " " << r << " " << c0 + c;
                // Stored parameters are exactly fp16-representable.
                ASSERT_EQ(f32_to_fp16(g.zeros[r * g.n_groups() + gi]) , f32_to_fp16(best.zero));
                ASSERT_EQ(deq[r * cols + c0 + c], g.dequant(r, c0 + c));
              }
              EXPECT_EQ(round_fp16(best.scale), best.scale);
            }
        }
}

TEST(Uniform, CodeIsNearestGridPoint) {
  // Rounding to nearest with clamping picks the best code of the group's grid (up to the double/float
  // evaluation of the grid points: 1e-6 relative slack).
  std::vector<float> W = randn(16 * 256, 3);
  const GroupQuant g = uniform_quantize(W.data(), 16, 256, {.bits = 3, .group = 64});
  for (int64_t r = 0; r < 16; ++r)
    for (int64_t c = 0; c < 256; ++c) {
      const GroupParams p = g.params(r, c / 64);
      const double e = std::fabs((double)W[r * 256 + c] - g.dequant(r, c));
      for (int q = 0; q < 8; ++q)
        EXPECT_LE(e, std::fabs((double)W[r * 256 + c] - uniform_dequant((uint8_t)q, p)) * (1 + 1e-6) + 1e-9);
      EXPECT_LE(e, p.scale);  // grid covers [min, max] up to the rounding of the zero point
    }
}

TEST(Uniform, ClipSearchNeverIncreasesMse) {
  std::vector<float> W = rand_heavy(64 * 512, 5);
  const GroupQuant a = uniform_quantize(W.data(), 64, 512, {.bits = 4, .group = 128});
  const GroupQuant b = uniform_quantize(W.data(), 64, 512, {.bits = 4, .group = 128, .clip_search = true});
  auto mse = [&](const GroupQuant& g) {
    const std::vector<float> d = g.dequantize();
    double e = 0;
    for (size_t i = 0; i < d.size(); ++i) e += ((double)W[i] - d[i]) * ((double)W[i] - d[i]);
    return e;
  };
  EXPECT_LT(mse(b), mse(a));  // heavy tails: clipping helps strictly
}

TEST(Uniform, ConstantRowsAreGuarded) {
  const int64_t cols = 40;
  std::vector<float> W(4 * cols);
  for (int64_t c = 0; c < cols; ++c) W[c] = 0.3f, W[cols + c] = -2.0f, W[2 * cols + c] = 0.0f, W[3 * cols + c] = 1e-30f;
  for (bool include_zero : {false, true})
    for (int bits : {2, 4, 8}) {
      const GroupQuant g = uniform_quantize(W.data(), 4, cols, {.bits = bits, .group = 0, .include_zero = include_zero});
      for (int64_t r = 0; r < 4; ++r) {
        EXPECT_GT(g.scales[r], 0.0f);
        EXPECT_TRUE(std::isfinite(g.scales[r]));
      }
      for (int64_t c = 0; c < cols; ++c) {
        // Without include_zero a constant is exact up to the fp16 scale (0.3 -> round_fp16(0.3)); with it
        // the grid spans [0, c] or [c, 0] and c is its end point, again up to fp16 scale rounding.
        EXPECT_NEAR(g.dequant(0, c), 0.3f, include_zero ? 0.3f * 0x1.0p-10f : 0.0f + std::fabs(round_fp16(0.3f) - 0.3f));
        EXPECT_NEAR(g.dequant(1, c), -2.0f, 2.0f * 0x1.0p-10f);
        EXPECT_EQ(g.dequant(2, c), 0.0f);
        EXPECT_NEAR(g.dequant(3, c), 0.0f, 1e-7f);
      }
    }
}

TEST(Uniform, RejectsBadInput) {
  std::vector<float> W = {1.0f, NAN};
  EXPECT_THROW(uniform_quantize(W.data(), 1, 2, {}), Error);
  std::vector<float> V = {1.0f, 2.0f};
  EXPECT_THROW(uniform_quantize(V.data(), 1, 2, {.bits = 9}), Error);
  std::vector<float> big = {-1e9f, 1e9f};
  EXPECT_THROW(uniform_quantize(big.data(), 1, 2, {.bits = 2}), Error);
}

}  // namespace
}  // namespace sqz::quant

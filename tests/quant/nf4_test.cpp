#include "quant/algo/nf4.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "quant_test_util.h"

namespace sqz::quant {
namespace {

using testing::rand_heavy;

TEST(Nf4, TableIsQLoRAs) {
  // QLoRA paper / bitsandbytes values (float literals as printed there).
  const double ref[16] = {-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
                          -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
                          0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
                          0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0};
  for (int i = 0; i < 16; ++i) EXPECT_EQ(kNf4Codebook[i], (float)ref[i]);
  EXPECT_TRUE(std::is_sorted(kNf4Codebook, kNf4Codebook + 16));
}

// Scalar reference: linear scan for the nearest code (double distances, first minimum).
uint8_t ref_code(float v) {
  int best = 0;
  for (int j = 1; j < 16; ++j)
    if (std::fabs((double)v - kNf4Codebook[j]) < std::fabs((double)v - kNf4Codebook[best])) best = j;
  return (uint8_t)best;
}

TEST(Nf4, MatchesReference) {
  const int64_t rows = 13, cols = 70;  // 910 weights: blocks span rows, last block has 14
  std::vector<float> W = rand_heavy(rows * cols, 1, 0.02f);
  for (int i = 128; i < 192; ++i) W[i] = 0.0f;  // an all-zero block
  const Nf4Result r = nf4_quantize(W.data(), rows, cols, {});
  ASSERT_EQ(r.absmax.size(), 15u);
  for (int64_t b = 0; b < 15; ++b) {
    float m = 0;
    for (int64_t i = b * 64; i < std::min<int64_t>(910, (b + 1) * 64); ++i) m = std::max(m, std::fabs(W[i]));
    ASSERT_EQ(r.absmax[b], m);
    for (int64_t i = b * 64; i < std::min<int64_t>(910, (b + 1) * 64); ++i) {
      ASSERT_EQ(r.codes[i], m > 0 ? ref_code(W[i] / m) : 7) << i;
      // Error bound: half the widest gap of the table (between -1 and -0.696) times absmax.
      EXPECT_LE(std::fabs(W[i] - r.dequant(i)), 0.5f * 0.3039f * m + 1e-9f);
    }
  }
  for (int i = 128; i < 192; ++i) EXPECT_EQ(r.dequant(i), 0.0f);
  EXPECT_EQ(r.storage_bytes, 455 + 15 * 4);
  for (float v : {-1.0f, 1.0f, 0.0f, -0.6f, 0.04f}) EXPECT_EQ(nf4_nearest(v), ref_code(v));
}

TEST(Nf4, DoubleQuantization) {
  const int64_t rows = 64, cols = 4096, n = rows * cols;  // 4096 blocks, 16 dq blocks
  std::vector<float> W = rand_heavy(n, 2, 0.02f);
  const Nf4Result plain = nf4_quantize(W.data(), rows, cols, {});
  const Nf4Result dq = nf4_quantize(W.data(), rows, cols, {.double_quant = true});
  ASSERT_EQ(dq.absmax_q.size(), 4096u);
  ASSERT_EQ(dq.dq_scale.size(), 16u);
  double mean = 0;
  for (float a : plain.absmax) mean += a;
  EXPECT_FLOAT_EQ(dq.dq_mean, (float)(mean / 4096));
  for (int64_t d = 0; d < 16; ++d) {
    float m = 0;
    for (int64_t i = d * 256; i < (d + 1) * 256; ++i) m = std::max(m, std::fabs(plain.absmax[i] - dq.dq_mean));
    EXPECT_EQ(dq.dq_scale[d], m / 127.0f);
    for (int64_t i = d * 256; i < (d + 1) * 256; ++i) {
      const float a_hat = (float)dq.absmax_q[i] * dq.dq_scale[d] + dq.dq_mean;
      EXPECT_EQ(dq.absmax[i], a_hat);  // the absmax used at inference is the dequantized one
      EXPECT_LE(std::fabs(a_hat - plain.absmax[i]), 0.5f * dq.dq_scale[d] * (1 + 1e-5f));
      for (int64_t j = i * 64; j < (i + 1) * 64; ++j) ASSERT_EQ(dq.codes[j], ref_code(W[j] / a_hat));
    }
  }
  // 4 bits per weight + 8 bits per 64 + 32 per 256*64 + 32: 4.127 bits/weight.
  EXPECT_EQ(dq.storage_bytes, n / 2 + 4096 + 16 * 4 + 4);
  EXPECT_NEAR(dq.bits_per_weight, 4.0 + 8.0 / 64 + 32.0 / (256 * 64) + 32.0 / n, 1e-12);
  EXPECT_NEAR(plain.bits_per_weight, 4.5, 1e-12);
  // Reconstruction barely suffers from DQ.
  double e0 = 0, e1 = 0;
  for (int64_t i = 0; i < n; ++i) {
    e0 += std::pow((double)W[i] - plain.dequant(i), 2);
    e1 += std::pow((double)W[i] - dq.dequant(i), 2);
  }
  EXPECT_LT(e1, 1.02 * e0);
}

}  // namespace
}  // namespace sqz::quant

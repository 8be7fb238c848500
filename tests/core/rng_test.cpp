#include "core/rng.h"

#include <gtest/gtest.h>

namespace sqz {
namespace {

TEST(RandomNormal, DeterministicInSeedWithUnitMoments) {
  const auto a = random_normal(1001, 42, 0.5f), b = random_normal(1001, 42, 0.5f), c = random_normal(1001, 43, 0.5f);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  double sum = 0, sq = 0;
  for (float x : random_normal(100000, 1, 1.0f)) sum += x, sq += (double)x * x;
  EXPECT_NEAR(sum / 100000, 0.0, 0.02);
  EXPECT_NEAR(sq / 100000, 1.0, 0.02);
  // The scale multiplies: the same draws, scaled.
  const auto unit = random_normal(1001, 42, 1.0f);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_FLOAT_EQ(unit[i] * 0.5f, a[i]) << i;
}

}  // namespace
}  // namespace sqz

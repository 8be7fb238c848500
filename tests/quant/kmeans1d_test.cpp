#include "quant/algo/kmeans1d.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <functional>
#include <numeric>

#include "core/error.h"
#include "quant_test_util.h"

namespace sqz::quant {
namespace {

using testing::rand_fisher;
using testing::rand_heavy;
using testing::randn;

// Brute force: every split of the sorted points into k non-empty contiguous runs, each run at its weighted
// mean (unweighted mean for a zero-weight run, cost 0). Contiguous runs of the sorted list contain the
// optimum: any clustering costs at least its nearest-centroid reassignment, which is contiguous.
double brute_force(std::vector<std::pair<double, double>> p, int k) {
  std::sort(p.begin(), p.end());
  const int n = (int)p.size();
  auto seg = [&](int a, int b) {
    double W = 0, S = 0;
    for (int i = a; i < b; ++i) W += p[i].second, S += p[i].second * p[i].first;
    if (W == 0) return 0.0;
    const double c = S / W;
    double e = 0;
    for (int i = a; i < b; ++i) e += p[i].second * (p[i].first - c) * (p[i].first - c);
    return e;
  };
  double best = std::numeric_limits<double>::infinity();
  std::vector<int> cut(k + 1);
  // Enumerate cut points 0 = c0 < c1 < ... < c_{k-1} < c_k = n.
  std::function<void(int, int, double)> rec = [&](int t, int start, double acc) {
    if (t == k - 1) {
      best = std::min(best, acc + seg(start, n));
      return;
    }
    for (int e = start + 1; e <= n - (k - 1 - t); ++e) rec(t + 1, e, acc + seg(start, e));
  };
  rec(0, 0, 0.0);
  return best;
}

double ref_objective(const std::vector<float>& c, const float* x, const float* w, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    double best = std::numeric_limits<double>::infinity();
    for (float v : c) best = std::min(best, ((double)x[i] - v) * ((double)x[i] - v));
    s += (w ? w[i] : 1.0) * best;
  }
  return s;
}

TEST(KMeans1d, ExactMatchesBruteForce) {
  std::mt19937_64 g(7);
  for (int trial = 0; trial < 300; ++trial) {
    const int n = 2 + (int)(g() % 11);  // 2..12
    const int k = 2 + (int)(g() % 3);   // 2..4
    if (k > n) continue;
    std::vector<float> x = randn(n, 1000 + trial), w = rand_fisher(n, 5000 + trial);
    if (trial % 5 == 0) x[1] = x[0];           // duplicates
    if (trial % 7 == 0) w[g() % n] = 0.0f;     // zero weights
    std::vector<std::pair<double, double>> p;
    for (int i = 0; i < n; ++i) p.push_back({x[i], w[i]});
    const double bf = brute_force(p, k);
    const Codebook cb = kmeans1d_exact(x.data(), w.data(), n, k);
    ASSERT_EQ((int)cb.centroids.size(), k);
    ASSERT_TRUE(std::is_sorted(cb.centroids.begin(), cb.centroids.end()));
    // The reported objective is the nearest-assignment objective of the returned centroids.
    EXPECT_NEAR(cb.objective, ref_objective(cb.centroids, x.data(), w.data(), n), 1e-12 * (1 + cb.objective));
    // Only the float rounding of the optimal (double) centroids separates the two: a relative shift of
    // 2^-24 in a centroid raises the objective by O(W * (2^-24 c)^2), far below 1e-9 relative; the
    // absolute 1e-12 covers optima of exactly 0.
    EXPECT_NEAR(cb.objective, bf, 1e-9 * bf + 1e-12) << "trial " << trial << " n " << n << " k " << k;
  }
}

TEST(KMeans1d, ExactNeverWorseThanLloyd) {
  for (int k : {8, 16}) {
    for (int row = 0; row < 200; ++row) {
      const bool heavy = row % 2;
      std::vector<float> x = heavy ? rand_heavy(256, 100 + row, 0.02f) : randn(256, 100 + row, 0.02f);
      std::vector<float> w = rand_fisher(256, 900 + row);
      const Codebook e = kmeans1d_exact(x.data(), w.data(), 256, k);
      const Codebook l = kmeans1d_lloyd(x.data(), w.data(), 256, k, row);
      // Both objectives are evaluated identically (float centroids, nearest assignment, double sums); the
      // exact optimum can only lose to float rounding of its centroids (~1e-14 relative, see above).
      EXPECT_LE(e.objective, l.objective * (1 + 1e-9) + 1e-30) << "k " << k << " row " << row;
      // Unweighted too.
      const Codebook eu = kmeans1d_exact(x.data(), nullptr, 256, k);
      const Codebook lu = kmeans1d_lloyd(x.data(), nullptr, 256, k, row);
      EXPECT_LE(eu.objective, lu.objective * (1 + 1e-9) + 1e-30);
    }
  }
}

TEST(KMeans1d, HugeWeightGetsItsOwnCentroid) {
  std::vector<float> x = randn(200, 3), w(200, 1.0f);
  x[57] = 0.7f;
  w[57] = 1e12f;
  // The weighted mean of any run containing x[57] is within ~200 / 1e12 of it, far below half an ulp of
  // 0.7f (3e-8), so the float centroid is exactly x[57].
  for (const Codebook& cb : {kmeans1d_exact(x.data(), w.data(), 200, 4), kmeans1d_lloyd(x.data(), w.data(), 200, 4, 1)})
    EXPECT_TRUE(std::find(cb.centroids.begin(), cb.centroids.end(), 0.7f) != cb.centroids.end());
}

TEST(KMeans1d, LloydDeterministicForSeed) {
  std::vector<float> x = rand_heavy(512, 11), w = rand_fisher(512, 12);
  const Codebook a = kmeans1d_lloyd(x.data(), w.data(), 512, 8, 42), b = kmeans1d_lloyd(x.data(), w.data(), 512, 8, 42);
  EXPECT_EQ(a.centroids, b.centroids);
  EXPECT_EQ(a.objective, b.objective);
  const Codebook e1 = kmeans1d_exact(x.data(), w.data(), 512, 8), e2 = kmeans1d_exact(x.data(), w.data(), 512, 8);
  EXPECT_EQ(e1.centroids, e2.centroids);
}

TEST(KMeans1d, ZeroWeightsFallBackToUnweighted) {
  std::vector<float> x = randn(100, 5), zero(100, 0.0f);
  const Codebook a = kmeans1d_exact(x.data(), zero.data(), 100, 4), b = kmeans1d_exact(x.data(), nullptr, 100, 4);
  EXPECT_EQ(a.centroids, b.centroids);
  EXPECT_DOUBLE_EQ(a.objective, b.objective);
  const Codebook c = kmeans1d_lloyd(x.data(), zero.data(), 100, 4, 9), d = kmeans1d_lloyd(x.data(), nullptr, 100, 4, 9);
  EXPECT_EQ(c.centroids, d.centroids);
}

TEST(KMeans1d, ZeroWeightSegmentUsesUnweightedMean) {
  // The right pair has zero weight: any segment holding only them is free, and its centroid is their
  // unweighted mean (101) rather than undefined. {0}, {1}, {100, 102} is optimal (cost 0); ties between
  // equal-cost splits go to the earliest split point.
  std::vector<float> x = {0.0f, 1.0f, 100.0f, 102.0f}, w = {1.0f, 1.0f, 0.0f, 0.0f};
  const Codebook cb = kmeans1d_exact(x.data(), w.data(), 4, 3);
  EXPECT_EQ(cb.centroids, (std::vector<float>{0.0f, 1.0f, 101.0f}));
  EXPECT_EQ(cb.objective, 0.0);
  // k = 2: {0}, {1, 100, 102} has weighted mean 1 and cost 0.
  const Codebook cb2 = kmeans1d_exact(x.data(), w.data(), 4, 2);
  EXPECT_EQ(cb2.objective, 0.0);
}

TEST(KMeans1d, FewerDistinctValuesThanK) {
  std::vector<float> x = {0.5f, -1.0f, 0.5f, -1.0f, 2.0f};
  const Codebook cb = kmeans1d_exact(x.data(), nullptr, 5, 8);
  ASSERT_EQ(cb.centroids.size(), 8u);
  EXPECT_EQ(cb.centroids[0], -1.0f);
  EXPECT_EQ(cb.centroids[1], 0.5f);
  for (int i = 2; i < 8; ++i) EXPECT_EQ(cb.centroids[i], 2.0f);
  EXPECT_EQ(cb.objective, 0.0);
  const Codebook l = kmeans1d_lloyd(x.data(), nullptr, 5, 8, 0);
  EXPECT_EQ(l.centroids, cb.centroids);
  const Codebook empty = kmeans1d_exact(nullptr, nullptr, 0, 4);
  EXPECT_EQ(empty.centroids, std::vector<float>(4, 0.0f));
}

TEST(KMeans1d, AssignNearestTiesToLower) {
  const std::vector<float> c = {-1.0f, 0.0f, 0.0f, 2.0f};
  EXPECT_EQ(assign_nearest(c, -0.5f), 0);  // exactly between -1 and 0
  EXPECT_EQ(assign_nearest(c, 0.0f), 1);   // duplicate centroids: lower
  EXPECT_EQ(assign_nearest(c, 1.0f), 1);   // between 0 and 2
  EXPECT_EQ(assign_nearest(c, 1.0001f), 3);
  EXPECT_EQ(assign_nearest(c, -5.0f), 0);
  EXPECT_EQ(assign_nearest(c, 5.0f), 3);
  // Against a linear scan on random data.
  std::vector<float> cc = randn(16, 1);
  std::sort(cc.begin(), cc.end());
  std::vector<float> x = randn(1000, 2, 2.0f);
  std::vector<uint8_t> idx(1000);
  assign_nearest(cc.data(), 16, x.data(), 1000, idx.data());
  for (int i = 0; i < 1000; ++i) {
    int best = 0;
    for (int j = 1; j < 16; ++j)
      if (std::fabs((double)x[i] - cc[j]) < std::fabs((double)x[i] - cc[best])) best = j;
    EXPECT_EQ(idx[i], best);
  }
}

TEST(KMeans1d, RejectsBadInput) {
  std::vector<float> x = {1.0f, 2.0f}, w = {1.0f, -1.0f};
  EXPECT_THROW(kmeans1d_exact(x.data(), w.data(), 2, 2), Error);
  EXPECT_THROW(kmeans1d_exact(x.data(), nullptr, 2, 0), Error);
  EXPECT_THROW(kmeans1d_exact(x.data(), nullptr, 2, 300), Error);
  x[0] = NAN;
  EXPECT_THROW(kmeans1d_lloyd(x.data(), nullptr, 2, 2, 0), Error);
}

}  // namespace
}  // namespace sqz::quant

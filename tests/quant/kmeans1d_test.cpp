#include "quant/algo/kmeans1d.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <functional>
#include <numeric>
#include <string>

#include "core/error.h"
#include "core/half.h"
#include "kernels/cpu/isa.h"
#include "kmeans1d_reference.h"
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

// Independent O(k n^2) dynamic programme over the sorted points (duplicates not merged, so a run of equal
// values may be split), each segment's cost summed directly in long double about its own mean: the exact
// optimum in (nearly) exact arithmetic, to check the shipping solver's prefix-sum/reciprocal arithmetic
// and its pruning. All-zero weights are replaced by ones, as the solver documents.
struct DpOptimum {
  double cost = 0;
  // What rounding the optimal centroids to float can add: a segment of weight W and mean mu moves its
  // centroid by at most 2^-24 |mu|, which adds at most W (2^-24 mu)^2.
  double rounding = 0;
};

DpOptimum dp_optimum(const std::vector<float>& x, const std::vector<float>& w_in, int k) {
  const int n = (int)x.size();
  std::vector<float> w = w_in.empty() ? std::vector<float>(n, 1.0f) : w_in;
  if (std::all_of(w.begin(), w.end(), [](float v) { return v == 0.0f; })) std::fill(w.begin(), w.end(), 1.0f);
  if (n <= k) return {};
  std::vector<int> ord(n);
  std::iota(ord.begin(), ord.end(), 0);
  std::sort(ord.begin(), ord.end(), [&](int a, int b) { return x[a] < x[b]; });
  const size_t N = (size_t)n + 1;
  std::vector<long double> cost(N * N, 0), round(N * N, 0);
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j <= n; ++j) {
      long double W = 0, S = 0;
      for (int p = i; p < j; ++p) W += w[ord[p]], S += (long double)w[ord[p]] * x[ord[p]];
      if (W == 0) continue;
      const long double mu = S / W;
      long double e = 0;
      for (int p = i; p < j; ++p) e += (long double)w[ord[p]] * (x[ord[p]] - mu) * (x[ord[p]] - mu);
      cost[i * N + j] = e;
      round[i * N + j] = W * std::ldexp(mu, -24) * std::ldexp(mu, -24);
    }
  const long double inf = std::numeric_limits<long double>::infinity();
  std::vector<long double> D(N, inf), E(N, inf);
  std::vector<int> arg(N * (k + 1), 0);
  for (int j = 1; j <= n; ++j) D[j] = cost[j];
  for (int t = 2; t <= k; ++t) {
    std::fill(E.begin(), E.end(), inf);
    for (int j = t; j <= n; ++j)
      for (int i = t - 1; i < j; ++i)
        if (D[i] + cost[i * N + j] < E[j]) E[j] = D[i] + cost[i * N + j], arg[t * N + j] = i;
    std::swap(D, E);
  }
  DpOptimum r{(double)D[n], 0};
  for (int t = k, j = n; t >= 1; --t) {
    const int i = t > 1 ? arg[t * N + j] : 0;
    r.rounding += (double)round[i * N + j];
    j = i;
  }
  return r;
}

// The codebook must be the optimum: its objective (float centroids, nearest assignment) at least the exact
// optimum, and above it by no more than the rounding of the centroids to float allows (plus 1e-9
// relative: double prefix sums over values centred on the row's mean resolve a segment's cost to about
// 1e-16 of the row's total sum of squares, which for rows of a few dozen values is well within that).
void expect_optimal(const Codebook& cb, const std::vector<float>& x, const std::vector<float>& w, int k,
                    const std::string& what) {
  const DpOptimum opt = dp_optimum(x, w, k);
  EXPECT_GE(cb.objective, opt.cost * (1 - 1e-12) - 1e-300) << what;
  EXPECT_LE(cb.objective, opt.cost * (1 + 1e-9) + opt.rounding + 1e-30) << what;
}

// Small rows of every awkward kind, against the independent dynamic programme, for each instruction set
// the solver dispatches to.
TEST(KMeans1d, ExactMatchesDpOnSmallRows) {
  std::mt19937_64 g(2024);
  for (kernels::Isa isa : kernels::supported_isas()) {
    kernels::IsaScope scope(isa);
    for (int trial = 0; trial < 1500; ++trial) {
      const int n = 1 + (int)(g() % 40);
      const int k = 1 + (int)(g() % 9);
      std::vector<float> x = randn(n, 10000 + trial), w = rand_fisher(n, 20000 + trial);
      switch (trial % 8) {
        case 0: break;
        case 1:  // few distinct values, many repeats
          for (auto& v : x) v = (float)(int)(v * 2.0f);
          break;
        case 2:  // zero weights here and there
          for (auto& v : w)
            if (g() % 3 == 0) v = 0.0f;
          break;
        case 3:  // all weights zero: the unweighted fallback
          std::fill(w.begin(), w.end(), 0.0f);
          break;
        case 4:  // small integers with unit weights: exact ties between partitions
          for (auto& v : x) v = (float)(g() % 7);
          std::fill(w.begin(), w.end(), 1.0f);
          break;
        case 5:  // one value carrying almost all the weight
          w[g() % n] = 1e6f;
          break;
        case 6:  // a far outlier and values away from zero (centring matters)
          for (auto& v : x) v = 100.0f + 0.01f * v;
          x[g() % n] = -1000.0f;
          break;
        case 7:  // signed zeros and a zero-weight run at the top
          for (auto& v : x) v = (g() % 2) ? 0.0f : -0.0f;
          x[0] = 1.0f, x[n - 1] = 3.0f;
          w[n - 1] = 0.0f;
          break;
      }
      const bool unweighted = trial % 11 == 0;
      const Codebook cb = kmeans1d_exact(x.data(), unweighted ? nullptr : w.data(), n, k);
      ASSERT_EQ((int)cb.centroids.size(), k);
      ASSERT_TRUE(std::is_sorted(cb.centroids.begin(), cb.centroids.end()));
      expect_optimal(cb, x, unweighted ? std::vector<float>{} : w, k,
                     "isa " + std::string(kernels::isa_name(isa)) + " trial " + std::to_string(trial) + " n " +
                         std::to_string(n) + " k " + std::to_string(k));
    }
  }
}

// Rows of the sizes SqueezeLLM sees, against the previous solver (plain divide and conquer, kept in
// kmeans1d_reference.h): the same optimum, so the same objective up to which of two partitions tied to
// rounding each picks (1e-12 relative), for every instruction set.
TEST(KMeans1d, ExactMatchesPreviousSolverOnLongRows) {
  struct Case {
    int64_t n;
    int k;
    int kind;
  };
  const std::vector<Case> cases = {{4096, 8, 0}, {4096, 16, 1}, {11008, 8, 0}, {3000, 4, 2}, {2048, 2, 0},
                                   {1500, 3, 3}, {777, 32, 1},  {5000, 8, 2},  {4096, 8, 3}, {300, 64, 0},
                                   {4096, 8, 4}, {1000, 9, 4}, {1000, 256, 0}, {600, 200, 2}};
  for (kernels::Isa isa : kernels::supported_isas()) {
    kernels::IsaScope scope(isa);
    int seed = 0;
    for (const Case& c : cases) {
      ++seed;
      std::vector<float> x = c.kind == 1 ? rand_heavy(c.n, 300 + seed, 0.02f) : randn(c.n, 300 + seed, 0.02f);
      std::vector<float> w = rand_fisher(c.n, 400 + seed);
      if (c.kind == 2)  // fp16-representable weights, as in a checkpoint: many repeated values
        for (auto& v : x) v = round_fp16(v);
      if (c.kind == 3)  // a tenth of the weights zero
        for (int64_t i = 0; i < c.n; i += 10) w[i] = 0.0f;
      const float* wp = c.kind == 4 ? nullptr : w.data();
      const Codebook now = kmeans1d_exact(x.data(), wp, c.n, c.k);
      const Codebook before = reference::kmeans1d_exact_dc(x.data(), wp, c.n, c.k);
      EXPECT_NEAR(now.objective, before.objective, 1e-12 * before.objective)
          << kernels::isa_name(isa) << " n " << c.n << " k " << c.k << " kind " << c.kind;
    }
    // And a sweep of sizes, so every anchor/gap arrangement at the ends of the layers comes up.
    std::mt19937_64 g(99);
    for (int trial = 0; trial < 60; ++trial) {
      const int64_t n = 20 + (int64_t)(g() % 600);
      const int k = 2 + (int)(g() % 20);
      const std::vector<float> x = randn(n, 500 + trial, 0.02f), w = rand_fisher(n, 600 + trial);
      const double now = kmeans1d_exact(x.data(), w.data(), n, k).objective;
      const double before = reference::kmeans1d_exact_dc(x.data(), w.data(), n, k).objective;
      EXPECT_NEAR(now, before, 1e-12 * before) << kernels::isa_name(isa) << " n " << n << " k " << k;
    }
  }
}

// Every instruction set gives the same codebooks on ordinary rows (the AVX-512 kernel's reciprocal
// differs from a division in the last bits only, which decides nothing unless two partitions tie to
// that precision).
TEST(KMeans1d, ExactSameCodebookOnEveryIsa) {
  const std::vector<float> x = randn(4096, 77, 0.02f), w = rand_fisher(4096, 78);
  std::vector<Codebook> cbs;
  for (kernels::Isa isa : kernels::supported_isas()) {
    kernels::IsaScope scope(isa);
    cbs.push_back(kmeans1d_exact(x.data(), w.data(), 4096, 8));
  }
  for (size_t i = 1; i < cbs.size(); ++i) EXPECT_EQ(cbs[i].centroids, cbs[0].centroids);
}

TEST(KMeans1d, ExactEdgeCases) {
  // k = 1: the weighted mean.
  {
    const std::vector<float> x = {1.0f, 2.0f, 4.0f}, w = {1.0f, 1.0f, 2.0f};
    const Codebook cb = kmeans1d_exact(x.data(), w.data(), 3, 1);
    EXPECT_FLOAT_EQ(cb.centroids[0], 11.0f / 4.0f);
    expect_optimal(cb, x, w, 1, "k=1");
  }
  // One more distinct value than centroids, with repeats; all values equal.
  {
    std::vector<float> x(300), w = rand_fisher(300, 5);
    for (int i = 0; i < 300; ++i) x[i] = (float)(i % 9);
    expect_optimal(kmeans1d_exact(x.data(), w.data(), 300, 8), x, w, 8, "m = k + 1");
    std::fill(x.begin(), x.end(), 0.25f);
    const Codebook cb = kmeans1d_exact(x.data(), w.data(), 300, 8);
    EXPECT_EQ(cb.centroids, std::vector<float>(8, 0.25f));
    EXPECT_EQ(cb.objective, 0.0);
  }
  // -0.0 and +0.0 are one value (so the radix-sorted row clusters like the all-+0.0 one).
  {
    std::vector<float> x = randn(500, 9), xp = x;
    for (int i = 0; i < 500; i += 5) x[i] = (i % 10) ? -0.0f : 0.0f, xp[i] = 0.0f;
    const std::vector<float> w = rand_fisher(500, 10);
    EXPECT_EQ(kmeans1d_exact(x.data(), w.data(), 500, 8).centroids,
              kmeans1d_exact(xp.data(), w.data(), 500, 8).centroids);
  }
}

TEST(KMeans1d, ObjectiveAndAssignmentMatchLinearScan) {
  for (int k : {1, 2, 3, 8, 16, 17, 64}) {
    std::vector<float> c = randn(k, 100 + k);
    std::sort(c.begin(), c.end());
    if (k >= 3) c[1] = c[2];  // equal centroids: the lower index
    const std::vector<float> x = randn(1000, 200 + k, 1.5f), w = rand_fisher(1000, 300 + k);
    std::vector<uint8_t> idx(1000);
    assign_nearest(c.data(), k, x.data(), 1000, idx.data());
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(idx[i], assign_nearest(c, x[i])) << "k " << k << " i " << i;
    EXPECT_NEAR(kmeans1d_objective(c.data(), k, x.data(), w.data(), 1000), ref_objective(c, x.data(), w.data(), 1000),
                1e-12 * ref_objective(c, x.data(), w.data(), 1000));
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

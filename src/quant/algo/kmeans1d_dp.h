// Internal to kmeans1d.cpp and its SIMD variants: the dynamic programme of the exact weighted 1-D k-means.
//
// Over m distinct sorted values with centred prefix sums pw, p1, p2 (of w, w x, w x^2; index j covers
// values [0, j)), a segment [i, j) costs
//     cost(i, j) = (p2[j] - p2[i]) - (p1[j] - p1[i])^2 / (pw[j] - pw[i])
// (0 for a zero-weight segment, whose sums are all 0), and layer t holds
//     D_t(j) = min_{t-1 <= i < j} D_{t-1}(i) + cost(i, j),   opt_t(j) = its smallest argmin.
// With a_i = D_{t-1}(i) - p2[i] (one pass per layer) that is
//     D_t(j) = p2[j] + min_i a_i - (p1[j] - p1[i])^2 / (pw[j] - pw[i]),
// two subtractions, a square, a quotient and a subtraction per candidate. A zero-weight segment has
// p1[j] - p1[i] = 0 and pw[j] - pw[i] = 0; the kernels make its quotient 0 rather than NaN.
//
// The cost is Monge (quadrangle inequality), so opt_t(j) is non-decreasing in j and, as in Knuth's
// optimisation of partition problems, in t: opt_{t-1}(j) <= opt_t(j). Each layer is solved in two passes:
//   1. the anchors j = t, t + 16, t + 32, ... (and the layer's last j), level by level as in divide and
//      conquer: an anchor between two solved ones scans i from the larger of the left one's argmin and
//      opt_{t-1}(j) up to the right one's argmin. Long contiguous scans, one j at a time (range_min);
//      the anchors of one level do not depend on each other, so their scans overlap in the core.
//   2. the (up to 15) j between two adjacent anchors l < r have opt_t(j) in [opt_t(l), opt_t(r)]; they
//      are scanned together over that range, one SIMD lane per j (block_min), the upper eight from
//      opt_{t-1}(l + 9) on.
// The last layer needs only j = m, whose split is at least opt_{k-1}(m - 1), so the layer before it only
// computes the rows from there. In practice (rows of 4096 normal values, k = 8) that is about 20
// candidate evaluations per value and layer, against about 14 (log2 m + 2) for plain divide and conquer
// over every j, but in full SIMD vectors with few data-dependent branches.
//
// A kernel K provides (rounding may differ between kernels in the last bits; ties go to the smallest i):
//   static void first_layer(const Tables&, double* out, int64_t jhi);  // out[j] = cost(0, j), 1 <= j <= jhi
//   static void range_min(const Tables&, int64_t j, int64_t lo, int64_t hi, double& best, int64_t& arg);
//       // min over lo <= i <= hi < j of a_i - (p1[j] - p1[i])^2 / (pw[j] - pw[i]) (without p2[j])
//   static void block_min(const Tables&, int64_t j0, int nj, int64_t lo, int64_t lo_rest, int64_t hi,
//                         double* cur, int32_t* opt);
//       // the same for each j0 <= j < j0 + nj (nj < kAnchorStep) over lo <= i <= min(hi, j - 1), with
//       // p2[j] added, into cur[j] and opt[j]; the j from j0 + 8 on have their optimum at lo_rest or later
// Kernels are types local to their translation unit, so each instantiation of solve() has internal
// linkage and is compiled only with that unit's instruction set.
#pragma once
#include <algorithm>
#include <cstdint>

namespace sqz::quant::kmeans_dp {

// Anchor spacing: two AVX-512 vectors of lanes per gap. 8 (one vector) measured about 5 % slower on rows
// of 4096: fewer wasted lanes, but twice the calls, each with its loop set-up and mispredicted exit.
constexpr int64_t kAnchorStep = 16;

struct Tables {
  int64_t m = 0;
  const double *pw = nullptr, *p1 = nullptr, *p2 = nullptr;  // m + 1 entries each
  double *prev = nullptr, *cur = nullptr, *a = nullptr;      // m + 1 entries each, scratch
  int32_t* opt = nullptr;                                    // (k + 1) x (m + 1), scratch
  bool zero_weights = false;  // some distinct value has weight 0
};

// Fills bound[0..k]: an optimal partition of the m values into k segments [bound[t], bound[t + 1]).
// Requires 2 <= k < m.
template <class K>
void solve(const Tables& T, int k, int64_t* bound) {
  const int64_t m = T.m;
  double* prev = T.prev;
  double* cur = T.cur;
  double* a = T.a;
  // Layer t only needs the j that leave at least one value for each later segment: t <= j <= m - (k - t).
  K::first_layer(T, prev, m - (k - 1));
  for (int t = 2; t < k; ++t) {
    const int64_t jhi = m - (k - t);
    for (int64_t i = t - 1; i < jhi; ++i) a[i] = prev[i] - T.p2[i];
    int32_t* opt = T.opt + (size_t)t * (size_t)(m + 1);
    const int32_t* opt_prev = t > 2 ? opt - (m + 1) : nullptr;  // layer 1's split point is always 0
    // The larger of lo and opt_{t-1}(j), but never above hi: in floating point the monotonicity in t
    // can fail by a rounding-level tie, and an empty range would lose the row. Layer t - 1 ends one row
    // before this one; for that last row opt_{t-1}(jhi - 1) <= opt_{t-1}(jhi) bounds as well.
    auto lower = [&](int64_t j, int64_t lo, int64_t hi) {
      return opt_prev ? std::min<int64_t>(std::max<int64_t>(lo, opt_prev[std::min(j, jhi - 1)]), hi) : lo;
    };
    auto scan = [&](int64_t j, int64_t lo, int64_t hi) {
      double best;
      int64_t arg;
      K::range_min(T, j, lo, hi, best, arg);
      cur[j] = best + T.p2[j];
      opt[j] = (int32_t)arg;
    };
    scan(jhi, lower(jhi, t - 1, jhi - 1), jhi - 1);
    // The last layer reads this one only from opt_k(m) >= opt_{k-1}(m) >= opt_{k-1}(m - 1) on, so the
    // last layer before it needs only the rows from there (typically the top tenth or so).
    const int64_t jlo = t == k - 1 ? std::max<int64_t>(t, opt[jhi]) : t;
    if (jlo == jhi) {
      std::swap(prev, cur);
      continue;
    }
    scan(jlo, lower(jlo, t - 1, jlo - 1), jlo - 1);
    auto anchor = [&](int64_t u) { return std::min(jlo + kAnchorStep * u, jhi); };
    const int64_t span = jhi - jlo;
    const int64_t last = span / kAnchorStep + (span % kAnchorStep != 0);  // anchors 0..last
    int64_t stride = 1;
    while (stride < last) stride *= 2;
    for (; stride >= 2; stride /= 2)
      for (int64_t u = stride / 2; u < last; u += stride) {
        const int64_t j = anchor(u), left = anchor(u - stride / 2), right = anchor(std::min(u + stride / 2, last));
        const int64_t hi = std::min<int64_t>(opt[right], j - 1);
        scan(j, lower(j, opt[left], hi), hi);
      }
    for (int64_t u = 0; u < last; ++u) {
      const int64_t l = anchor(u), r = anchor(u + 1);
      if (r - l <= 1) continue;
      // The j from l + 9 on also start at opt_{t-1}(l + 9) at the earliest.
      const int64_t lo = lower(l + 1, opt[l], opt[r]), lo_rest = r - l > 9 ? lower(l + 9, lo, opt[r]) : lo;
      K::block_min(T, l + 1, (int)(r - l - 1), lo, lo_rest, opt[r], cur, opt);
    }
    std::swap(prev, cur);
  }
  // The last layer needs only j = m, and opt_k(m) >= opt_{k-1}(m) >= opt_{k-1}(m - 1).
  for (int64_t i = k - 1; i < m; ++i) a[i] = prev[i] - T.p2[i];
  const int64_t lo =
      k > 2 ? std::max<int64_t>(k - 1, T.opt[(size_t)(k - 1) * (size_t)(m + 1) + (size_t)(m - 1)]) : k - 1;
  double best;
  int64_t arg;
  K::range_min(T, m, lo, m - 1, best, arg);
  bound[0] = 0;
  bound[k] = m;
  bound[k - 1] = arg;
  for (int t = k - 1; t >= 2; --t) bound[t - 1] = T.opt[(size_t)t * (size_t)(m + 1) + (size_t)bound[t]];
}

// The SIMD instantiations (kmeans1d_avx512.cpp, kmeans1d_avx2.cpp); call only when the CPU has them.
void solve_avx512(const Tables& T, int k, int64_t* bound);
void solve_avx2(const Tables& T, int k, int64_t* bound);

}  // namespace sqz::quant::kmeans_dp

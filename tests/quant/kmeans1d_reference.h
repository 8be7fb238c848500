// The exact 1-D k-means as sqz shipped it before the anchor/lane dynamic programme (commit e4e7916):
// std::sort of (value, weight) pairs, then plain divide and conquer over every j of every layer with the
// correctly rounded cost, O(k m log m). Kept only here, as the reference that test_kmeans1d compares the
// shipping solver with on rows too long for brute force, and as the "before" of bench_kmeans.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "quant/algo/kmeans1d.h"

namespace sqz::quant::reference {

namespace detail {

struct Dp {
  std::vector<double> pw, p1, p2, prev, cur;
  std::vector<int32_t> opt;
  int64_t m = 0;

  double cost(int64_t i, int64_t j) const {
    const double W = pw[j] - pw[i];
    if (W <= 0) return 0;
    const double s1 = p1[j] - p1[i];
    const double c = (p2[j] - p2[i]) - s1 * s1 / W;
    return c > 0 ? c : 0;
  }

  void solve(int t, int64_t jlo, int64_t jhi, int64_t ilo, int64_t ihi) {
    while (jlo <= jhi) {
      const int64_t mid = jlo + (jhi - jlo) / 2;
      const int64_t lo = std::max<int64_t>(ilo, t - 1), hi = std::min<int64_t>(ihi, mid - 1);
      double best = std::numeric_limits<double>::infinity();
      int64_t bi = lo;
      for (int64_t i = lo; i <= hi; ++i) {
        const double v = prev[i] + cost(i, mid);
        if (v < best) best = v, bi = i;
      }
      cur[mid] = best;
      opt[(size_t)t * (m + 1) + mid] = (int32_t)bi;
      solve(t, jlo, mid - 1, ilo, bi);
      jlo = mid + 1;
      ilo = bi;
    }
  }
};

}  // namespace detail

// Same contract as kmeans1d_exact (without its argument checks).
inline Codebook kmeans1d_exact_dc(const float* x, const float* w, int64_t n, int k) {
  bool unit = true;
  if (w)
    for (int64_t i = 0; i < n; ++i) unit = unit && !(w[i] > 0);
  std::vector<std::pair<float, float>> p((size_t)n);
  for (int64_t i = 0; i < n; ++i) p[i] = {x[i], unit ? 1.0f : w[i]};
  std::sort(p.begin(), p.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<float> v;
  std::vector<double> dw, dc;
  for (int64_t i = 0; i < n; ++i) {
    if (!v.empty() && v.back() == p[i].first) {
      dw.back() += p[i].second;
      dc.back() += 1;
    } else {
      v.push_back(p[i].first), dw.push_back(p[i].second), dc.push_back(1);
    }
  }
  const int64_t m = (int64_t)v.size();
  Codebook cb;
  if (m <= k) {
    cb.centroids = v;
    cb.centroids.resize(k, v.empty() ? 0.0f : v.back());
    cb.objective = kmeans1d_objective(cb.centroids.data(), k, x, unit ? nullptr : w, n);
    return cb;
  }
  double sw = 0, swx = 0;
  for (int64_t i = 0; i < m; ++i) sw += dw[i], swx += dw[i] * v[i];
  const double center = swx / sw;
  detail::Dp dp;
  dp.m = m;
  dp.pw.assign(m + 1, 0.0), dp.p1.assign(m + 1, 0.0), dp.p2.assign(m + 1, 0.0);
  for (int64_t i = 0; i < m; ++i) {
    const double c = (double)v[i] - center;
    dp.pw[i + 1] = dp.pw[i] + dw[i];
    dp.p1[i + 1] = dp.p1[i] + dw[i] * c;
    dp.p2[i + 1] = dp.p2[i] + dw[i] * c * c;
  }
  const double inf = std::numeric_limits<double>::infinity();
  dp.prev.assign(m + 1, inf);
  dp.cur.assign(m + 1, inf);
  dp.opt.assign((size_t)(k + 1) * (m + 1), 0);
  for (int64_t j = 1; j <= m; ++j) dp.prev[j] = dp.cost(0, j);
  for (int t = 2; t < k; ++t) {
    std::fill(dp.cur.begin(), dp.cur.end(), inf);
    dp.solve(t, t, m - (k - t), t - 1, m - (k - t) - 1);
    std::swap(dp.prev, dp.cur);
  }
  std::vector<int64_t> bound(k + 1);
  bound[k] = m;
  if (k >= 2) {
    double best = inf;
    int64_t bi = k - 1;
    for (int64_t i = k - 1; i <= m - 1; ++i) {
      const double c = dp.prev[i] + dp.cost(i, m);
      if (c < best) best = c, bi = i;
    }
    bound[k - 1] = bi;
    for (int t = k - 1; t >= 2; --t) bound[t - 1] = dp.opt[(size_t)t * (m + 1) + bound[t]];
  }
  bound[0] = 0;
  cb.centroids.resize(k);
  for (int t = 0; t < k; ++t) {
    double W = 0, S = 0, C = 0, U = 0;
    for (int64_t i = bound[t]; i < bound[t + 1]; ++i) {
      const double c = (double)v[i] - center;
      W += dw[i], S += dw[i] * c, C += dc[i], U += dc[i] * c;
    }
    cb.centroids[t] = (float)((W > 0 ? S / W : U / C) + center);
  }
  std::sort(cb.centroids.begin(), cb.centroids.end());
  cb.objective = kmeans1d_objective(cb.centroids.data(), k, x, unit ? nullptr : w, n);
  return cb;
}

}  // namespace sqz::quant::reference

#include "quant/algo/kmeans1d.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "core/error.h"

namespace sqz::quant {

namespace {

// Distinct sorted values with their merged weight and multiplicity.
struct Distinct {
  std::vector<float> v;
  std::vector<double> w;    // total weight of the value (all ones in the unweighted fallback)
  std::vector<int64_t> c;   // multiplicity
  bool unit = false;        // weights were replaced by ones
};

void check_args(const float* x, const float* w, int64_t n, int k, const char* fn) {
  SQZ_CHECK(k >= 1 && k <= 256, "{}: k = {} must be in [1, 256]", fn, k);
  SQZ_CHECK(n >= 0, "{}: n = {} is negative", fn, n);
  for (int64_t i = 0; i < n; ++i) {
    SQZ_CHECK(std::isfinite(x[i]), "{}: value {} at {} is not finite", fn, x[i], i);
    if (w) SQZ_CHECK(std::isfinite(w[i]) && w[i] >= 0, "{}: weight {} at {} must be finite and >= 0", fn, w[i], i);
  }
}

bool all_zero_weights(const float* w, int64_t n) {
  if (!w) return true;  // nullptr means ones: "unit" path
  for (int64_t i = 0; i < n; ++i)
    if (w[i] > 0) return false;
  return true;
}

Distinct make_distinct(const float* x, const float* w, int64_t n) {
  Distinct d;
  d.unit = all_zero_weights(w, n);
  std::vector<std::pair<float, float>> p(n);
  for (int64_t i = 0; i < n; ++i) p[i] = {x[i], d.unit ? 1.0f : w[i]};
  std::sort(p.begin(), p.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (int64_t i = 0; i < n; ++i) {
    if (!d.v.empty() && d.v.back() == p[i].first) {
      d.w.back() += p[i].second;
      d.c.back() += 1;
    } else {
      d.v.push_back(p[i].first);
      d.w.push_back(p[i].second);
      d.c.push_back(1);
    }
  }
  return d;
}

// Fewer distinct values than centroids: the values themselves, padded by repeating the largest (or zeros
// when there are no values at all).
double objective_used(const std::vector<float>& c, const float* x, const float* w, int64_t n, bool unit) {
  return kmeans1d_objective(c.data(), (int)c.size(), x, unit ? nullptr : w, n);
}

// No more distinct values than centroids: each value is a centroid (the rest repeat the largest).
Codebook trivial_codebook(const Distinct& d, int k, const float* x, const float* w, int64_t n) {
  Codebook cb;
  cb.centroids = d.v;
  const float pad = d.v.empty() ? 0.0f : d.v.back();
  cb.centroids.resize(k, pad);
  cb.objective = objective_used(cb.centroids, x, w, n, d.unit);
  return cb;
}

struct Dp {
  // Prefix sums over the m distinct values (centred), index j covers values [0, j).
  std::vector<double> pw, p1, p2;
  std::vector<double> prev, cur;
  std::vector<int32_t> opt;  // (k + 1) x (m + 1)
  int64_t m = 0;

  double cost(int64_t i, int64_t j) const {
    const double W = pw[j] - pw[i];
    if (W <= 0) return 0;  // zero-weight segment: free (its centroid is the unweighted mean)
    const double s1 = p1[j] - p1[i];
    const double c = (p2[j] - p2[i]) - s1 * s1 / W;
    return c > 0 ? c : 0;  // rounding can leave a tiny negative
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
      // Left half recursively (smaller split points), right half iteratively.
      solve(t, jlo, mid - 1, ilo, bi);
      jlo = mid + 1;
      ilo = bi;
    }
  }
};

}  // namespace

uint8_t assign_nearest(const float* c, int k, float x) {
  int lo = 0, hi = k - 1;  // first t with x <= midpoint(c_t, c_{t+1}); ties stay with the lower index
  const double xd = x;
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (xd <= 0.5 * ((double)c[mid] + (double)c[mid + 1])) hi = mid;
    else lo = mid + 1;
  }
  while (lo > 0 && c[lo - 1] == c[lo]) --lo;  // equal centroids: the lowest index
  return (uint8_t)lo;
}

void assign_nearest(const float* c, int k, const float* x, int64_t n, uint8_t* idx) {
  SQZ_CHECK(k >= 1 && k <= 256, "assign_nearest: k = {} must be in [1, 256]", k);
  for (int i = 0; i + 1 < k; ++i)
    SQZ_CHECK(c[i] <= c[i + 1], "assign_nearest: centroids must be ascending ({} > {} at {})", c[i], c[i + 1], i);
  for (int64_t i = 0; i < n; ++i) idx[i] = assign_nearest(c, k, x[i]);
}

double kmeans1d_objective(const float* c, int k, const float* x, const float* w, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = (double)x[i] - (double)c[assign_nearest(c, k, x[i])];
    s += (w ? (double)w[i] : 1.0) * d * d;
  }
  return s;
}

Codebook kmeans1d_exact(const float* x, const float* w, int64_t n, int k) {
  check_args(x, w, n, k, "kmeans1d_exact");
  const Distinct d = make_distinct(x, w, n);
  const int64_t m = (int64_t)d.v.size();
  if (m <= k) return trivial_codebook(d, k, x, w, n);
  // Centre on the weighted mean so the segment variances are not differences of large squares.
  double sw = 0, swx = 0;
  for (int64_t i = 0; i < m; ++i) sw += d.w[i], swx += d.w[i] * d.v[i];
  const double center = swx / sw;  // sw > 0: the all-zero case became unit weights
  Dp dp;
  dp.m = m;
  dp.pw.assign(m + 1, 0.0), dp.p1.assign(m + 1, 0.0), dp.p2.assign(m + 1, 0.0);
  for (int64_t i = 0; i < m; ++i) {
    const double v = (double)d.v[i] - center;
    dp.pw[i + 1] = dp.pw[i] + d.w[i];
    dp.p1[i + 1] = dp.p1[i] + d.w[i] * v;
    dp.p2[i + 1] = dp.p2[i] + d.w[i] * v * v;
  }
  const double inf = std::numeric_limits<double>::infinity();
  dp.prev.assign(m + 1, inf);
  dp.cur.assign(m + 1, inf);
  dp.opt.assign((size_t)(k + 1) * (m + 1), 0);
  // Layer 1: one segment [0, j).
  for (int64_t j = 1; j <= m; ++j) dp.prev[j] = dp.cost(0, j);
  // Layers 2..k-1 over the j that leave at least one value for each later segment.
  for (int t = 2; t < k; ++t) {
    std::fill(dp.cur.begin(), dp.cur.end(), inf);
    dp.solve(t, t, m - (k - t), t - 1, m - (k - t) - 1);
    std::swap(dp.prev, dp.cur);
  }
  // Last layer: only j = m is needed.
  std::vector<int64_t> bound(k + 1);
  bound[k] = m;
  if (k >= 2) {
    double best = inf;
    int64_t bi = k - 1;
    for (int64_t i = k - 1; i <= m - 1; ++i) {
      const double v = dp.prev[i] + dp.cost(i, m);
      if (v < best) best = v, bi = i;
    }
    bound[k - 1] = bi;
    for (int t = k - 1; t >= 2; --t) bound[t - 1] = dp.opt[(size_t)t * (m + 1) + bound[t]];
  }
  bound[0] = 0;
  // Centroids: the weighted mean of each segment summed directly (not from prefix differences) for
  // accuracy; unweighted mean for a zero-weight segment.
  Codebook cb;
  cb.centroids.resize(k);
  for (int t = 0; t < k; ++t) {
    double W = 0, S = 0, C = 0, U = 0;
    for (int64_t i = bound[t]; i < bound[t + 1]; ++i) {
      const double v = (double)d.v[i] - center;
      W += d.w[i], S += d.w[i] * v;
      C += (double)d.c[i], U += (double)d.c[i] * v;
    }
    cb.centroids[t] = (float)((W > 0 ? S / W : U / C) + center);
  }
  std::sort(cb.centroids.begin(), cb.centroids.end());  // already ascending; guards float rounding ties
  cb.objective = objective_used(cb.centroids, x, w, n, d.unit);
  return cb;
}

Codebook kmeans1d_lloyd(const float* x, const float* w, int64_t n, int k, uint64_t seed, int max_iter) {
  check_args(x, w, n, k, "kmeans1d_lloyd");
  const Distinct d = make_distinct(x, w, n);
  const int64_t m = (int64_t)d.v.size();
  if (m <= k) return trivial_codebook(d, k, x, w, n);
  std::mt19937_64 rng(seed);
  auto uniform01 = [&] { return (double)(rng() >> 11) * 0x1.0p-53; };
  // Draws an index with probability p[i] / sum(p) (p >= 0, sum > 0); zero-probability entries never win.
  std::vector<double> cum(m);
  auto sample = [&](const std::vector<double>& p) {
    double s = 0;
    for (int64_t i = 0; i < m; ++i) cum[i] = (s += p[i]);
    const double r = uniform01() * s;
    int64_t i = std::upper_bound(cum.begin(), cum.end(), r) - cum.begin();
    if (i >= m) i = m - 1;
    while (p[i] <= 0) --i;  // only reachable through rounding at the very top
    return i;
  };

  // Greedy k-means++ (as sklearn): weights are the merged per-value weights, so drawing a distinct
  // value ~ its weight is drawing a point ~ w.
  std::vector<double> cent;
  std::vector<double> d2(m), prob(m), tmp(m);
  cent.push_back(d.v[sample(d.w)]);
  double pot = 0;
  for (int64_t i = 0; i < m; ++i) {
    const double e = (double)d.v[i] - cent[0];
    d2[i] = e * e;
    pot += d.w[i] * d2[i];
  }
  const int trials = 2 + (int)std::log((double)k);
  for (int c = 1; c < k; ++c) {
    // If all weighted mass is already on a centre (rest has weight 0), draw ~ D^2 among the rest.
    for (int64_t i = 0; i < m; ++i) prob[i] = pot > 0 ? d.w[i] * d2[i] : d2[i];
    double best_pot = std::numeric_limits<double>::infinity();
    int64_t best = -1;
    for (int t = 0; t < trials; ++t) {
      const int64_t cand = sample(prob);
      double p = 0;
      for (int64_t i = 0; i < m; ++i) {
        const double e = (double)d.v[i] - (double)d.v[cand];
        p += d.w[i] * std::min(d2[i], e * e);
      }
      if (p < best_pot) best_pot = p, best = cand;
    }
    cent.push_back(d.v[best]);
    pot = 0;
    for (int64_t i = 0; i < m; ++i) {
      const double e = (double)d.v[i] - (double)d.v[best];
      d2[i] = std::min(d2[i], e * e);
      pot += d.w[i] * d2[i];
    }
  }

  // Lloyd. With values sorted, nearest-centre clusters are contiguous runs split at midpoints of sorted
  // centres (a value on a midpoint goes to the lower centre), so one iteration is k binary searches plus
  // prefix-sum lookups.
  std::vector<double> pw(m + 1, 0.0), pwv(m + 1, 0.0), pc(m + 1, 0.0), pcv(m + 1, 0.0);
  for (int64_t i = 0; i < m; ++i) {
    pw[i + 1] = pw[i] + d.w[i];
    pwv[i + 1] = pwv[i] + d.w[i] * (double)d.v[i];
    pc[i + 1] = pc[i] + (double)d.c[i];
    pcv[i + 1] = pcv[i] + (double)d.c[i] * (double)d.v[i];
  }
  std::vector<int64_t> bnd(k + 1), last_bnd;
  for (int it = 0; it < max_iter; ++it) {
    std::sort(cent.begin(), cent.end());
    bnd[0] = 0, bnd[k] = m;
    for (int t = 0; t + 1 < k; ++t) {
      const double mid = 0.5 * (cent[t] + cent[t + 1]);
      bnd[t + 1] = std::upper_bound(d.v.begin(), d.v.end(), mid, [](double a, float b) { return a < (double)b; }) -
                   d.v.begin();
    }
    if (bnd == last_bnd) break;  // assignment unchanged: centres are fixed points
    last_bnd = bnd;
    std::vector<int> empty;
    for (int t = 0; t < k; ++t) {
      const int64_t a = bnd[t], b = bnd[t + 1];
      if (a >= b) {
        empty.push_back(t);
        continue;
      }
      const double W = pw[b] - pw[a];
      cent[t] = W > 0 ? (pwv[b] - pwv[a]) / W : (pcv[b] - pcv[a]) / (pc[b] - pc[a]);
    }
    if (!empty.empty()) {
      // Move each empty centre onto the point that currently costs most (weighted, else unweighted).
      for (int t = 0; t < k; ++t)
        for (int64_t i = bnd[t]; i < bnd[t + 1]; ++i) {
          const double e = (double)d.v[i] - cent[t];
          tmp[i] = e * e;
        }
      double wsum = 0;
      for (int64_t i = 0; i < m; ++i) wsum += d.w[i] * tmp[i];
      for (int t : empty) {
        int64_t bi = 0;
        double bv = -1;
        for (int64_t i = 0; i < m; ++i) {
          const double v = wsum > 0 ? d.w[i] * tmp[i] : tmp[i];
          if (v > bv) bv = v, bi = i;
        }
        cent[t] = d.v[bi];
        tmp[bi] = 0;
      }
      last_bnd.clear();  // force another assignment pass
    }
  }
  Codebook cb;
  cb.centroids.resize(k);
  for (int t = 0; t < k; ++t) cb.centroids[t] = (float)cent[t];
  std::sort(cb.centroids.begin(), cb.centroids.end());
  cb.objective = objective_used(cb.centroids, x, w, n, d.unit);
  return cb;
}

}  // namespace sqz::quant

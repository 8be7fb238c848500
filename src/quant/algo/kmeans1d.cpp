#include "quant/algo/kmeans1d.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "core/error.h"
#include "kernels/cpu/isa.h"
#include "quant/algo/kmeans1d_dp.h"

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
  // One branch-free pass (vectorised) in the common case; the per-value checks only find the culprit.
  // On the bits: an all-ones exponent is inf or NaN; above 0x80000000 is a negative other than -0.0.
  uint32_t bad = 0;
  for (int64_t i = 0; i < n; ++i) bad |= (std::bit_cast<uint32_t>(x[i]) & 0x7F800000u) == 0x7F800000u;
  if (w)
    for (int64_t i = 0; i < n; ++i) {
      const uint32_t u = std::bit_cast<uint32_t>(w[i]);
      bad |= ((u & 0x7F800000u) == 0x7F800000u) | (u > 0x80000000u);
    }
  if (!bad) return;
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

// An order-preserving map of finite floats onto uint32 (negatives reversed below the positives), so that
// the values can be radix-sorted as integers; -0.0 and +0.0 stay distinct keys but adjacent.
uint32_t sort_key(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

float key_value(uint32_t key) {
  const uint32_t u = (key & 0x80000000u) ? (key & 0x7FFFFFFFu) : ~key;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Sorts by the upper 32 bits (the key; the lower half carries the weight's bits along): LSD radix in
// four byte passes, skipping a pass whose byte is the same in every entry. A row of 4096 sorts in about
// a tenth of std::sort's time (which spends most of it on mispredicted comparisons).
void sort_by_key(std::vector<uint64_t>& a, std::vector<uint64_t>& tmp) {
  const size_t n = a.size();
  if (n < 128) {
    std::sort(a.begin(), a.end());
    return;
  }
  tmp.resize(n);
  uint32_t hist[4][256] = {};
  for (const uint64_t e : a) {
    ++hist[0][(e >> 32) & 255];
    ++hist[1][(e >> 40) & 255];
    ++hist[2][(e >> 48) & 255];
    ++hist[3][e >> 56];
  }
  uint64_t* src = a.data();
  uint64_t* dst = tmp.data();
  for (int p = 0; p < 4; ++p) {
    const int shift = 32 + 8 * p;
    if (hist[p][(src[0] >> shift) & 255] == n) continue;
    uint32_t next[256];
    uint32_t sum = 0;
    for (int b = 0; b < 256; ++b) next[b] = sum, sum += hist[p][b];
    for (size_t i = 0; i < n; ++i) dst[next[(src[i] >> shift) & 255]++] = src[i];
    std::swap(src, dst);
  }
  if (src != a.data()) std::copy(src, src + n, a.data());
}

void make_distinct(const float* x, const float* w, int64_t n, Distinct& d, std::vector<uint64_t>& keys,
                   std::vector<uint64_t>& tmp) {
  d.unit = all_zero_weights(w, n);
  keys.resize((size_t)n);
  for (int64_t i = 0; i < n; ++i) {
    const float wi = d.unit ? 1.0f : w[i];
    uint32_t wbits;
    std::memcpy(&wbits, &wi, 4);
    keys[i] = (uint64_t)sort_key(x[i]) << 32 | wbits;
  }
  sort_by_key(keys, tmp);
  // Without branches: checkpoints stored in fp16 repeat values often and irregularly, so an "is this a
  // new value" branch would mispredict; the running sums are only chained through runs of equal values.
  d.v.resize((size_t)n);
  d.w.assign((size_t)n, 0.0);
  d.c.assign((size_t)n, 0);
  int64_t m = 0;
  float last = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float v = key_value((uint32_t)(keys[i] >> 32));
    const uint32_t wbits = (uint32_t)keys[i];
    float wi;
    std::memcpy(&wi, &wbits, 4);
    m += (i == 0) | (v != last);  // -0.0 == +0.0: one value
    d.v[m - 1] = v;
    d.w[m - 1] += wi;
    d.c[m - 1] += 1;
    last = v;
  }
  d.v.resize((size_t)m), d.w.resize((size_t)m), d.c.resize((size_t)m);
}

Distinct make_distinct(const float* x, const float* w, int64_t n) {
  Distinct d;
  std::vector<uint64_t> keys, tmp;
  make_distinct(x, w, n, d, keys, tmp);
  return d;
}

double objective_used(const std::vector<float>& c, const float* x, const float* w, int64_t n, bool unit) {
  return kmeans1d_objective(c.data(), (int)c.size(), x, unit ? nullptr : w, n);
}

// Fewer distinct values than centroids: the values themselves, padded by repeating the largest (or zeros
// when there are no values at all), with their objective over x.
Codebook trivial_codebook(const Distinct& d, int k, const float* x, const float* w, int64_t n) {
  Codebook cb;
  cb.centroids = d.v;
  const float pad = d.v.empty() ? 0.0f : d.v.back();
  cb.centroids.resize(k, pad);
  cb.objective = objective_used(cb.centroids, x, w, n, d.unit);
  return cb;
}

// The portable kernel of the dynamic programme (kmeans1d_dp.h), with the correctly rounded quotient.
struct ScalarKernel {
  static double candidate(const kmeans_dp::Tables& T, int64_t i, int64_t j) {
    const double W = T.pw[j] - T.pw[i], s = T.p1[j] - T.p1[i];
    return W > 0 ? T.a[i] - s * s / W : T.a[i];  // W = 0: a zero-weight segment (s = 0 too)
  }
  static void first_layer(const kmeans_dp::Tables& T, double* out, int64_t jhi) {
    for (int64_t j = 1; j <= jhi; ++j) {
      const double W = T.pw[j], s = T.p1[j];
      const double c = W > 0 ? T.p2[j] - s * s / W : 0.0;
      out[j] = c > 0 ? c : 0;  // rounding can leave a tiny negative
    }
  }
  static void range_min(const kmeans_dp::Tables& T, int64_t j, int64_t lo, int64_t hi, double& best, int64_t& arg) {
    best = std::numeric_limits<double>::infinity();
    arg = lo;
    for (int64_t i = lo; i <= hi; ++i) {
      const double v = candidate(T, i, j);
      if (v < best) best = v, arg = i;
    }
  }
  // One j at a time, each from its left neighbour's split point on (monotone), which lanes cannot do.
  static void block_min(const kmeans_dp::Tables& T, int64_t j0, int nj, int64_t lo, int64_t /*lo_rest*/, int64_t hi,
                        double* cur, int32_t* opt) {
    for (int64_t j = j0; j < j0 + nj; ++j) {
      double best;
      int64_t arg;
      range_min(T, j, j > j0 ? std::max<int64_t>(lo, opt[j - 1]) : lo, std::min(hi, j - 1), best, arg);
      cur[j] = best + T.p2[j];
      opt[j] = (int32_t)arg;
    }
  }
};

// Per-thread buffers of kmeans1d_exact, kept between calls: SqueezeLLM runs it once per weight row, and
// fresh allocations of this size (a few hundred KiB for k = 8 and 11008 values) would be page-faulted in
// on every row.
struct ExactWorkspace {
  Distinct d;
  std::vector<uint64_t> keys, tmp;
  std::vector<double> pw, p1, p2, prev, cur, a;
  std::vector<int32_t> opt;
};

// Centred prefix sums of w, w v, w v^2 over the distinct values (index j covers [0, j)), in four
// chunks whose chains of additions run interleaved, each chunk then shifted by the totals before it:
// the same rounding error (relative to the running sums) as one sequential pass, a quarter of the
// latency.
void prefix_sums(const Distinct& d, double center, ExactWorkspace& ws) {
  const int64_t m = (int64_t)d.v.size();
  ws.pw.resize(m + 1), ws.p1.resize(m + 1), ws.p2.resize(m + 1);
  double* pw = ws.pw.data();
  double* p1 = ws.p1.data();
  double* p2 = ws.p2.data();
  pw[0] = p1[0] = p2[0] = 0;
  constexpr int kChunks = 4;
  const int64_t len = m / kChunks;  // chunk c covers [c len, (c + 1) len), the last one up to m
  double sw[kChunks] = {}, s1[kChunks] = {}, s2[kChunks] = {};
  for (int64_t r = 0; r < len; ++r)
    for (int c = 0; c < kChunks; ++c) {
      const int64_t i = c * len + r;
      const double v = (double)d.v[i] - center;
      pw[i + 1] = (sw[c] += d.w[i]);
      p1[i + 1] = (s1[c] += d.w[i] * v);
      p2[i + 1] = (s2[c] += d.w[i] * v * v);
    }
  for (int64_t i = kChunks * len; i < m; ++i) {
    const double v = (double)d.v[i] - center;
    pw[i + 1] = (sw[kChunks - 1] += d.w[i]);
    p1[i + 1] = (s1[kChunks - 1] += d.w[i] * v);
    p2[i + 1] = (s2[kChunks - 1] += d.w[i] * v * v);
  }
  double ow = 0, o1 = 0, o2 = 0;
  for (int c = 1; c < kChunks; ++c) {
    ow += sw[c - 1], o1 += s1[c - 1], o2 += s2[c - 1];
    const int64_t e = c + 1 < kChunks ? (c + 1) * len : m;
    for (int64_t i = c * len + 1; i <= e; ++i) pw[i] += ow, p1[i] += o1, p2[i] += o2;
  }
}

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

namespace {

// For small codebooks the binary search's mispredicted branches cost more than counting the midpoints
// below x: with ascending midpoints that count is the binary search's answer, and a loop over a block of
// values per midpoint vectorises.
constexpr int kCountMax = 16;
constexpr int64_t kCountBlock = 64;

void count_below(const double* mid, int nmid, const float* x, int64_t len, int32_t* cnt) {
  for (int64_t l = 0; l < len; ++l) cnt[l] = 0;
  for (int t = 0; t < nmid; ++t) {
    const double m = mid[t];
    for (int64_t l = 0; l < len; ++l) cnt[l] += (double)x[l] > m;
  }
}

void midpoints(const float* c, int k, double* mid) {
  for (int t = 0; t + 1 < k; ++t) mid[t] = 0.5 * ((double)c[t] + (double)c[t + 1]);
}

}  // namespace

void assign_nearest(const float* c, int k, const float* x, int64_t n, uint8_t* idx) {
  SQZ_CHECK(k >= 1 && k <= 256, "assign_nearest: k = {} must be in [1, 256]", k);
  for (int i = 0; i + 1 < k; ++i)
    SQZ_CHECK(c[i] <= c[i + 1], "assign_nearest: centroids must be ascending ({} > {} at {})", c[i], c[i + 1], i);
  if (k > kCountMax) {
    for (int64_t i = 0; i < n; ++i) idx[i] = assign_nearest(c, k, x[i]);
    return;
  }
  double mid[kCountMax];
  midpoints(c, k, mid);
  uint8_t lowest[kCountMax];  // the lowest index holding the same centroid value
  for (int t = 0; t < k; ++t) lowest[t] = (t > 0 && c[t - 1] == c[t]) ? lowest[t - 1] : (uint8_t)t;
  int32_t cnt[kCountBlock];
  for (int64_t i0 = 0; i0 < n; i0 += kCountBlock) {
    const int64_t len = std::min(kCountBlock, n - i0);
    count_below(mid, k - 1, x + i0, len, cnt);
    for (int64_t l = 0; l < len; ++l) idx[i0 + l] = lowest[cnt[l]];
  }
}

double kmeans1d_objective(const float* c, int k, const float* x, const float* w, int64_t n) {
  double s = 0;
  if (k > kCountMax) {
    for (int64_t i = 0; i < n; ++i) {
      const double d = (double)x[i] - (double)c[assign_nearest(c, k, x[i])];
      s += (w ? (double)w[i] : 1.0) * d * d;
    }
    return s;
  }
  double mid[kCountMax];
  midpoints(c, k, mid);
  int32_t cnt[kCountBlock];
  double e[kCountBlock];
  for (int64_t i0 = 0; i0 < n; i0 += kCountBlock) {
    const int64_t len = std::min(kCountBlock, n - i0);
    count_below(mid, k - 1, x + i0, len, cnt);
    for (int64_t l = 0; l < len; ++l) {
      const double d = (double)x[i0 + l] - (double)c[cnt[l]];
      e[l] = (w ? (double)w[i0 + l] : 1.0) * d * d;
    }
    for (int64_t l = 0; l < len; ++l) s += e[l];  // in index order, as the per-value loop above
  }
  return s;
}

Codebook kmeans1d_exact(const float* x, const float* w, int64_t n, int k) {
  check_args(x, w, n, k, "kmeans1d_exact");
  thread_local ExactWorkspace ws;
  Distinct& d = ws.d;
  make_distinct(x, w, n, d, ws.keys, ws.tmp);
  const int64_t m = (int64_t)d.v.size();
  if (m <= k) return trivial_codebook(d, k, x, w, n);
  // Centre on the weighted mean so the segment variances are not differences of large squares (any
  // value near the mean does; four partial sums keep the loop from waiting on one chain of additions).
  double sw[4] = {0, 0, 0, 0}, swx[4] = {0, 0, 0, 0};
  for (int64_t i = 0; i + 4 <= m; i += 4)
    for (int l = 0; l < 4; ++l) sw[l] += d.w[i + l], swx[l] += d.w[i + l] * d.v[i + l];
  for (int64_t i = m & ~int64_t{3}; i < m; ++i) sw[0] += d.w[i], swx[0] += d.w[i] * d.v[i];
  const double center = ((swx[0] + swx[1]) + (swx[2] + swx[3])) / ((sw[0] + sw[1]) + (sw[2] + sw[3]));  // sw > 0
  prefix_sums(d, center, ws);
  std::vector<int64_t> bound(k + 1);
  bound[0] = 0, bound[k] = m;
  if (k >= 2) {
    ws.prev.resize(m + 1), ws.cur.resize(m + 1), ws.a.resize(m + 1), ws.opt.resize((size_t)(k + 1) * (m + 1));
    const bool zero_weights = std::find(d.w.begin(), d.w.end(), 0.0) != d.w.end();
    const kmeans_dp::Tables T{.m = m, .pw = ws.pw.data(), .p1 = ws.p1.data(), .p2 = ws.p2.data(),
                              .prev = ws.prev.data(), .cur = ws.cur.data(), .a = ws.a.data(),
                              .opt = ws.opt.data(), .zero_weights = zero_weights};
    switch (kernels::active_isa()) {
      case kernels::Isa::Avx512: kmeans_dp::solve_avx512(T, k, bound.data()); break;
      case kernels::Isa::Avx2: kmeans_dp::solve_avx2(T, k, bound.data()); break;
      case kernels::Isa::Scalar: kmeans_dp::solve<ScalarKernel>(T, k, bound.data()); break;
    }
  }
  // Centroids: the weighted mean of each segment summed directly, not from prefix differences, which
  // lose the small weights after a very large one; the unweighted mean for a zero-weight segment.
  Codebook cb;
  cb.centroids.resize(k);
  for (int t = 0; t < k; ++t) {
    const int64_t b = bound[t], e = bound[t + 1];
    double W[4] = {0, 0, 0, 0}, S[4] = {0, 0, 0, 0};
    int64_t i = b;
    for (; i + 4 <= e; i += 4)
      for (int l = 0; l < 4; ++l) W[l] += d.w[i + l], S[l] += d.w[i + l] * ((double)d.v[i + l] - center);
    for (; i < e; ++i) W[0] += d.w[i], S[0] += d.w[i] * ((double)d.v[i] - center);
    const double Wt = (W[0] + W[1]) + (W[2] + W[3]), St = (S[0] + S[1]) + (S[2] + S[3]);
    double mean = 0;
    if (Wt > 0) {
      mean = St / Wt;
    } else {
      double C = 0, U = 0;
      for (i = b; i < e; ++i) C += (double)d.c[i], U += (double)d.c[i] * ((double)d.v[i] - center);
      mean = U / C;
    }
    cb.centroids[t] = (float)(mean + center);
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

// AVX2 kernel of the exact k-means dynamic programme (see kmeans1d_dp.h): four i (range_min) or four j
// (block_min) per vector, in double. AVX2 has no double reciprocal estimate, so the quotient is vdivpd,
// correctly rounded like the scalar kernel's: the same candidate values bit for bit.
#include <immintrin.h>

#include <cfloat>

#include "quant/algo/kmeans1d_dp.h"

namespace sqz::quant::kmeans_dp {

namespace {

// a - s^2 / W lane by lane; W = 0 (a zero-weight segment, then s = 0 too) is raised to DBL_MIN so the
// quotient is 0 rather than NaN, which leaves every other W (at least the smallest float) unchanged.
inline __m256d candidate(__m256d a, __m256d W, __m256d s) {
  W = _mm256_max_pd(W, _mm256_set1_pd(DBL_MIN));
  return _mm256_sub_pd(a, _mm256_div_pd(_mm256_mul_pd(s, s), W));
}

inline __m256i iota4() { return _mm256_setr_epi64x(0, 1, 2, 3); }

// Lanes [0, n) of four (n clamped to 0..4) as a mask vector for maskload / blendv.
inline __m256i head_mask(int64_t n) {
  return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n < 0 ? 0 : n), iota4());
}

// Running minimum per lane with the i that gave it; strict "<" keeps the first i among equal values.
struct Best {
  __m256d v = _mm256_set1_pd(__builtin_inf());
  __m256i arg = _mm256_setzero_si256();
  Best() = default;
  explicit Best(int64_t lo) : arg(_mm256_set1_epi64x(lo)) {}
  void update(__m256d cand, __m256i vi, __m256i ok) {
    const __m256d upd = _mm256_and_pd(_mm256_cmp_pd(cand, v, _CMP_LT_OQ), _mm256_castsi256_pd(ok));
    v = _mm256_blendv_pd(v, cand, upd);
    arg = _mm256_castpd_si256(_mm256_blendv_pd(_mm256_castsi256_pd(arg), _mm256_castsi256_pd(vi), upd));
  }
  // Lane by lane: the smaller value, the smaller i on a tie.
  void merge(const Best& o) {
    const __m256d lt = _mm256_cmp_pd(o.v, v, _CMP_LT_OQ);
    const __m256d eq = _mm256_and_pd(_mm256_cmp_pd(o.v, v, _CMP_EQ_OQ),
                                     _mm256_castsi256_pd(_mm256_cmpgt_epi64(arg, o.arg)));
    const __m256d take = _mm256_or_pd(lt, eq);
    v = _mm256_blendv_pd(v, o.v, take);
    arg = _mm256_castpd_si256(_mm256_blendv_pd(_mm256_castsi256_pd(arg), _mm256_castsi256_pd(o.arg), take));
  }
};

struct Avx2Kernel {
  static void first_layer(const Tables& T, double* out, int64_t jhi) {
    for (int64_t j = 1; j <= jhi; j += 4) {
      const __m256i mk = head_mask(jhi - j + 1);
      const __m256d c = candidate(_mm256_maskload_pd(T.p2 + j, mk), _mm256_maskload_pd(T.pw + j, mk),
                                  _mm256_maskload_pd(T.p1 + j, mk));
      _mm256_maskstore_pd(out + j, mk, _mm256_max_pd(c, _mm256_setzero_pd()));
    }
  }

  // Two running minima over alternate vectors of i, so the compare-and-blend chain of one does not hold
  // up the next division.
  static void range_min(const Tables& T, int64_t j, int64_t lo, int64_t hi, double& best, int64_t& arg) {
    const __m256d pwj = _mm256_set1_pd(T.pw[j]), p1j = _mm256_set1_pd(T.p1[j]);
    auto at = [&](int64_t i) {
      return candidate(_mm256_loadu_pd(T.a + i), _mm256_sub_pd(pwj, _mm256_loadu_pd(T.pw + i)),
                       _mm256_sub_pd(p1j, _mm256_loadu_pd(T.p1 + i)));
    };
    const __m256i all = _mm256_set1_epi64x(-1), step = _mm256_set1_epi64x(4);
    Best b0(lo), b1(lo);
    __m256i vi = _mm256_add_epi64(_mm256_set1_epi64x(lo), iota4());
    int64_t i = lo;
    for (; i + 8 <= hi + 1; i += 8) {
      b0.update(at(i), vi, all);
      b1.update(at(i + 4), _mm256_add_epi64(vi, step), all);
      vi = _mm256_add_epi64(vi, _mm256_add_epi64(step, step));
    }
    if (i + 4 <= hi + 1) {
      b0.update(at(i), vi, all);
      i += 4;
      vi = _mm256_add_epi64(vi, step);
    }
    if (i <= hi) {
      const __m256i mk = head_mask(hi - i + 1);
      const __m256d v = candidate(_mm256_maskload_pd(T.a + i, mk), _mm256_sub_pd(pwj, _mm256_maskload_pd(T.pw + i, mk)),
                                  _mm256_sub_pd(p1j, _mm256_maskload_pd(T.p1 + i, mk)));
      b1.update(v, vi, mk);
    }
    b0.merge(b1);
    alignas(32) double v[4];
    alignas(32) int64_t ix[4];
    _mm256_store_pd(v, b0.v);
    _mm256_store_si256((__m256i*)ix, b0.arg);
    best = v[0], arg = ix[0];
    for (int l = 1; l < 4; ++l)
      if (v[l] < best || (v[l] == best && ix[l] < arg)) best = v[l], arg = ix[l];
  }

  // Lanes j0 .. j0 + nj - 1 in kAnchorStep / 4 vectors sharing each i's loads.
  static void block_min(const Tables& T, int64_t j0, int nj, int64_t lo, int64_t lo_rest, int64_t hi, double* cur,
                        int32_t* opt) {
    constexpr int V = (int)(kAnchorStep / 4);
    __m256d pwj[V], p1j[V];
    __m256i vj[V];
    int nv = 0;  // vectors holding at least one lane
    for (int q = 0; q < V && 4 * q < nj; ++q, ++nv) {
      const __m256i mk = head_mask(nj - 4 * q);
      pwj[q] = _mm256_maskload_pd(T.pw + j0 + 4 * q, mk);
      p1j[q] = _mm256_maskload_pd(T.p1 + j0 + 4 * q, mk);
      vj[q] = _mm256_add_epi64(_mm256_set1_epi64x(j0 + 4 * q), iota4());
    }
    Best b[V];
    for (int q = 0; q < nv; ++q) b[q] = Best(lo);
    const __m256i all = _mm256_set1_epi64x(-1);
    auto step = [&](int64_t i, int upto, bool masked) {
      const __m256d ai = _mm256_set1_pd(T.a[i]), pwi = _mm256_set1_pd(T.pw[i]), p1i = _mm256_set1_pd(T.p1[i]);
      const __m256i vi = _mm256_set1_epi64x(i);
      for (int q = 0; q < upto; ++q) {
        const __m256d v = candidate(ai, _mm256_sub_pd(pwj[q], pwi), _mm256_sub_pd(p1j[q], p1i));
        b[q].update(v, vi, masked ? _mm256_cmpgt_epi64(vj[q], vi) : all);
      }
    };
    // Below lo_rest only the lanes j0 .. j0 + 7 can have their optimum (kmeans1d_dp.h); below j0 every
    // lane's segment [i, j) is non-empty (lanes past nj are computed and not stored); from j0 on, lane j
    // takes only i < j.
    const int first = nv < 2 ? nv : 2;
    int64_t i = lo;
    const int64_t e = std::min(hi, j0 - 1);
    for (const int64_t e1 = std::min(e, lo_rest - 1); i <= e1; ++i) step(i, first, false);
    for (; i <= e; ++i) step(i, nv, false);
    for (; i <= hi; ++i) step(i, nv, true);
    for (int q = 0; q < nv; ++q) {
      alignas(32) double v[4];
      alignas(32) int64_t ix[4];
      _mm256_store_pd(v, b[q].v);
      _mm256_store_si256((__m256i*)ix, b[q].arg);
      for (int l = 0; l < 4 && 4 * q + l < nj; ++l) {
        const int64_t j = j0 + 4 * q + l;
        cur[j] = v[l] + T.p2[j];
        opt[j] = (int32_t)ix[l];
      }
    }
  }
};

}  // namespace

void solve_avx2(const Tables& T, int k, int64_t* bound) { solve<Avx2Kernel>(T, k, bound); }

}  // namespace sqz::quant::kmeans_dp

// AVX-512 kernel of the exact k-means dynamic programme (see kmeans1d_dp.h): eight i (range_min) or eight
// j (block_min) per vector, in double.
//
// The quotient: vdivpd on zmm registers made a scan of eight candidates take 1.75x as long as one
// without any division (it issues once per ~16 cycles). So 1 / W comes from vrcp14pd (relative error
// < 2^-14) and two Newton steps r <- r + r (1 - W r), which cost 10-15 % over no division at all and
// leave r within a few ulps of the rounded reciprocal (2^-56 from the iteration, plus the rounding of the
// steps). The values then differ from the scalar and AVX2 kernels' in the last bits only, so all find the
// same optimum up to partitions tied that closely, which differ in objective by as little.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cfloat>

#include "quant/algo/kmeans1d_dp.h"

namespace sqz::quant::kmeans_dp {

namespace {

inline __m512d recip(__m512d W) {
  const __m512d one = _mm512_set1_pd(1.0);
  __m512d r = _mm512_rcp14_pd(W);
  r = _mm512_fmadd_pd(r, _mm512_fnmadd_pd(W, r, one), r);
  r = _mm512_fmadd_pd(r, _mm512_fnmadd_pd(W, r, one), r);
  return r;
}

// a - s^2 / W lane by lane; with zero weights about, W = 0 (then s = 0) is raised to DBL_MIN so the
// quotient is 0 rather than NaN.
template <bool ZeroWeights>
inline __m512d candidate(__m512d a, __m512d W, __m512d s) {
  if constexpr (ZeroWeights) W = _mm512_max_pd(W, _mm512_set1_pd(DBL_MIN));
  return _mm512_fnmadd_pd(_mm512_mul_pd(s, s), recip(W), a);
}

inline __mmask8 head_mask(int64_t n) { return n >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << n) - 1); }

template <bool ZeroWeights>
struct Avx512Kernel {
  static void first_layer(const Tables& T, double* out, int64_t jhi) {
    for (int64_t j = 1; j <= jhi; j += 8) {
      const __mmask8 mk = head_mask(jhi - j + 1);
      const __m512d c = candidate<ZeroWeights>(_mm512_maskz_loadu_pd(mk, T.p2 + j), _mm512_maskz_loadu_pd(mk, T.pw + j),
                                               _mm512_maskz_loadu_pd(mk, T.p1 + j));
      _mm512_mask_storeu_pd(out + j, mk, _mm512_max_pd(c, _mm512_setzero_pd()));
    }
  }

  // Running minimum of one vector of candidates per lane, with the i that gave it; strict "<" keeps the
  // first i among equal values.
  struct Best {
    __m512d v = _mm512_set1_pd(__builtin_inf());
    __m512i arg;
    Best() = default;
    explicit Best(int64_t lo) : arg(_mm512_set1_epi64(lo)) {}
    void update(__m512d cand, __m512i vi, __mmask8 ok) {
      const __mmask8 upd = _mm512_mask_cmp_pd_mask(ok, cand, v, _CMP_LT_OQ);
      v = _mm512_mask_mov_pd(v, upd, cand);
      arg = _mm512_mask_mov_epi64(arg, upd, vi);
    }
    // Lane by lane: the smaller value, the smaller i on a tie.
    void merge(const Best& o) {
      const __mmask8 lt = _mm512_cmp_pd_mask(o.v, v, _CMP_LT_OQ);
      const __mmask8 eq = _mm512_cmp_pd_mask(o.v, v, _CMP_EQ_OQ) & _mm512_cmplt_epi64_mask(o.arg, arg);
      v = _mm512_mask_mov_pd(v, lt | eq, o.v);
      arg = _mm512_mask_mov_epi64(arg, lt | eq, o.arg);
    }
  };

  // Two running minima over alternate vectors of i: the compare-and-select chain of a single one holds up
  // the next step (long scans measured 3.0 ns per vector with one, 2.8 with two; four gain little more
  // and cost more set-up in the many short scans).
  static void range_min(const Tables& T, int64_t j, int64_t lo, int64_t hi, double& best, int64_t& arg) {
    const __m512d pwj = _mm512_set1_pd(T.pw[j]), p1j = _mm512_set1_pd(T.p1[j]);
    auto at = [&](int64_t i) {
      return candidate<ZeroWeights>(_mm512_loadu_pd(T.a + i), _mm512_sub_pd(pwj, _mm512_loadu_pd(T.pw + i)),
                                    _mm512_sub_pd(p1j, _mm512_loadu_pd(T.p1 + i)));
    };
    Best b0(lo), b1(lo);
    __m512i vi = _mm512_add_epi64(_mm512_set1_epi64(lo), _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
    const __m512i step = _mm512_set1_epi64(8), step2 = _mm512_set1_epi64(16);
    int64_t i = lo;
    for (; i + 16 <= hi + 1; i += 16) {
      b0.update(at(i), vi, 0xFF);
      b1.update(at(i + 8), _mm512_add_epi64(vi, step), 0xFF);
      vi = _mm512_add_epi64(vi, step2);
    }
    if (i + 8 <= hi + 1) {
      b0.update(at(i), vi, 0xFF);
      i += 8;
      vi = _mm512_add_epi64(vi, step);
    }
    if (i <= hi) {
      const __mmask8 mk = head_mask(hi - i + 1);
      const __m512d v = candidate<ZeroWeights>(_mm512_maskz_loadu_pd(mk, T.a + i),
                                               _mm512_sub_pd(pwj, _mm512_maskz_loadu_pd(mk, T.pw + i)),
                                               _mm512_sub_pd(p1j, _mm512_maskz_loadu_pd(mk, T.p1 + i)));
      b1.update(v, vi, mk);
    }
    b0.merge(b1);
    best = _mm512_reduce_min_pd(b0.v);
    const __mmask8 at_min = _mm512_cmp_pd_mask(b0.v, _mm512_set1_pd(best), _CMP_EQ_OQ);
    arg = _mm512_mask_reduce_min_epi64(at_min, b0.arg);  // the smallest i among lanes holding the minimum
  }

  // Lanes j0 .. j0 + nj - 1 in kAnchorStep / 8 vectors sharing each i's loads.
  static void block_min(const Tables& T, int64_t j0, int nj, int64_t lo, int64_t lo_rest, int64_t hi, double* cur,
                        int32_t* opt) {
    constexpr int V = (int)(kAnchorStep / 8);
    __m512d pwj[V], p1j[V];
    __m512i vj[V];
    __mmask8 lanes[V];
    for (int q = 0; q < V; ++q) {
      lanes[q] = head_mask(nj - 8 * q > 0 ? nj - 8 * q : 0);
      pwj[q] = _mm512_maskz_loadu_pd(lanes[q], T.pw + j0 + 8 * q);
      p1j[q] = _mm512_maskz_loadu_pd(lanes[q], T.p1 + j0 + 8 * q);
      vj[q] = _mm512_add_epi64(_mm512_set1_epi64(j0 + 8 * q), _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
    }
    Best b[V];
    for (int q = 0; q < V; ++q) b[q] = Best(lo);
    auto step = [&](int64_t i, int nv, bool masked) {
      const __m512d ai = _mm512_set1_pd(T.a[i]), pwi = _mm512_set1_pd(T.pw[i]), p1i = _mm512_set1_pd(T.p1[i]);
      const __m512i vi = _mm512_set1_epi64(i);
      for (int q = 0; q < nv; ++q) {
        const __m512d v = candidate<ZeroWeights>(ai, _mm512_sub_pd(pwj[q], pwi), _mm512_sub_pd(p1j[q], p1i));
        b[q].update(v, vi, masked ? _mm512_cmplt_epi64_mask(vi, vj[q]) : (__mmask8)0xFF);
      }
    };
    // Below lo_rest only the first vector's lanes can have their optimum. Below j0 every lane's segment
    // [i, j) is non-empty (lanes past nj are computed and not stored); from j0 on, lane j takes only i < j.
    int64_t i = lo;
    const int64_t e = std::min(hi, j0 - 1);
    for (const int64_t e1 = std::min(e, lo_rest - 1); i <= e1; ++i) step(i, 1, false);
    for (; i <= e; ++i) step(i, V, false);
    for (; i <= hi; ++i) step(i, V, true);
    for (int q = 0; q < V; ++q) {
      if (!lanes[q]) break;
      const __m512d p2j = _mm512_maskz_loadu_pd(lanes[q], T.p2 + j0 + 8 * q);
      _mm512_mask_storeu_pd(cur + j0 + 8 * q, lanes[q], _mm512_add_pd(b[q].v, p2j));
      // opt[j0 + nj] is the next anchor, which the next block loads at once: a masked store over it
      // would stall that load (no store forwarding from masked stores), so merge and store all eight.
      int32_t* o = opt + j0 + 8 * q;
      const __m256i old = _mm256_loadu_si256((const __m256i*)o);
      _mm256_storeu_si256((__m256i*)o, _mm256_mask_blend_epi32(lanes[q], old, _mm512_cvtepi64_epi32(b[q].arg)));
    }
  }
};

}  // namespace

void solve_avx512(const Tables& T, int k, int64_t* bound) {
  if (T.zero_weights) solve<Avx512Kernel<true>>(T, k, bound);
  else solve<Avx512Kernel<false>>(T, k, bound);
}

}  // namespace sqz::quant::kmeans_dp

#include "quant/algo/uniform.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/half.h"
#include "quant/algo/parallel.h"

namespace sqz::quant {

namespace {

void check_bits(int bits) { SQZ_CHECK(bits >= 1 && bits <= 8, "uniform quantization: bits = {} not in [1, 8]", bits); }

template <typename T>
double group_error(const T* w, int64_t n, const GroupParams& p, int bits, const float* imp) {
  double e = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = (double)w[i] - (double)uniform_dequant(uniform_code((double)w[i], p, bits), p);
    e += (imp ? (double)imp[i] : 1.0) * d * d;
  }
  return e;
}

template <typename T>
GroupParams find_params(const T* w, int64_t n, const UniformOptions& o, const float* imp) {
  check_bits(o.bits);
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (int64_t i = 0; i < n; ++i) {
    SQZ_CHECK(std::isfinite((double)w[i]), "uniform quantization: weight {} is not finite", (double)w[i]);
    lo = std::min(lo, (double)w[i]), hi = std::max(hi, (double)w[i]);
  }
  if (n == 0) lo = hi = 0;
  if (o.include_zero) lo = std::min(lo, 0.0), hi = std::max(hi, 0.0);
  GroupParams best = uniform_params(lo, hi, o.bits, o.include_zero);
  if (!o.clip_search || lo == hi) return best;
  double best_err = group_error(w, n, best, o.bits, imp);
  const int steps = (int)std::floor(o.max_shrink * o.clip_grid + 1e-9);
  for (int i = 1; i <= steps; ++i) {
    const double r = 1.0 - (double)i / o.clip_grid;
    const GroupParams p = uniform_params(r * lo, r * hi, o.bits, o.include_zero);
    const double e = group_error(w, n, p, o.bits, imp);
    if (e < best_err) best_err = e, best = p;
  }
  return best;
}

}  // namespace

GroupParams uniform_find_params(const float* w, int64_t n, const UniformOptions& o, const float* imp) {
  return find_params(w, n, o, imp);
}
GroupParams uniform_find_params(const double* w, int64_t n, const UniformOptions& o, const float* imp) {
  return find_params(w, n, o, imp);
}

int64_t GroupQuant::n_groups() const {
  return group > 0 ? (cols + group - 1) / group : 0;
}

std::vector<float> GroupQuant::dequantize() const {
  std::vector<float> out((size_t)(rows * cols));
  const int64_t ng = n_groups();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t g = group_of(c);
      out[r * cols + c] = uniform_dequant(q[r * cols + c], {scales[r * ng + g], zeros[r * ng + g]});
    }
  return out;
}

GroupQuant uniform_quantize(const float* W, int64_t rows, int64_t cols, const UniformOptions& o, const float* imp) {
  check_bits(o.bits);
  SQZ_CHECK(rows >= 0 && cols >= 0, "uniform_quantize: bad shape [{}, {}]", rows, cols);
  GroupQuant g;
  g.bits = o.bits, g.rows = rows, g.cols = cols;
  g.group = (o.group <= 0 || o.group >= cols) ? std::max<int64_t>(cols, 1) : o.group;
  const int64_t ng = g.n_groups();
  g.q.resize((size_t)(rows * cols));
  g.scales.resize((size_t)(rows * ng)), g.zeros.resize((size_t)(rows * ng));
  parallel_for_rethrow(rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t gi = 0; gi < ng; ++gi) {
        const int64_t c0 = gi * g.group, c1 = std::min(cols, c0 + g.group);
        const float* w = W + r * cols + c0;
        const GroupParams p = find_params(w, c1 - c0, o, imp ? imp + c0 : nullptr);
        g.scales[r * ng + gi] = p.scale, g.zeros[r * ng + gi] = p.zero;
        for (int64_t c = c0; c < c1; ++c) g.q[r * cols + c] = uniform_code(W[r * cols + c], p, o.bits);
      }
  });
  return g;
}

}  // namespace sqz::quant

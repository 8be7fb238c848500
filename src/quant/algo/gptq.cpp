#include "quant/algo/gptq.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "quant/algo/error_feedback.h"
#include "quant/algo/linalg.h"

namespace sqz::quant {

namespace {

template <typename T>
HessianInverse prepare(const T* H, int64_t n, double percdamp, const int64_t* perm) {
  SQZ_CHECK(n >= 0, "GPTQ: bad Hessian size {}", n);
  SQZ_CHECK(percdamp >= 0, "GPTQ: percdamp {} must be >= 0", percdamp);
  HessianInverse h;
  h.n = n;
  h.dead.assign((size_t)n, 0);
  h.U.resize((size_t)(n * n));
  for (int64_t i = 0; i < n; ++i) h.dead[i] = (H[i * n + i] == 0);
  double mean = 0;
  for (int64_t i = 0; i < n; ++i) mean += h.dead[i] ? 1.0 : (double)H[i * n + i];
  mean = n ? mean / n : 0;
  h.damp = percdamp * mean;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t pi = perm ? perm[i] : i;
    const T* src = H + pi * n;
    double* dst = h.U.data() + i * n;
    if (perm)
      for (int64_t j = 0; j < n; ++j) dst[j] = (double)src[perm[j]];
    else
      for (int64_t j = 0; j < n; ++j) dst[j] = (double)src[j];
    if (h.dead[pi]) dst[i] = 1.0;
    dst[i] += h.damp;
  }
  inverse_cholesky_upper_inplace(h.U.data(), n,
                                 "GPTQ: Hessian is not positive definite even after dampening");
  return h;
}

// Column indices by decreasing H_ii (dead columns count as 1, as after GPTQ's dead fix), stable.
template <typename T>
std::vector<int64_t> perm_by_diag(const T* H, int64_t n) {
  std::vector<int64_t> p((size_t)n);
  std::iota(p.begin(), p.end(), int64_t{0});
  auto diag = [&](int64_t i) { return H[i * n + i] == 0 ? 1.0 : (double)H[i * n + i]; };
  std::stable_sort(p.begin(), p.end(), [&](int64_t a, int64_t b) { return diag(a) > diag(b); });
  return p;
}

// Uniform grid with per-(row, group) parameters computed at group starts.
class UniformColumns : public ColumnQuantizer {
 public:
  UniformColumns(const UniformOptions& o, GroupQuant& g, int64_t group)
      : o_(o), g_(g), group_(group), ng_(g.n_groups()) {}
  void begin_group(int64_t row, int64_t c0, const double* w, int64_t n) override {
    const GroupParams p = uniform_find_params(w, n, o_, nullptr);
    g_.scales[row * ng_ + c0 / group_] = p.scale;
    g_.zeros[row * ng_ + c0 / group_] = p.zero;
  }
  double quantize(int64_t row, int64_t col, double w) override {
    const int64_t k = row * ng_ + col / group_;
    const GroupParams p{g_.scales[k], g_.zeros[k]};
    const uint8_t code = uniform_code(w, p, o_.bits);
    g_.q[row * g_.cols + col] = code;
    return (double)uniform_dequant(code, p);
  }

 private:
  const UniformOptions& o_;
  GroupQuant& g_;
  int64_t group_, ng_;
};

template <typename T>
GptqResult run(const float* W, int64_t rows, int64_t cols, const T* H, const GptqOptions& opt) {
  SQZ_CHECK(rows >= 0 && cols >= 0, "GPTQ: bad shape [{}, {}]", rows, cols);
  GptqResult res;
  if (opt.act_order) res.perm = perm_by_diag(H, cols);
  const int64_t* perm = opt.act_order ? res.perm.data() : nullptr;
  HessianInverse h = prepare(H, cols, opt.percdamp, perm);
  res.damp = h.damp;
  for (uint8_t d : h.dead) res.dead_columns += d;

  // Working copy in processing order, dead columns zeroed.
  std::vector<double> Wd((size_t)(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < cols; ++i) {
      const int64_t c = perm ? perm[i] : i;
      Wd[r * cols + i] = h.dead[c] ? 0.0 : (double)W[r * cols + c];
    }

  GroupQuant g;
  g.bits = opt.quant.bits, g.rows = rows, g.cols = cols;
  g.group = (opt.quant.group <= 0 || opt.quant.group >= cols) ? std::max<int64_t>(cols, 1) : opt.quant.group;
  const int64_t ng = g.n_groups();
  g.q.resize((size_t)(rows * cols));
  g.scales.assign((size_t)(rows * ng), 1.0f), g.zeros.assign((size_t)(rows * ng), 0.0f);
  UniformColumns qz(opt.quant, g, g.group);
  res.loss = error_feedback_quantize(Wd.data(), rows, cols, h.U.data(), g.group, qz, opt.block);

  if (perm) {
    // Codes back to the original column order; scales stay indexed by group (processing order).
    std::vector<uint8_t> q((size_t)(rows * cols));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < cols; ++i) q[r * cols + perm[i]] = g.q[r * cols + i];
    g.q.swap(q);
    g.g_idx.resize((size_t)cols);
    for (int64_t i = 0; i < cols; ++i) g.g_idx[perm[i]] = (int32_t)(i / g.group);
  }
  res.q = std::move(g);
  return res;
}

}  // namespace

HessianInverse hessian_inverse(const double* H, int64_t n, double percdamp, const int64_t* perm) {
  return prepare(H, n, percdamp, perm);
}
HessianInverse hessian_inverse(const float* H, int64_t n, double percdamp, const int64_t* perm) {
  return prepare(H, n, percdamp, perm);
}

std::vector<int64_t> act_order_perm(const double* H, int64_t n) { return perm_by_diag(H, n); }
std::vector<int64_t> act_order_perm(const float* H, int64_t n) { return perm_by_diag(H, n); }

GptqResult gptq_quantize(const float* W, int64_t rows, int64_t cols, const double* H, const GptqOptions& opt) {
  return run(W, rows, cols, H, opt);
}
GptqResult gptq_quantize(const float* W, int64_t rows, int64_t cols, const float* H, const GptqOptions& opt) {
  return run(W, rows, cols, H, opt);
}

}  // namespace sqz::quant

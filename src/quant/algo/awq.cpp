#include "quant/algo/awq.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "quant/algo/parallel.h"

namespace sqz::quant {

namespace {

int64_t effective_group(const UniformOptions& q, int64_t cols) {
  return (q.group <= 0 || q.group >= cols) ? std::max<int64_t>(cols, 1) : q.group;
}

// G = X^T X [cols x cols], full symmetric.
std::vector<float> gram(const float* X, int64_t n, int64_t cols) {
  std::vector<float> G((size_t)(cols * cols));
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)cols, (int)cols, (int)n, 1.0f, X, (int)cols, X,
              (int)cols, 0.0f, G.data(), (int)cols);
  return G;
}

// Output error of quantizing W diag(s): E = W - Q(W diag(s)) diag(1/s).
double scaled_loss(const LinearRef& L, int64_t cols, const std::vector<float>& s, const float* X, int64_t n,
                   const float* G, const UniformOptions& q) {
  std::vector<float> Ws(L.W, L.W + L.rows * cols);
  scale_columns(Ws.data(), L.rows, cols, s.data());
  const GroupQuant gq = uniform_quantize(Ws.data(), L.rows, cols, q);
  std::vector<float> E = gq.dequantize();
  for (int64_t r = 0; r < L.rows; ++r)
    for (int64_t c = 0; c < cols; ++c) E[r * cols + c] = L.W[r * cols + c] - E[r * cols + c] / s[c];
  return awq_output_error(E.data(), L.rows, cols, X, n, G);
}

}  // namespace

std::vector<float> awq_act_scale(const float* X, int64_t n, int64_t cols) {
  std::vector<double> acc((size_t)cols, 0.0);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t c = 0; c < cols; ++c) acc[c] += std::fabs((double)X[t * cols + c]);
  std::vector<float> s((size_t)cols);
  for (int64_t c = 0; c < cols; ++c) s[c] = n ? (float)(acc[c] / (double)n) : 0.0f;
  return s;
}

double awq_output_error(const float* E, int64_t rows, int64_t cols, const float* X, int64_t n, const float* G) {
  if (rows == 0 || cols == 0) return 0;
  double total = 0;
  if (G) {
    std::vector<float> Y((size_t)(rows * cols));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)cols, (int)cols, 1.0f, E, (int)cols, G,
                (int)cols, 0.0f, Y.data(), (int)cols);
    for (int64_t i = 0; i < rows * cols; ++i) total += (double)Y[i] * (double)E[i];
  } else {
    if (n == 0) return 0;
    std::vector<float> Y((size_t)(n * rows));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)rows, (int)cols, 1.0f, X, (int)cols, E,
                (int)cols, 0.0f, Y.data(), (int)rows);
    for (float y : Y) total += (double)y * (double)y;
  }
  return total;
}

std::vector<float> awq_auto_clip(const float* W, int64_t rows, int64_t cols, const float* X, int64_t n,
                                 const AwqOptions& opt) {
  const int64_t group = effective_group(opt.quant, cols);
  const int64_t ng = (cols + group - 1) / group;
  UniformOptions q = opt.quant;
  q.clip_search = false;
  const int steps = std::max(1, (int)std::floor(opt.max_shrink * opt.clip_grid + 1e-9));
  std::vector<float> best_max((size_t)(rows * ng));
  std::vector<double> best_err((size_t)rows);
  std::vector<float> G, E, Y, clamped;
  for (int64_t gi = 0; gi < ng; ++gi) {
    const int64_t c0 = gi * group, gs = std::min(cols, c0 + group) - c0;
    // Group Gram block X_g^T X_g: the group's contribution to each output is e . x_g.
    G.assign((size_t)(gs * gs), 0.0f);
    if (n > 0)
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)gs, (int)gs, (int)n, 1.0f, X + c0, (int)cols,
                  X + c0, (int)cols, 0.0f, G.data(), (int)gs);
    E.assign((size_t)(rows * gs), 0.0f), Y.assign((size_t)(rows * gs), 0.0f);
    std::fill(best_err.begin(), best_err.end(), std::numeric_limits<double>::infinity());
    for (int i = 0; i < steps; ++i) {
      const double ratio = 1.0 - (double)i / opt.clip_grid;
      parallel_for_rethrow(rows, 16, [&](int64_t r0, int64_t r1) {
        std::vector<float> cw((size_t)gs);
        for (int64_t r = r0; r < r1; ++r) {
          const float* w = W + r * cols + c0;
          float amax = 0;
          for (int64_t c = 0; c < gs; ++c) amax = std::max(amax, std::fabs(w[c]));
          const float mv = (float)(amax * ratio);
          for (int64_t c = 0; c < gs; ++c) cw[c] = std::clamp(w[c], -mv, mv);
          const GroupParams p = uniform_find_params(cw.data(), gs, q, nullptr);
          for (int64_t c = 0; c < gs; ++c)
            E[r * gs + c] = uniform_dequant(uniform_code(cw[c], p, q.bits), p) - w[c];
        }
      });
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)gs, (int)gs, 1.0f, E.data(), (int)gs,
                  G.data(), (int)gs, 0.0f, Y.data(), (int)gs);
      for (int64_t r = 0; r < rows; ++r) {
        double err = 0;
        for (int64_t c = 0; c < gs; ++c) err += (double)Y[r * gs + c] * (double)E[r * gs + c];
        if (err < best_err[r]) {
          best_err[r] = err;
          float amax = 0;
          for (int64_t c = 0; c < gs; ++c) amax = std::max(amax, std::fabs(W[r * cols + c0 + c]));
          best_max[r * ng + gi] = (float)(amax * ratio);
        }
      }
    }
  }
  return best_max;
}

void awq_apply_clip(float* W, int64_t rows, int64_t cols, int64_t group, const float* max_val) {
  const int64_t g = (group <= 0 || group >= cols) ? std::max<int64_t>(cols, 1) : group;
  const int64_t ng = (cols + g - 1) / g;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const float m = max_val[r * ng + c / g];
      W[r * cols + c] = std::clamp(W[r * cols + c], -m, m);
    }
}

AwqResult awq_quantize(const std::vector<LinearRef>& linears, int64_t cols, const float* X, int64_t n,
                       const AwqOptions& opt) {
  SQZ_CHECK(cols > 0 && n >= 0, "awq: bad shape (cols {}, tokens {})", cols, n);
  SQZ_CHECK(opt.n_grid >= 1, "awq: n_grid = {} must be >= 1", opt.n_grid);
  for (int64_t i = 0; i < n * cols; ++i) SQZ_CHECK(std::isfinite(X[i]), "awq: calibration input {} is not finite", i);
  AwqResult res;
  const std::vector<float> sx = awq_act_scale(X, n, cols);
  std::vector<double> sw;
  if (opt.duo_scaling) {
    // AutoAWQ: mean over all rows of |w| / (group max|w| + 1e-6).
    const int64_t group = effective_group(opt.quant, cols);
    sw.assign((size_t)cols, 0.0);
    int64_t total_rows = 0;
    for (const LinearRef& L : linears) {
      total_rows += L.rows;
      for (int64_t r = 0; r < L.rows; ++r)
        for (int64_t c0 = 0; c0 < cols; c0 += group) {
          const int64_t c1 = std::min(cols, c0 + group);
          double m = 0;
          for (int64_t c = c0; c < c1; ++c) m = std::max(m, (double)std::fabs(L.W[r * cols + c]));
          for (int64_t c = c0; c < c1; ++c) sw[c] += std::fabs(L.W[r * cols + c]) / (m + 1e-6);
        }
    }
    for (double& v : sw) v /= (double)std::max<int64_t>(total_rows, 1);
  }
  std::vector<float> G;
  if (n > cols) G = gram(X, n, cols);
  const float* Gp = G.empty() ? nullptr : G.data();

  std::vector<float> s((size_t)cols);
  auto make_scales = [&](double alpha) {
    double mx = 0, mn = std::numeric_limits<double>::infinity();
    std::vector<double> v((size_t)cols);
    for (int64_t c = 0; c < cols; ++c) {
      double x = std::pow((double)sx[c], alpha);
      if (opt.duo_scaling) x /= std::pow(sw[c], 1.0 - alpha) + 1e-4;
      v[c] = std::max(x, 1e-4);
      mx = std::max(mx, v[c]), mn = std::min(mn, v[c]);
    }
    const double norm = std::sqrt(mx * mn);
    for (int64_t c = 0; c < cols; ++c) s[c] = (float)(v[c] / norm);
  };

  res.grid_loss.resize(opt.n_grid);
  res.loss = std::numeric_limits<double>::infinity();
  int best = 0;
  for (int i = 0; i < opt.n_grid; ++i) {
    make_scales((double)i / opt.n_grid);
    double loss = 0;
    for (const LinearRef& L : linears) loss += scaled_loss(L, cols, s, X, n, Gp, opt.quant);
    res.grid_loss[i] = loss;
    if (loss < res.loss) res.loss = loss, best = i;
  }
  res.alpha = (double)best / opt.n_grid;
  make_scales(res.alpha);
  res.scales = s;

  // Final: clip(W diag(s)) per linear, quantized; its output loss with the clipping.
  res.final_loss = 0;
  for (const LinearRef& L : linears) {
    std::vector<float> Ws(L.W, L.W + L.rows * cols);
    scale_columns(Ws.data(), L.rows, cols, s.data());
    std::vector<float> clip;
    if (opt.auto_clip && L.clip) {
      clip = awq_auto_clip(Ws.data(), L.rows, cols, X, n, opt);
      awq_apply_clip(Ws.data(), L.rows, cols, opt.quant.group, clip.data());
    }
    GroupQuant gq = uniform_quantize(Ws.data(), L.rows, cols, opt.quant);
    std::vector<float> E = gq.dequantize();
    for (int64_t r = 0; r < L.rows; ++r)
      for (int64_t c = 0; c < cols; ++c) E[r * cols + c] = L.W[r * cols + c] - E[r * cols + c] / s[c];
    res.final_loss += awq_output_error(E.data(), L.rows, cols, X, n, Gp);
    res.clip_max.push_back(std::move(clip));
    res.quantized.push_back(std::move(gq));
  }
  return res;
}

}  // namespace sqz::quant

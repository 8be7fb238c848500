#include "train/optim.h"

#include <cmath>

#include "core/error.h"

namespace sqz::train {

double cosine_lr(const AdamWConfig& cfg, int64_t step) {
  if (cfg.warmup_steps > 0 && step < cfg.warmup_steps) return cfg.lr * (double)(step + 1) / (double)cfg.warmup_steps;
  const int64_t span = std::max<int64_t>(1, cfg.total_steps - cfg.warmup_steps);
  const double progress = std::min(1.0, (double)(step - cfg.warmup_steps) / (double)span);
  const double min_lr = cfg.min_lr_ratio * cfg.lr;
  return min_lr + 0.5 * (cfg.lr - min_lr) * (1.0 + std::cos(M_PI * progress));
}

void AdamW::add(std::string name, float* param, const float* grad, int64_t n, bool decay, double lr_scale) {
  if (!param || !grad || n <= 0) throw Error("AdamW: parameter " + name + " has no data");
  params_.push_back(Param{std::move(name), param, grad, n, decay, std::vector<float>((size_t)n, 0.f),
                          std::vector<float>((size_t)n, 0.f), lr_scale});
}

double AdamW::grad_norm() const {
  double ss = 0;
  for (const Param& p : params_)
    for (int64_t i = 0; i < p.n; ++i) ss += (double)p.g[i] * p.g[i];
  return std::sqrt(ss);
}

double AdamW::step() {
  const double norm = grad_norm();
  if (!std::isfinite(norm)) throw Error("AdamW: gradient norm is not finite (diverged); lower the learning rate");
  const double clip = cfg_.clip_norm > 0 && norm > cfg_.clip_norm ? cfg_.clip_norm / norm : 1.0;
  const double base_lr = cosine_lr(cfg_, t_);
  ++t_;
  const double bc1 = 1.0 - std::pow(cfg_.beta1, (double)t_), bc2 = 1.0 - std::pow(cfg_.beta2, (double)t_);
  const float b1 = (float)cfg_.beta1, b2 = (float)cfg_.beta2;
  for (Param& p : params_) {
    const double lr = base_lr * p.lr_scale;
    const float wd = p.decay ? (float)(lr * cfg_.weight_decay) : 0.f;
#pragma omp parallel for schedule(static) if (p.n > 65536)
    for (int64_t i = 0; i < p.n; ++i) {
      const float g = (float)(p.g[i] * clip);
      p.m[(size_t)i] = b1 * p.m[(size_t)i] + (1.f - b1) * g;
      p.v[(size_t)i] = b2 * p.v[(size_t)i] + (1.f - b2) * g * g;
      const double mhat = p.m[(size_t)i] / bc1, vhat = p.v[(size_t)i] / bc2;
      p.p[i] = (float)(p.p[i] - wd * p.p[i] - lr * mhat / (std::sqrt(vhat) + cfg_.eps));
    }
  }
  return norm;
}

}  // namespace sqz::train

// The optimizer shared by `sqz train` (pretraining from scratch) and `sqz finetune` (quantization-aware
// fine-tuning): AdamW with decoupled weight decay, global-norm gradient clipping and a linear-warmup
// cosine learning-rate schedule. Parameters are flat fp32 arrays registered once; their gradients are
// arrays of the same length that the caller fills before each step().
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace sqz::train {

struct AdamWConfig {
  double lr = 1e-3;            // peak learning rate
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double weight_decay = 0.0;   // decoupled (AdamW); applied only to params registered with decay = true
  double clip_norm = 1.0;      // global L2 norm of all gradients is clipped to this (<= 0: no clipping)
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;     // cosine decays from lr to min_lr_ratio * lr over [warmup, total]
  double min_lr_ratio = 0.1;
};

// lr at `step` (0-based): linear warmup to cfg.lr over warmup_steps, then cosine down to min_lr_ratio*lr.
double cosine_lr(const AdamWConfig& cfg, int64_t step);

class AdamW {
 public:
  explicit AdamW(AdamWConfig cfg) : cfg_(cfg) {}
  // param and grad must stay valid (same address, n elements) for the optimizer's lifetime. lr_scale
  // multiplies the scheduled lr for this parameter (e.g. its typical magnitude, so one lr moves tensors of
  // very different scales by the same relative amount).
  void add(std::string name, float* param, const float* grad, int64_t n, bool decay, double lr_scale = 1.0);
  // Global L2 norm of the registered gradients (double accumulation).
  double grad_norm() const;
  // One update with the scheduled lr; returns the gradient norm before clipping.
  double step();
  double current_lr() const { return cosine_lr(cfg_, t_); }
  // Moves the end of the cosine schedule (a time-bounded run re-estimates how many steps it will take).
  void set_total_steps(int64_t n) { cfg_.total_steps = n; }

 private:
  struct Param {
    std::string name;
    float* p;
    const float* g;
    int64_t n;
    bool decay;
    std::vector<float> m, v;
    double lr_scale = 1.0;
  };
  AdamWConfig cfg_;
  std::vector<Param> params_;
  int64_t t_ = 0;
};

}  // namespace sqz::train

// The backward pass against central finite differences in double precision, and its loss against the
// inference forward pass.
#include <gtest/gtest.h>

#include <cmath>

#include "model/backward.h"
#include "model/ops.h"
#include "support/tiny_model.h"

using namespace sqz;

namespace {

const std::vector<int> kTokens = {1, 7, 3, 60, 22, 9, 9, 41, 0, 17};

double model_loss(const LlamaModel& m, const std::vector<int>& toks) {
  const int n = (int)toks.size(), V = m.config().vocab_size;
  KVCache cache(m.config(), n);
  std::vector<float> logits((size_t)n * V);
  m.forward(toks.data(), n, cache, logits.data(), true);
  double loss = 0;
  for (int t = 0; t + 1 < n; ++t) loss += log_sum_exp(&logits[(size_t)t * V], V) - logits[(size_t)t * V + toks[t + 1]];
  return loss / (n - 1);
}

// Max over a tensor of |analytic - numeric| / max(|analytic|, |numeric|, floor), checking a sample of
// entries (every entry of small tensors). Central differences with h = 1e-5 in double have truncation
// error ~h^2 * f''' ~ 1e-10 and rounding error ~1e-16 / h ~ 1e-11, far below the 1e-4 tolerance.
double check_tensor(DenseWeights<double>& w, std::vector<double>& param, const std::vector<double>& analytic) {
  const double h = 1e-5;
  double worst = 0;
  const size_t stride = std::max<size_t>(1, param.size() / 64);
  for (size_t i = 0; i < param.size(); i += stride) {
    const double keep = param[i];
    param[i] = keep + h;
    const double lp = loss_and_grad<double>(w, kTokens.data(), (int64_t)kTokens.size(), nullptr);
    param[i] = keep - h;
    const double lm = loss_and_grad<double>(w, kTokens.data(), (int64_t)kTokens.size(), nullptr);
    param[i] = keep;
    const double num = (lp - lm) / (2 * h);
    const double den = std::max({std::fabs(num), std::fabs(analytic[i]), 1e-6});
    worst = std::max(worst, std::fabs(num - analytic[i]) / den);
  }
  return worst;
}

}  // namespace

TEST(Backward, LossMatchesInferenceForward) {
  for (RopeLayout lay : {RopeLayout::RotateHalf, RopeLayout::Interleaved}) {
    ModelConfig c = tiny_config();
    c.rope_layout = lay;
    auto m = make_random_model(c, 3);
    auto w = DenseWeights<float>::from_model(*m);
    const double a = loss_and_grad<float>(w, kTokens.data(), (int64_t)kTokens.size(), nullptr);
    const double b = model_loss(*m, kTokens);
    EXPECT_NEAR(a, b, 1e-5 * std::fabs(b));
  }
}

TEST(Backward, GradientsMatchFiniteDifferences) {
  for (int variant = 0; variant < 3; ++variant) {
    ModelConfig c = tiny_config();
    c.rope_layout = variant == 1 ? RopeLayout::Interleaved : RopeLayout::RotateHalf;
    c.tied_embeddings = false;
    auto m = make_random_model(c, 10 + variant);
    auto w = DenseWeights<double>::from_model(*m);
    if (variant == 2)  // q/k/v biases (qwen2)
      for (auto& L : w.layers)
        for (int s : {kQ, kK, kV}) {
          auto b = random_normal(L.W[s].size() / (size_t)c.dim, 100 + s, 0.1f);
          L.bias[s].assign(b.begin(), b.end());
        }
    Gradients<double> g(w);
    loss_and_grad<double>(w, kTokens.data(), (int64_t)kTokens.size(), &g);
    for (size_t l = 0; l < w.layers.size(); ++l) {
      for (int s = 0; s < kNumSlots; ++s) {
        EXPECT_LT(check_tensor(w, w.layers[l].W[s], g.layers[l].W[s]), 1e-4) << "layer " << l << " linear " << s;
        if (!w.layers[l].bias[s].empty()) {
          EXPECT_LT(check_tensor(w, w.layers[l].bias[s], g.layers[l].bias[s]), 1e-4) << "bias " << s;
        }
      }
      EXPECT_LT(check_tensor(w, w.layers[l].attn_norm, g.layers[l].attn_norm), 1e-4);
      EXPECT_LT(check_tensor(w, w.layers[l].ffn_norm, g.layers[l].ffn_norm), 1e-4);
    }
    EXPECT_LT(check_tensor(w, w.lm_head, g.lm_head), 1e-4);
    EXPECT_LT(check_tensor(w, w.final_norm, g.final_norm), 1e-4);
  }
}

#include "train/optim.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

using namespace sqz::train;

TEST(CosineLr, WarmupPeakAndFloor) {
  AdamWConfig c;
  c.lr = 1e-2;
  c.warmup_steps = 10;
  c.total_steps = 110;
  c.min_lr_ratio = 0.1;
  EXPECT_DOUBLE_EQ(cosine_lr(c, 0), 1e-3);
  EXPECT_DOUBLE_EQ(cosine_lr(c, 9), 1e-2);
  EXPECT_NEAR(cosine_lr(c, 10), 1e-2, 1e-15);
  EXPECT_NEAR(cosine_lr(c, 60), 0.5 * (1e-2 + 1e-3), 1e-12);  // half way: the mean of peak and floor
  EXPECT_NEAR(cosine_lr(c, 110), 1e-3, 1e-15);
  EXPECT_NEAR(cosine_lr(c, 500), 1e-3, 1e-15);
}

// Three steps of AdamW against the update rule written out in double precision.
TEST(AdamW, MatchesReferenceUpdateWithDecayAndClipping) {
  AdamWConfig c;
  c.lr = 0.1;
  c.weight_decay = 0.01;
  c.clip_norm = 1.0;
  c.total_steps = 3;
  c.min_lr_ratio = 1.0;  // constant lr
  std::vector<float> p = {1.f, -2.f, 0.5f}, g(3), q = {3.f};
  std::vector<float> gq(1);
  AdamW opt(c);
  opt.add("p", p.data(), g.data(), 3, true);
  opt.add("q", q.data(), gq.data(), 1, false);
  std::vector<double> rp = {1, -2, 0.5, 3}, m(4, 0), v(4, 0);
  const double grads[3][4] = {{3, 4, 0, 0}, {0.1, -0.2, 0.3, 0.05}, {-1, 2, -3, 4}};
  for (int s = 0; s < 3; ++s) {
    for (int i = 0; i < 3; ++i) g[(size_t)i] = (float)grads[s][i];
    gq[0] = (float)grads[s][3];
    double ss = 0;
    for (double x : grads[s]) ss += x * x;
    const double norm = std::sqrt(ss), clip = norm > 1.0 ? 1.0 / norm : 1.0;
    EXPECT_NEAR(opt.step(), norm, 1e-6);
    const int t = s + 1;
    for (int i = 0; i < 4; ++i) {
      const double gi = grads[s][i] * clip;
      m[i] = 0.9 * m[i] + 0.1 * gi;
      v[i] = 0.95 * v[i] + 0.05 * gi * gi;
      const double mh = m[i] / (1 - std::pow(0.9, t)), vh = v[i] / (1 - std::pow(0.95, t));
      rp[i] = rp[i] - (i < 3 ? 0.1 * 0.01 * rp[i] : 0.0) - 0.1 * mh / (std::sqrt(vh) + 1e-8);
    }
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(p[(size_t)i], rp[i], 1e-5) << "step " << s << " i " << i;
    EXPECT_NEAR(q[0], rp[3], 1e-5);
  }
}

// Minimises a convex quadratic: AdamW must reach its minimum.
TEST(AdamW, MinimisesAQuadratic) {
  AdamWConfig c;
  c.lr = 0.05;
  c.total_steps = 2000;
  c.clip_norm = 0;
  std::vector<float> x = {5.f, -3.f}, g(2);
  AdamW opt(c);
  opt.add("x", x.data(), g.data(), 2, false);
  for (int s = 0; s < 2000; ++s) {
    g[0] = 2 * (x[0] - 1.f);
    g[1] = 20 * (x[1] + 2.f);
    opt.step();
  }
  EXPECT_NEAR(x[0], 1.f, 1e-2);
  EXPECT_NEAR(x[1], -2.f, 1e-2);
}

TEST(AdamW, RefusesNonFiniteGradients) {
  AdamWConfig c;
  std::vector<float> x = {1.f}, g = {NAN};
  AdamW opt(c);
  opt.add("x", x.data(), g.data(), 1, false);
  EXPECT_THROW(opt.step(), std::exception);
  EXPECT_EQ(x[0], 1.f);
}

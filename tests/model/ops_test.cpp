// Each op of the forward pass against a naive float64 reference written from the formulas.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "model/ops.h"
#include "support/tiny_model.h"

using namespace sqz;

TEST(Ops, RmsNormMatchesFormula) {
  const int n = 3, d = 37;
  auto x = random_normal(n * d, 1, 2.0f), w = random_normal(d, 2, 1.0f);
  std::vector<float> out(n * d);
  rmsnorm(x.data(), w.data(), n, d, 1e-5f, out.data());
  for (int t = 0; t < n; ++t) {
    double ss = 0;
    for (int i = 0; i < d; ++i) ss += (double)x[t * d + i] * x[t * d + i];
    const double inv = 1.0 / std::sqrt(ss / d + 1e-5);
    for (int i = 0; i < d; ++i) EXPECT_NEAR(out[t * d + i], x[t * d + i] * inv * w[i], 1e-5);
  }
}

// Reference RoPE written as complex rotation of the pairs each layout defines.
static void rope_ref(std::vector<double>& v, int n, int heads, int hd, int pos0, double theta, RopeLayout lay) {
  for (int t = 0; t < n; ++t)
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < hd / 2; ++i) {
        const double ang = (pos0 + t) * std::pow(theta, -2.0 * i / hd);
        const int a = lay == RopeLayout::RotateHalf ? i : 2 * i, b = lay == RopeLayout::RotateHalf ? i + hd / 2 : 2 * i + 1;
        double* p = v.data() + (t * heads + h) * hd;
        const double x0 = p[a], x1 = p[b];
        p[a] = x0 * std::cos(ang) - x1 * std::sin(ang);
        p[b] = x0 * std::sin(ang) + x1 * std::cos(ang);
      }
}

TEST(Ops, RopeBothLayoutsMatchReference) {
  const int n = 5, heads = 3, hd = 16, pos0 = 7;
  for (RopeLayout lay : {RopeLayout::RotateHalf, RopeLayout::Interleaved}) {
    auto x = random_normal(n * heads * hd, 3, 1.0f);
    std::vector<double> ref(x.begin(), x.end());
    rope(x.data(), n, heads, hd, pos0, 10000.0f, lay);
    rope_ref(ref, n, heads, hd, pos0, 10000.0, lay);
    for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(x[i], ref[i], 2e-5) << i;
  }
}

// The two layouts are the same rotation after llama.cpp's q/k permutation: interleaved RoPE on the
// permuted vector equals the permuted rotate-half result. This is what makes GGUF/llama2.c and HF agree.
TEST(Ops, RopeLayoutsAgreeUnderPermutation) {
  const int hd = 8;
  auto x = random_normal(hd, 4, 1.0f);
  std::vector<float> perm(hd);
  for (int i = 0; i < hd / 2; ++i) {
    perm[2 * i] = x[i];
    perm[2 * i + 1] = x[i + hd / 2];
  }
  rope(x.data(), 1, 1, hd, 11, 10000.0f, RopeLayout::RotateHalf);
  rope(perm.data(), 1, 1, hd, 11, 10000.0f, RopeLayout::Interleaved);
  for (int i = 0; i < hd / 2; ++i) {
    EXPECT_FLOAT_EQ(perm[2 * i], x[i]);
    EXPECT_FLOAT_EQ(perm[2 * i + 1], x[i + hd / 2]);
  }
}

TEST(Ops, AttentionGqaMatchesReferenceAndCache) {
  const int n = 6, heads = 4, kvh = 2, hd = 8, qd = heads * hd, kvd = kvh * hd;
  auto q = random_normal(n * qd, 5, 1.0f), k = random_normal(n * kvd, 6, 1.0f), v = random_normal(n * kvd, 7, 1.0f);
  std::vector<float> out(n * qd);
  attention(q.data(), k.data(), v.data(), n, 0, heads, kvh, hd, out.data());
  // Reference: explicit softmax over keys 0..t with kv heads repeated.
  for (int t = 0; t < n; ++t)
    for (int h = 0; h < heads; ++h) {
      const int g = h / (heads / kvh);
      std::vector<double> s(t + 1);
      double mx = -1e300, sum = 0;
      for (int j = 0; j <= t; ++j) {
        double d = 0;
        for (int e = 0; e < hd; ++e) d += (double)q[t * qd + h * hd + e] * k[j * kvd + g * hd + e];
        s[j] = d / std::sqrt((double)hd);
        mx = std::max(mx, s[j]);
      }
      for (auto& e : s) sum += (e = std::exp(e - mx));
      for (int e = 0; e < hd; ++e) {
        double o = 0;
        for (int j = 0; j <= t; ++j) o += s[j] / sum * v[j * kvd + g * hd + e];
        EXPECT_NEAR(out[t * qd + h * hd + e], o, 1e-5);
      }
    }
  // One token at a time against the growing cache gives the same rows.
  for (int t = 0; t < n; ++t) {
    std::vector<float> o1(qd);
    attention(q.data() + t * qd, k.data(), v.data(), 1, t, heads, kvh, hd, o1.data());
    for (int e = 0; e < qd; ++e) EXPECT_NEAR(o1[e], out[t * qd + e], 1e-6);
  }
}

TEST(Ops, SwigluAndLogSumExp) {
  std::vector<float> g = {-3.f, -0.5f, 0.f, 0.7f, 4.f}, u = {1.f, 2.f, 3.f, -1.f, 0.5f}, out(5);
  swiglu(g.data(), u.data(), 5, out.data());
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(out[i], g[i] / (1 + std::exp(-(double)g[i])) * u[i], 1e-6);
  std::vector<float> x = {1000.f, 1000.f};
  EXPECT_NEAR(log_sum_exp(x.data(), 2), 1000.0 + std::log(2.0), 1e-9);
}

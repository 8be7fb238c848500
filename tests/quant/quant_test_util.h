// Shared helpers for the quant tests: deterministic random data.
#pragma once
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace sqz::quant::testing {

inline std::vector<float> randn(int64_t n, uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 g(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v((size_t)n);
  for (auto& x : v) x = d(g);
  return v;
}

// Student-t with 3 degrees of freedom: heavy tails like real weight rows.
inline std::vector<float> rand_heavy(int64_t n, uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 g(seed);
  std::student_t_distribution<float> d(3.0f);
  std::vector<float> v((size_t)n);
  for (auto& x : v) x = scale * d(g);
  return v;
}

// Fisher-like non-negative weights (squares of normals, a spread of several orders of magnitude).
inline std::vector<float> rand_fisher(int64_t n, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v((size_t)n);
  for (auto& x : v) {
    const float a = d(g);
    x = a * a * std::exp(d(g));
  }
  return v;
}

// Correlated activations X[n x cols] = Z A with A a random mixing matrix (so X^T X is far from diagonal),
// with a few channels scaled up as activation outliers.
inline std::vector<float> rand_correlated(int64_t n, int64_t cols, uint64_t seed, int outliers = 0) {
  std::vector<float> Z = randn(n * cols, seed), A = randn(cols * cols, seed + 1, 1.0f / std::sqrt((float)cols));
  for (int64_t c = 0; c < cols; ++c) A[c * cols + c] += 1.0f;
  std::vector<float> X((size_t)(n * cols), 0.0f);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t k = 0; k < cols; ++k) {
      const float z = Z[t * cols + k];
      for (int64_t c = 0; c < cols; ++c) X[t * cols + c] += z * A[k * cols + c];
    }
  for (int o = 0; o < outliers; ++o) {
    const int64_t c = (o * 37 + 5) % cols;
    for (int64_t t = 0; t < n; ++t) X[t * cols + c] *= 20.0f;
  }
  return X;
}

}  // namespace sqz::quant::testing

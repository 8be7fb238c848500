#include "model/ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/threads.h"

namespace sqz {

void rmsnorm(const float* x, const float* weight, int64_t n, int64_t dim, float eps, float* out) {
  for (int64_t t = 0; t < n; ++t) {
    const float* xt = x + t * dim;
    double ss = 0.0;
    for (int64_t i = 0; i < dim; ++i) ss += (double)xt[i] * xt[i];
    const float inv = (float)(1.0 / std::sqrt(ss / (double)dim + (double)eps));
    float* ot = out + t * dim;
    for (int64_t i = 0; i < dim; ++i) ot[i] = xt[i] * inv * weight[i];
  }
}

void rope(float* x, int64_t n, int64_t n_heads, int64_t head_dim, int64_t pos0, float theta, RopeLayout layout) {
  const int64_t half = head_dim / 2;
  std::vector<float> cs((size_t)half), sn((size_t)half);
  for (int64_t t = 0; t < n; ++t) {
    const double pos = (double)(pos0 + t);
    for (int64_t i = 0; i < half; ++i) {
      // Frequencies as HF computes them: theta^(-2i/d) in fp32, then pos * freq; evaluated in double.
      const float freq = (float)(1.0 / std::pow((double)theta, (double)(2 * i) / (double)head_dim));
      const double ang = pos * (double)freq;
      cs[(size_t)i] = (float)std::cos(ang);
      sn[(size_t)i] = (float)std::sin(ang);
    }
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = x + (t * n_heads + h) * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const int64_t a = layout == RopeLayout::RotateHalf ? i : 2 * i;
        const int64_t b = layout == RopeLayout::RotateHalf ? i + half : 2 * i + 1;
        const float x0 = v[a], x1 = v[b];
        v[a] = x0 * cs[(size_t)i] - x1 * sn[(size_t)i];
        v[b] = x0 * sn[(size_t)i] + x1 * cs[(size_t)i];
      }
    }
  }
}

void attention(const float* q, const float* k_cache, const float* v_cache, int64_t n, int64_t pos0,
               int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, float* out) {
  const int64_t q_dim = n_heads * head_dim, kv_dim = n_kv_heads * head_dim;
  const int64_t group = n_heads / n_kv_heads;
  const float scale = 1.0f / std::sqrt((float)head_dim);
  const int64_t work = n * n_heads;
  // Threads only pay off when each gets a few tens of thousands of multiply-adds (decode of a small model
  // is faster serial than with a fork/join per layer).
  const int64_t per_item = std::max<int64_t>(1, (pos0 + n) * head_dim * 2);
  parallel_for(work, std::max<int64_t>(1, 32768 / per_item), [&](int64_t w0, int64_t w1) {
    std::vector<float> scores((size_t)(pos0 + n));
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t t = w / n_heads, h = w % n_heads, kvh = h / group;
      const int64_t len = pos0 + t + 1;  // causal: keys 0..pos0+t
      const float* qt = q + t * q_dim + h * head_dim;
      float mx = -INFINITY;
      for (int64_t j = 0; j < len; ++j) {
        const float* kj = k_cache + j * kv_dim + kvh * head_dim;
        float s = 0.f;
        for (int64_t d = 0; d < head_dim; ++d) s += qt[d] * kj[d];
        s *= scale;
        scores[(size_t)j] = s;
        mx = std::max(mx, s);
      }
      float sum = 0.f;
      for (int64_t j = 0; j < len; ++j) {
        scores[(size_t)j] = std::exp(scores[(size_t)j] - mx);
        sum += scores[(size_t)j];
      }
      const float inv = 1.0f / sum;
      float* o = out + t * q_dim + h * head_dim;
      std::fill(o, o + head_dim, 0.f);
      for (int64_t j = 0; j < len; ++j) {
        const float p = scores[(size_t)j] * inv;
        const float* vj = v_cache + j * kv_dim + kvh * head_dim;
        for (int64_t d = 0; d < head_dim; ++d) o[d] += p * vj[d];
      }
    }
  });
}

void swiglu(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void softmax(float* x, int64_t n) {
  float mx = *std::max_element(x, x + n);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = (float)(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

double log_sum_exp(const float* x, int64_t n) {
  const float mx = *std::max_element(x, x + n);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp((double)x[i] - mx);
  return (double)mx + std::log(sum);
}

}  // namespace sqz

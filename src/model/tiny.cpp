#include "model/tiny.h"

#include <cmath>

#include "model/dense_linear.h"

namespace sqz {

ModelConfig tiny_config() {
  ModelConfig c;
  c.dim = 32;
  c.hidden_dim = 48;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 8;
  c.vocab_size = 64;
  c.max_seq_len = 64;
  c.norm_eps = 1e-5f;
  return c;
}

std::vector<float> random_normal(size_t n, uint64_t seed, float scale) {
  // splitmix64 -> Box-Muller: identical on every platform and compiler.
  uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
  auto next = [&]() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) * (1.0 / 9007199254740992.0);
  };
  std::vector<float> v(n);
  for (size_t i = 0; i < n; i += 2) {
    const double r = std::sqrt(-2.0 * std::log(next())), a = 2.0 * M_PI * next();
    v[i] = (float)(r * std::cos(a)) * scale;
    if (i + 1 < n) v[i + 1] = (float)(r * std::sin(a)) * scale;
  }
  return v;
}

std::unique_ptr<LlamaModel> make_random_model(const ModelConfig& c, uint64_t seed) {
  uint64_t k = seed * 1000;
  auto lin = [&](int64_t out, int64_t in) {
    return std::make_unique<DenseLinear>(random_normal((size_t)(out * in), ++k, 1.0f / std::sqrt((float)in)), out, in);
  };
  auto norm = [&](int64_t n) {
    std::vector<float> v = random_normal((size_t)n, ++k, 0.1f);
    for (auto& x : v) x += 1.0f;
    return v;
  };
  std::vector<LayerWeights> layers((size_t)c.n_layers);
  for (auto& L : layers) {
    L.attn_norm = norm(c.dim);
    L.ffn_norm = norm(c.dim);
    L.q = lin(c.q_dim(), c.dim);
    L.k = lin(c.kv_dim(), c.dim);
    L.v = lin(c.kv_dim(), c.dim);
    L.o = lin(c.dim, c.q_dim());
    L.gate = lin(c.hidden_dim, c.dim);
    L.up = lin(c.hidden_dim, c.dim);
    L.down = lin(c.dim, c.hidden_dim);
  }
  std::vector<float> embed = random_normal((size_t)c.vocab_size * c.dim, ++k, 1.0f);
  std::unique_ptr<Linear> head;
  if (!c.tied_embeddings) head = lin(c.vocab_size, c.dim);
  return std::make_unique<LlamaModel>(c, std::move(embed), std::move(layers), norm(c.dim), std::move(head));
}

}  // namespace sqz

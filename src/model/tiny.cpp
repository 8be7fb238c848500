#include "model/tiny.h"

#include <cmath>

#include "io/tiny_model.h"
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

std::vector<float> random_normal(size_t n, uint64_t seed, float scale) { return tiny_normal(n, seed, scale); }

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

#include "support/tiny_model.h"

#include <cmath>

#include "model/dense_linear.h"

namespace sqz {

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
    for (int s = 0; s < kNumSlots; ++s) L.linear[(size_t)s] = lin(linear_out(c, s), linear_in(c, s));
  }
  std::vector<float> embed = random_normal((size_t)c.vocab_size * c.dim, ++k, 1.0f);
  std::unique_ptr<Linear> head;
  if (!c.tied_embeddings) head = lin(c.vocab_size, c.dim);
  return std::make_unique<LlamaModel>(c, std::move(embed), std::move(layers), norm(c.dim), std::move(head));
}

}  // namespace sqz

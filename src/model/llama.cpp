#include "model/llama.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "kernels/format.h"
#include "model/dense_linear.h"
#include "model/quantized_linear.h"
#include "model/ops.h"

namespace sqz {

std::array<const Linear*, kNumSlots> LayerWeights::linears() const {
  std::array<const Linear*, kNumSlots> r;
  for (int s = 0; s < kNumSlots; ++s) r[(size_t)s] = linear[(size_t)s].get();
  return r;
}

KVCache::KVCache(const ModelConfig& c, int64_t max_len)
    : max_len_(max_len), kv_dim_(c.kv_dim()),
      k_((size_t)c.n_layers * max_len * c.kv_dim()), v_((size_t)c.n_layers * max_len * c.kv_dim()) {}

namespace {

std::vector<float> load_vector(const Checkpoint& ck, const std::string& name, int64_t n) {
  return to_f32(ck.require(name, {n}));
}

std::vector<float> load_bias(const Checkpoint& ck, const std::string& name, int64_t n) {
  const TensorView* t = ck.find(name);
  if (!t) return {};
  SQZ_CHECK(t->shape == Shape{n}, "{}: tensor {} has shape {}, expected [{}]", t->source, name, shape_str(t->shape), n);
  return to_f32(*t);
}

}  // namespace


LlamaModel::LlamaModel(std::shared_ptr<const Checkpoint> ckpt, LinearFactory factory)
    : cfg_(ckpt->config), ckpt_(std::move(ckpt)) {
  if (!factory) factory = make_linear;
  const Checkpoint& ck = *ckpt_;
  const int64_t dim = cfg_.dim;
  embed_ = ck.require(kEmbedding.hf, {cfg_.vocab_size, dim});
  if (!embed_.packed_format.empty()) embed_packed_ = kernels::packed_view(embed_);
  final_norm_ = load_vector(ck, kFinalNorm.hf, dim);
  layers_.resize((size_t)cfg_.n_layers);
  for (int i = 0; i < cfg_.n_layers; ++i) {
    LayerWeights& L = layers_[(size_t)i];
    L.attn_norm = load_vector(ck, norm_name(i, kAttnNorm), dim);
    L.ffn_norm = load_vector(ck, norm_name(i, kFfnNorm), dim);
    for (int s = 0; s < kNumSlots; ++s) {
      const std::string base = linear_name(i, s);
      auto& lin = L.linear[(size_t)s];
      lin = factory(ck, base, linear_out(cfg_, s), linear_in(cfg_, s));
      lin->set_bias(load_bias(ck, base + ".bias", linear_out(cfg_, s)));
    }
  }
  if (cfg_.tied_embeddings)
    lm_head_ = embed_.packed_format.empty() ? std::make_unique<DenseLinear>(embed_) : make_packed_tensor_linear(embed_);
  else
    lm_head_ = factory(ck, "lm_head", cfg_.vocab_size, dim);
}

LlamaModel::LlamaModel(ModelConfig cfg, std::vector<float> embed, std::vector<LayerWeights> layers,
                       std::vector<float> final_norm, std::unique_ptr<Linear> lm_head)
    : cfg_(std::move(cfg)), embed_owned_(std::move(embed)), layers_(std::move(layers)),
      final_norm_(std::move(final_norm)), lm_head_(std::move(lm_head)) {
  embed_ = f32_view(embed_owned_, {cfg_.vocab_size, cfg_.dim});
  if (!lm_head_) lm_head_ = std::make_unique<DenseLinear>(embed_);
}

void LlamaModel::embed(int token, float* out) const {
  SQZ_CHECK(token >= 0 && token < cfg_.vocab_size, "token id {} outside the vocabulary [0, {})", token, cfg_.vocab_size);
  if (embed_packed_) kernels::packed_dequant(*embed_packed_, nullptr, token, token + 1, out);
  else convert_to_f32(embed_, out, (int64_t)token * cfg_.dim, cfg_.dim);
}

void LlamaModel::forward(const int* tokens, int64_t n, KVCache& cache, float* logits, bool all_logits) const {
  const int64_t dim = cfg_.dim, hid = cfg_.hidden_dim, qd = cfg_.q_dim(), kvd = cfg_.kv_dim();
  const int64_t pos0 = cache.len();
  SQZ_CHECK(pos0 + n <= cache.max_len(), "sequence of {} tokens exceeds the KV cache ({} positions)", pos0 + n,
            cache.max_len());
  std::vector<float> x((size_t)(n * dim)), xn((size_t)(n * dim)), q((size_t)(n * qd)), att((size_t)(n * qd)),
      tmp((size_t)(n * dim)), g((size_t)(n * hid)), u((size_t)(n * hid));
  for (int64_t t = 0; t < n; ++t) embed(tokens[t], x.data() + t * dim);

  for (int l = 0; l < cfg_.n_layers; ++l) {
    const LayerWeights& L = layers_[(size_t)l];
    float* kc = cache.k(l);
    float* vc = cache.v(l);
    rmsnorm(x.data(), L.attn_norm.data(), n, dim, cfg_.norm_eps, xn.data());
    if (hook_) hook_(l, LinearInput::Attn, xn.data(), n, dim);
    L.linear[kQ]->forward(xn.data(), n, q.data());
    L.linear[kK]->forward(xn.data(), n, kc + pos0 * kvd);
    L.linear[kV]->forward(xn.data(), n, vc + pos0 * kvd);
    rope(q.data(), n, cfg_.n_heads, cfg_.head_dim, pos0, cfg_.rope_theta, cfg_.rope_layout);
    rope(kc + pos0 * kvd, n, cfg_.n_kv_heads, cfg_.head_dim, pos0, cfg_.rope_theta, cfg_.rope_layout);
    attention(q.data(), kc, vc, n, pos0, cfg_.n_heads, cfg_.n_kv_heads, cfg_.head_dim, att.data());
    if (hook_) hook_(l, LinearInput::AttnOut, att.data(), n, qd);
    L.linear[kO]->forward(att.data(), n, tmp.data());
    for (size_t i = 0; i < x.size(); ++i) x[i] += tmp[i];

    rmsnorm(x.data(), L.ffn_norm.data(), n, dim, cfg_.norm_eps, xn.data());
    if (hook_) hook_(l, LinearInput::Mlp, xn.data(), n, dim);
    L.linear[kGate]->forward(xn.data(), n, g.data());
    L.linear[kUp]->forward(xn.data(), n, u.data());
    swiglu(g.data(), u.data(), n * hid, g.data());
    if (hook_) hook_(l, LinearInput::MlpDown, g.data(), n, hid);
    L.linear[kDown]->forward(g.data(), n, tmp.data());
    for (size_t i = 0; i < x.size(); ++i) x[i] += tmp[i];
  }
  cache.advance(n);

  if (all_logits) {
    rmsnorm(x.data(), final_norm_.data(), n, dim, cfg_.norm_eps, xn.data());
    lm_head_->forward(xn.data(), n, logits);
  } else {
    rmsnorm(x.data() + (n - 1) * dim, final_norm_.data(), 1, dim, cfg_.norm_eps, xn.data());
    lm_head_->forward(xn.data(), 1, logits);
  }
}

int64_t LlamaModel::n_params() const {
  int64_t p = embed_.numel() + (int64_t)final_norm_.size();
  for (const auto& L : layers_) {
    p += (int64_t)(L.attn_norm.size() + L.ffn_norm.size());
    for (const Linear* lin : L.linears()) p += lin->in_features() * lin->out_features() + (int64_t)lin->bias().size();
  }
  if (!cfg_.tied_embeddings) p += lm_head_->in_features() * lm_head_->out_features();
  return p;
}

size_t LlamaModel::weight_bytes() const {
  size_t b = embed_.nbytes + final_norm_.size() * 4;
  for (const auto& L : layers_) {
    b += (L.attn_norm.size() + L.ffn_norm.size()) * 4;
    for (const Linear* lin : L.linears()) b += lin->weight_bytes() + lin->bias().size() * 4;
  }
  if (!cfg_.tied_embeddings) b += lm_head_->weight_bytes();
  return b;
}

std::unique_ptr<LlamaModel> load_model(const std::string& path) {
  std::shared_ptr<const Checkpoint> ck = open_checkpoint(path);
  return std::make_unique<LlamaModel>(ck);
}

}  // namespace sqz

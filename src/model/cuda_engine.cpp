#include "model/cuda_engine.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"

#if SQZ_HAVE_CUDA
#include "kernels/cuda/llama_engine.h"
#endif

namespace sqz {

#if SQZ_HAVE_CUDA

namespace kc = kernels::cuda;

struct CudaLlama::Impl {
  std::unique_ptr<kc::LlamaEngine> engine;
  std::string device;
};

bool cuda_built() { return true; }

std::string cuda_unavailable_reason() {
  std::string why;
  return kc::device_available(&why) ? std::string() : why;
}

namespace {

kc::DeviceMatrix upload_linear(const Linear& lin, const std::string& name, std::vector<std::string>& fallbacks) {
  kc::DeviceMatrix d;
  const kernels::PackedMatrix* pm = lin.packed();
  if (pm && kc::cuda_handles(*pm)) {
    d = kc::upload(*pm, lin.sparse());
  } else {
    if (pm) fallbacks.push_back(name + " (" + lin.format() + ": no CUDA kernel, runs as fp16)");
    const std::vector<float> w = lin.dequantize();
    d = kc::upload_f16(w.data(), lin.out_features(), lin.in_features());
  }
  kc::set_bias(d, lin.bias());
  return d;
}

}  // namespace

CudaLlama::CudaLlama(const LlamaModel& model, int64_t max_len)
    : impl_(std::make_unique<Impl>()), cfg_(model.config()), max_len_(max_len) {
  const std::string why = cuda_unavailable_reason();
  SQZ_CHECK(why.empty(), "{}", why);
  SQZ_CHECK(max_len >= 1, "GPU engine: a KV cache of {} positions", max_len);
  const ModelConfig& c = cfg_;
  kc::EngineConfig ec;
  ec.dim = c.dim, ec.hidden = c.hidden_dim, ec.n_layers = c.n_layers, ec.n_heads = c.n_heads;
  ec.n_kv_heads = c.n_kv_heads, ec.head_dim = c.head_dim, ec.vocab = c.vocab_size, ec.max_len = max_len;
  ec.rope_theta = c.rope_theta, ec.norm_eps = c.norm_eps;
  ec.rope_interleaved = c.rope_layout == RopeLayout::Interleaved;

  kc::EngineWeights w;
  {
    std::vector<float> E((size_t)c.vocab_size * (size_t)c.dim);
    for (int t = 0; t < c.vocab_size; ++t) model.embed(t, E.data() + (size_t)t * (size_t)c.dim);
    w.embed = kc::to_device(E);
  }
  w.layers.resize((size_t)c.n_layers);
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = model.layers()[(size_t)l];
    kc::EngineLayer& E = w.layers[(size_t)l];
    E.attn_norm = kc::to_device(L.attn_norm);
    E.ffn_norm = kc::to_device(L.ffn_norm);
    // The engine's fields in the vocabulary's slot order (io/tensor_names.h).
    kc::DeviceMatrix* slots[kNumSlots] = {&E.q, &E.k, &E.v, &E.o, &E.gate, &E.up, &E.down};
    for (int s = 0; s < kNumSlots; ++s) *slots[s] = upload_linear(*L.linear[(size_t)s], linear_name(l, s), fallbacks_);
  }
  w.final_norm = kc::to_device(model.final_norm());
  w.head = upload_linear(model.lm_head(), "lm_head", fallbacks_);
  impl_->engine = std::make_unique<kc::LlamaEngine>(ec, std::move(w));
  impl_->device = kc::device_info().name;
}

CudaLlama::~CudaLlama() = default;

int64_t CudaLlama::len() const { return impl_->engine->len(); }
void CudaLlama::clear() { impl_->engine->clear(); }

void CudaLlama::forward(const int* tokens, int64_t n, float* logits, bool all_logits) {
  impl_->engine->forward(tokens, n, logits, all_logits);
}

void CudaLlama::forward_window(const int* tokens, int64_t n, float* logits) {
  impl_->engine->clear();
  impl_->engine->forward(tokens, n, logits, true);
}

CudaDecode CudaLlama::greedy_decode(int first, int64_t steps, bool graph) {
  const kc::LlamaEngine::Decode d = impl_->engine->greedy_decode(first, steps, graph);
  return CudaDecode{d.seconds, d.tokens};
}

std::string CudaLlama::device_name() const { return impl_->device; }
size_t CudaLlama::device_weight_bytes() const { return impl_->engine->weight_bytes(); }

CudaBenchResult CudaLlama::bench(int64_t prompt_tokens, int64_t gen_tokens, int repeats, uint64_t seed) {
  SQZ_CHECK(prompt_tokens >= 1 && gen_tokens >= 1, "bench needs at least one prompt and one generated token");
  SQZ_CHECK(prompt_tokens + gen_tokens <= max_len_, "prompt {} + generated {} tokens exceed the GPU cache of {}",
            prompt_tokens, gen_tokens, max_len_);
  // The prompt eval/bench.cpp draws, so both devices time the same tokens.
  std::vector<int> prompt((size_t)prompt_tokens);
  uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 7;
  for (auto& t : prompt) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    t = (int)((s >> 33) % (uint64_t)cfg_.vocab_size);
  }
  std::vector<float> logits((size_t)cfg_.vocab_size);
  kc::LlamaEngine& e = *impl_->engine;
  double best_prefill = 1e300, best_decode = 1e300;
  for (int rep = 0; rep < std::max(1, repeats); ++rep) {
    e.clear();
    const auto t0 = std::chrono::steady_clock::now();
    e.forward(prompt.data(), prompt_tokens, logits.data(), false);
    best_prefill = std::min(best_prefill, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    const int first = (int)(std::max_element(logits.begin(), logits.end()) - logits.begin());
    best_decode = std::min(best_decode, e.greedy_decode(first, gen_tokens, true).seconds);
  }
  CudaBenchResult r;
  r.prefill_tokens_per_s = (double)prompt_tokens / best_prefill;
  r.decode_tokens_per_s = (double)gen_tokens / best_decode;
  r.decode_bytes_per_token = e.decode_bytes_per_token();
  r.decode_bytes_per_s = (double)r.decode_bytes_per_token * r.decode_tokens_per_s;
  return r;
}

#else  // built without CUDA

struct CudaLlama::Impl {};

bool cuda_built() { return false; }
std::string cuda_unavailable_reason() { return "this sqz was built without CUDA"; }

CudaLlama::CudaLlama(const LlamaModel& model, int64_t max_len) : cfg_(model.config()), max_len_(max_len) {
  fail("this sqz was built without CUDA (configure with -DSQZ_CUDA=ON on a machine with nvcc)");
}
CudaLlama::~CudaLlama() = default;
int64_t CudaLlama::len() const { return 0; }
void CudaLlama::clear() {}
void CudaLlama::forward(const int*, int64_t, float*, bool) { fail("this sqz was built without CUDA"); }
void CudaLlama::forward_window(const int*, int64_t, float*) { fail("this sqz was built without CUDA"); }
CudaBenchResult CudaLlama::bench(int64_t, int64_t, int, uint64_t) { fail("this sqz was built without CUDA"); }
CudaDecode CudaLlama::greedy_decode(int, int64_t, bool) { fail("this sqz was built without CUDA"); }
std::string CudaLlama::device_name() const { return {}; }
size_t CudaLlama::device_weight_bytes() const { return 0; }

#endif

}  // namespace sqz

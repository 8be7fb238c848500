#include "eval/bench.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "core/progress.h"

namespace sqz {

BenchResult bench_model(const LlamaModel& model, const BenchOptions& opt) {
  const ModelConfig& c = model.config();
  const int64_t total = opt.prompt_tokens + opt.gen_tokens;
  SQZ_CHECK(opt.prompt_tokens >= 1 && opt.gen_tokens >= 1, "bench needs at least one prompt and one generated token");
  SQZ_CHECK(total <= c.max_seq_len, "prompt {} + generated {} tokens exceed the model's context of {}",
            opt.prompt_tokens, opt.gen_tokens, c.max_seq_len);
  std::vector<int> prompt((size_t)opt.prompt_tokens);
  uint64_t s = opt.seed * 0x9E3779B97F4A7C15ULL + 7;
  for (auto& t : prompt) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    t = (int)((s >> 33) % (uint64_t)c.vocab_size);
  }
  KVCache cache(c, total);
  std::vector<float> logits((size_t)c.vocab_size);
  BenchResult r;
  double best_prefill = 1e300, best_decode = 1e300;
  for (int rep = 0; rep < std::max(1, opt.repeats); ++rep) {
    cache.clear();
    double t0 = now_seconds();
    model.forward(prompt.data(), opt.prompt_tokens, cache, logits.data(), false);
    best_prefill = std::min(best_prefill, now_seconds() - t0);
    t0 = now_seconds();
    for (int64_t i = 0; i < opt.gen_tokens; ++i) {
      const int next = (int)(std::max_element(logits.begin(), logits.end()) - logits.begin());
      model.forward(&next, 1, cache, logits.data(), false);
    }
    best_decode = std::min(best_decode, now_seconds() - t0);
  }
  r.prefill_tokens_per_s = (double)opt.prompt_tokens / best_prefill;
  r.decode_tokens_per_s = (double)opt.gen_tokens / best_decode;
  r.model_bytes = model.weight_bytes();
  const TensorView& e = model.embedding();
  // A tied head reads the embedding matrix as its weight; otherwise decode touches one embedding row.
  const size_t embed_read = c.tied_embeddings ? 0 : e.nbytes / (size_t)c.vocab_size;
  r.decode_bytes_per_token = r.model_bytes - e.nbytes + embed_read + (c.tied_embeddings ? e.nbytes : 0);
  r.decode_bytes_per_s = (double)r.decode_bytes_per_token * r.decode_tokens_per_s;
  return r;
}

}  // namespace sqz

#include "eval/generate.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/progress.h"
#include "model/ops.h"

namespace sqz {

namespace {
// xorshift64*: tiny, fast and reproducible across platforms for a given seed.
double next_uniform(uint64_t& s) {
  s ^= s >> 12;
  s ^= s << 25;
  s ^= s >> 27;
  return (double)((s * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
}
}  // namespace

int sample_token(std::vector<float>& logits, float temperature, float top_p, uint64_t& rng) {
  const int64_t n = (int64_t)logits.size();
  if (temperature <= 0.0f) return (int)(std::max_element(logits.begin(), logits.end()) - logits.begin());
  for (auto& l : logits) l /= temperature;
  softmax(logits.data(), n);
  std::vector<int> order((size_t)n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return logits[(size_t)a] > logits[(size_t)b]; });
  double cum = 0.0;
  size_t keep = 0;
  while (keep < order.size()) {
    cum += logits[(size_t)order[keep++]];
    if (cum >= top_p) break;
  }
  double r = next_uniform(rng) * cum, acc = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    acc += logits[(size_t)order[i]];
    if (r < acc) return order[i];
  }
  return order[keep - 1];
}

GenerateResult generate(const LlamaModel& model, const std::vector<int>& prompt_ids, const GenerateOptions& opt,
                        const std::function<void(int, int)>& on_token) {
  const ModelConfig& c = model.config();
  SQZ_CHECK(!prompt_ids.empty(), "generate: empty prompt");
  const int64_t max_len = std::min<int64_t>(c.max_seq_len, (int64_t)prompt_ids.size() + opt.max_new_tokens);
  SQZ_CHECK((int64_t)prompt_ids.size() < max_len || opt.max_new_tokens == 0,
            "prompt of {} tokens does not fit the model's context of {}", prompt_ids.size(), c.max_seq_len);
  KVCache cache(c, max_len);
  std::vector<float> logits((size_t)c.vocab_size);
  GenerateResult r;
  r.prompt_tokens = (int64_t)prompt_ids.size();
  uint64_t rng = opt.seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL;
  double t0 = now_seconds();
  model.forward(prompt_ids.data(), (int64_t)prompt_ids.size(), cache, logits.data(), false);
  r.prefill_seconds = now_seconds() - t0;
  t0 = now_seconds();
  int prev = prompt_ids.back();
  for (int64_t i = 0; i < opt.max_new_tokens && cache.len() < max_len + 1; ++i) {
    const int next = sample_token(logits, opt.temperature, opt.top_p, rng);
    r.tokens.push_back(next);
    if (on_token) on_token(prev, next);
    prev = next;
    if (opt.stop_at_eos && next == c.eos_id) break;
    if (cache.len() >= max_len) break;
    model.forward(&next, 1, cache, logits.data(), false);
  }
  r.decode_seconds = now_seconds() - t0;
  return r;
}

}  // namespace sqz

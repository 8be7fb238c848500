#include "eval/perplexity.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/file_io.h"
#include "core/progress.h"
#include "model/ops.h"

namespace sqz {

PplResult perplexity(const LlamaModel& model, const std::vector<int>& ids, const PplOptions& opt) {
  const int64_t ctx = opt.ctx;
  const int64_t vocab = model.config().vocab_size;
  SQZ_CHECK(ctx >= 2, "context length {} is too short (need at least 2)", ctx);
  int64_t windows = (int64_t)ids.size() / ctx;
  SQZ_CHECK(windows > 0, "the text has {} tokens, fewer than one window of {}", ids.size(), ctx);
  if (opt.max_windows > 0) windows = std::min(windows, opt.max_windows);

  PplResult r;
  r.n_tokens = (int64_t)ids.size();
  r.windows = windows;
  r.ctx = ctx;
  KVCache cache(model.config(), ctx);
  std::vector<float> logits((size_t)(ctx * vocab));
  double nll = 0.0;
  Progress prog("ppl window", windows, "windows");
  const double t0 = now_seconds();
  for (int64_t w = 0; w < windows; ++w) {
    const int* tok = ids.data() + w * ctx;
    cache.clear();
    model.forward(tok, ctx, cache, logits.data(), true);
    for (int64_t t = 0; t + 1 < ctx; ++t) {
      const float* lt = logits.data() + t * vocab;
      nll += log_sum_exp(lt, vocab) - (double)lt[tok[t + 1]];
    }
    r.scored += ctx - 1;
    if (opt.on_logits) opt.on_logits(w, logits.data(), ctx, vocab);
    if (opt.progress) prog.update(w + 1, fmt::format("ppl {:.4f}", std::exp(nll / (double)r.scored)));
  }
  r.seconds = now_seconds() - t0;
  r.mean_nll = nll / (double)r.scored;
  r.ppl = std::exp(r.mean_nll);
  r.tokens_per_s = (double)(windows * ctx) / r.seconds;
  return r;
}

KlResult perplexity_and_kl(const LlamaModel& model, const LlamaModel& ref, const std::vector<int>& ids,
                           const PplOptions& opt) {
  SQZ_CHECK(model.config().vocab_size == ref.config().vocab_size, "KL reference has a vocabulary of {}, the model {}",
            ref.config().vocab_size, model.config().vocab_size);
  const int64_t vocab = model.config().vocab_size;
  KVCache cache(ref.config(), opt.ctx);
  std::vector<float> rl((size_t)(opt.ctx * vocab));
  double kl = 0;
  int64_t n = 0;
  PplOptions o = opt;
  o.on_logits = [&](int64_t w, const float* logits, int64_t ctx, int64_t V) {
    cache.clear();
    ref.forward(ids.data() + w * ctx, ctx, cache, rl.data(), true);
    for (int64_t t = 0; t + 1 < ctx; ++t) {
      const float* p = rl.data() + t * V;
      const float* q = logits + t * V;
      const double lp = log_sum_exp(p, V), lq = log_sum_exp(q, V);
      double k = 0;
      for (int64_t j = 0; j < V; ++j) {
        const double a = (double)p[j] - lp;
        k += std::exp(a) * (a - ((double)q[j] - lq));
      }
      kl += k;
      ++n;
    }
    if (opt.on_logits) opt.on_logits(w, logits, ctx, V);
  };
  KlResult r;
  r.ppl = perplexity(model, ids, o);
  r.kl = kl / (double)n;
  return r;
}

std::string read_eval_text(const std::string& path, int64_t max_chars) {
  std::string s = read_text_file(path);
  if (max_chars <= 0) return s;
  int64_t chars = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {  // start of a code point
      if (chars == max_chars) return s.substr(0, i);
      ++chars;
    }
  }
  return s;
}

}  // namespace sqz

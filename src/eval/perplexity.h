// Perplexity with the GPTQ / SqueezeLLM protocol: ids = [BOS] + encode(text); floor(n/ctx) windows of ctx
// consecutive tokens, each run from an empty cache; every next-token prediction inside a window is scored
// (ctx - 1 per window); ppl = exp(mean NLL). NLLs are accumulated in double.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/llama.h"

namespace sqz {

struct PplOptions {
  int64_t ctx = 2048;
  int64_t max_windows = 0;  // 0: all
  bool progress = true;
  // Optional: called with each window's logits [ctx, vocab] (KL divergence against a reference model).
  std::function<void(int64_t window, const float* logits, int64_t ctx, int64_t vocab)> on_logits;
};

struct PplResult {
  double ppl = 0, mean_nll = 0;
  int64_t n_tokens = 0, windows = 0, scored = 0, ctx = 0;
  double seconds = 0, tokens_per_s = 0;
};

PplResult perplexity(const LlamaModel& model, const std::vector<int>& ids, const PplOptions& opt);

// Mean over every scored position of KL(p_ref || p_model), the next-token distributions of a reference
// model (usually the unquantized one) and `model`, on the same windows as perplexity(). A much more
// sensitive measure of what quantization changed than perplexity. Also returns the model's perplexity.
struct KlResult {
  PplResult ppl;
  double kl = 0;
};
KlResult perplexity_and_kl(const LlamaModel& model, const LlamaModel& ref, const std::vector<int>& ids,
                           const PplOptions& opt);

// Reads an evaluation text file; max_chars > 0 keeps only the first max_chars Unicode code points.
std::string read_eval_text(const std::string& path, int64_t max_chars = 0);

}  // namespace sqz

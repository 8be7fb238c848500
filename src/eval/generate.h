// Text generation: greedy by default, or temperature + nucleus (top-p) sampling with a seeded RNG.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/llama.h"
#include "tokenizer/tokenizer.h"

namespace sqz {

struct GenerateOptions {
  int64_t max_new_tokens = 128;
  float temperature = 0.0f;  // 0: greedy
  float top_p = 1.0f;
  uint64_t seed = 0;
  bool stop_at_eos = true;
};

struct GenerateResult {
  std::vector<int> tokens;  // generated ids (prompt excluded)
  double prefill_seconds = 0, decode_seconds = 0;
  int64_t prompt_tokens = 0;
};

// Picks the next token from logits (greedy when temperature <= 0).
int sample_token(std::vector<float>& logits, float temperature, float top_p, uint64_t& rng_state);

// Generates after `prompt_ids`; on_token(prev, id) is called as each token is produced (streaming).
GenerateResult generate(const LlamaModel& model, const std::vector<int>& prompt_ids, const GenerateOptions& opt,
                        const std::function<void(int prev, int id)>& on_token);

}  // namespace sqz

// End-to-end speed of a model on this machine: batched prefill of a prompt, then token-by-token decode
// with the KV cache. Token ids are drawn from a seeded generator, so no tokenizer is needed.
#pragma once
#include <cstdint>

#include "model/llama.h"

namespace sqz {

struct BenchOptions {
  int64_t prompt_tokens = 128;
  int64_t gen_tokens = 64;
  int repeats = 3;  // best of `repeats` runs is reported (the least disturbed by other work)
  uint64_t seed = 0;
};

struct BenchResult {
  double prefill_tokens_per_s = 0, decode_tokens_per_s = 0;
  size_t model_bytes = 0;            // all weights as held
  size_t decode_bytes_per_token = 0;  // weights one decode step reads (every linear, norms, head; one embedding row)
  double decode_bytes_per_s = 0;
};

BenchResult bench_model(const LlamaModel& model, const BenchOptions& opt);

}  // namespace sqz

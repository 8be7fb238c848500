// Test support (not part of the product): small random LLaMA models built in memory, for tests of every
// layer above the model (no files needed).
#pragma once
#include <cstdint>
#include <memory>

#include "core/rng.h"
#include "model/llama.h"
#include "support/tiny_checkpoint.h"

namespace sqz {

// A model with random fp32 weights (norm weights near 1), deterministic in `seed`.
std::unique_ptr<LlamaModel> make_random_model(const ModelConfig& cfg, uint64_t seed);

}  // namespace sqz

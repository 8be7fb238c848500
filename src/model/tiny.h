// Small random LLaMA models built in memory, for tests of every layer above the model (no files needed).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "model/llama.h"

namespace sqz {

// A config for a tiny model: dim 32, 2 layers, 4 heads, 2 kv heads, hidden 48, vocab 64 unless changed.
ModelConfig tiny_config();

// Deterministic normal(0, scale) values from a seed (portable: own generator, not std::normal_distribution).
std::vector<float> random_normal(size_t n, uint64_t seed, float scale);

// A model with random fp32 weights (norm weights near 1).
std::unique_ptr<LlamaModel> make_random_model(const ModelConfig& cfg, uint64_t seed);

}  // namespace sqz

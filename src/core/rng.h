// Seeded normal samples that are the same on every platform and standard library (std::normal_distribution
// is not specified bit for bit): weight initialisation of `sqz train` and the tests' random models.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace sqz {

// n values ~ N(0, scale^2) from std::mt19937_64 through a hand-written Box-Muller transform.
std::vector<float> random_normal(size_t n, uint64_t seed, float scale);

}  // namespace sqz

#include "core/rng.h"

#include <cmath>
#include <random>

namespace sqz {

std::vector<float> random_normal(size_t n, uint64_t seed, float scale) {
  std::mt19937_64 rng(seed);
  // 53 random bits -> (0, 1), never 0 so log() stays finite.
  auto uniform = [&] { return ((double)(rng() >> 11) + 0.5) * (1.0 / 9007199254740992.0); };
  std::vector<float> v(n);
  for (size_t i = 0; i < n; i += 2) {
    const double r = std::sqrt(-2.0 * std::log(uniform())), a = 2.0 * M_PI * uniform();
    v[i] = (float)(r * std::cos(a)) * scale;
    if (i + 1 < n) v[i + 1] = (float)(r * std::sin(a)) * scale;
  }
  return v;
}

}  // namespace sqz

#include "kernels/cpu/isa.h"

#include <atomic>
#include <cstdlib>

#include "core/error.h"

namespace sqz::kernels {

namespace {

Isa detect() {
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  if (!avx2) return Isa::Scalar;
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                      __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vbmi");
  return avx512 ? Isa::Avx512 : Isa::Avx2;
}

Isa initial() {
  Isa isa = detect();
  if (const char* env = std::getenv("SQZ_ISA")) {
    if (auto want = parse_isa(env); want && *want <= isa) isa = *want;
  }
  return isa;
}

std::atomic<Isa>& current() {
  static std::atomic<Isa> isa{initial()};
  return isa;
}

}  // namespace

Isa detected_isa() {
  static const Isa d = detect();
  return d;
}

Isa active_isa() { return current().load(std::memory_order_relaxed); }

void set_isa(Isa isa) {
  SQZ_CHECK(isa <= detected_isa(), "this CPU does not support the {} kernels (best: {})", isa_name(isa),
            isa_name(detected_isa()));
  current().store(isa, std::memory_order_relaxed);
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> v;
  for (Isa i : {Isa::Scalar, Isa::Avx2, Isa::Avx512})
    if (i <= detected_isa()) v.push_back(i);
  return v;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "scalar";
  }
}

std::optional<Isa> parse_isa(std::string_view name) {
  if (name == "scalar") return Isa::Scalar;
  if (name == "avx2") return Isa::Avx2;
  if (name == "avx512") return Isa::Avx512;
  return std::nullopt;
}

}  // namespace sqz::kernels

#include "kernels/cpu/isa.h"

#include "core/error.h"

namespace sqz::kernels {

namespace {
bool cpu_has_avx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("f16c");
}
Isa g_isa = cpu_has_avx512() ? Isa::Avx512 : Isa::Scalar;
}  // namespace

Isa active_isa() { return g_isa; }

std::vector<Isa> supported_isas() {
  std::vector<Isa> v = {Isa::Scalar};
  if (cpu_has_avx512()) v.push_back(Isa::Avx512);
  return v;
}

void set_isa(Isa isa) {
  SQZ_CHECK(isa == Isa::Scalar || cpu_has_avx512(), "this CPU has no AVX-512");
  g_isa = isa;
}

const char* isa_name(Isa isa) { return isa == Isa::Avx512 ? "avx512" : "scalar"; }

}  // namespace sqz::kernels

// Which instruction set the CPU kernels use. Detected once from the CPU (__builtin_cpu_supports), the
// best of:
//   Avx512: AVX-512 F/BW/VL/DQ + VNNI + VBMI, with F16C/FMA (Ice Lake, Sapphire Rapids, Zen 4/5)
//   Avx2:   AVX2 + FMA + F16C (Haswell and later, Zen 1-3)
//   Scalar: the portable reference code
// The environment variable SQZ_ISA=scalar|avx2|avx512 lowers the choice at start-up (never above what the
// CPU has); tests and benchmarks pin each supported ISA with set_isa() to compare it with the reference.
#pragma once
#include <optional>
#include <string_view>
#include <vector>

namespace sqz::kernels {

enum class Isa { Scalar, Avx2, Avx512 };

Isa active_isa();
Isa detected_isa();                // best ISA this CPU runs
void set_isa(Isa isa);             // throws Error unless isa is in supported_isas(); process-wide
std::vector<Isa> supported_isas();  // Scalar first, ascending
const char* isa_name(Isa isa);      // "scalar", "avx2", "avx512"
std::optional<Isa> parse_isa(std::string_view name);

// Pins an ISA for a scope (tests): restores the previous one on exit.
class IsaScope {
 public:
  explicit IsaScope(Isa isa) : saved_(active_isa()) { set_isa(isa); }
  ~IsaScope() { set_isa(saved_); }
  IsaScope(const IsaScope&) = delete;
  IsaScope& operator=(const IsaScope&) = delete;

 private:
  Isa saved_;
};

}  // namespace sqz::kernels

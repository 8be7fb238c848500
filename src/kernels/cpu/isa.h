// Which instruction set the kernels use. Chosen once from the CPU (AVX-512 where present, else the scalar
// reference); tests pin each one to compare it with the reference.
#pragma once
#include <vector>

namespace sqz::kernels {

enum class Isa { Scalar, Avx512 };

Isa active_isa();
void set_isa(Isa isa);  // tests; must be in supported_isas()
std::vector<Isa> supported_isas();
const char* isa_name(Isa isa);

}  // namespace sqz::kernels

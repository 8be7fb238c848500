// The GGUF block types' AVX-512 kernels: gguf_kernels-inl.h compiled with vec_avx512.h.
#include "kernels/cpu/vec_avx512.h"
//
#include "kernels/cpu/gguf_kernels-inl.h"

namespace sqz::kernels::detail {

std::span<const NamedFormatKernels> avx512_gguf_kernels() { return kGgufKernels; }

}  // namespace sqz::kernels::detail

// The GGUF block types' AVX2 kernels: gguf_kernels-inl.h compiled with vec_avx2.h.
#include "kernels/cpu/vec_avx2.h"
//
#include "kernels/cpu/gguf_kernels-inl.h"

namespace sqz::kernels::detail {

std::span<const NamedFormatKernels> avx2_gguf_kernels() { return kGgufKernels; }

}  // namespace sqz::kernels::detail

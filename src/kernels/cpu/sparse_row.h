// Internal, for the SIMD row kernels (simd_avx2.cpp, simd_avx512.cpp; both compile with F16C): the sparse
// (CSR) part of dense-and-sparse weights, added to a row's dot products.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/formats.h"

namespace sqz::kernels::detail {
// Internal linkage: each SIMD file compiles it with its own instruction set, and a shared inline
// instantiation could let the linker hand the AVX-512 build to the AVX2 kernels.
namespace {

// out[t] += sparse row r . X[t]. Scalar loads of x: a row holds ~0.5 % of its columns (most 16-lane steps
// would be mostly masked), and scalar loads beat vgatherdps on Zen 5 (bench_kernels, 0.45 % CSR at the 7B
// shapes: roughly +10-14 % on the LUT GEMV with AVX-512 gathers, +7-12 % this way, in noisy A/B runs).
// Not the scalar reference walk (row_driver.h, for_csr_row / csr_row_dot) on purpose: that one is one
// dependent chain of adds per token, which the FMA latency bounds; this one keeps four chains per token
// and converts four fp16 values with one F16C instruction. Its sums differ from the reference's only in
// their order (within the kernel tests' tolerance).
template <int N>
inline void sparse_row(const CsrMatrix& s, int64_t r, const float* X, int64_t ldx, float* out) {
  const int32_t b = s.row_ptr[r], e = s.row_ptr[r + 1];
  float acc[N][4] = {};
  int32_t i = b;
  for (; i + 4 <= e; i += 4) {
    // Four independent chains: one per entry of the group hides the FMA latency.
    const __m128 v = _mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(s.values + i)));
    alignas(16) float vf[4];
    _mm_store_ps(vf, v);
    const int32_t* c = s.col_idx + i;
    for (int t = 0; t < N; ++t)
      for (int k = 0; k < 4; ++k) acc[t][k] += vf[k] * X[t * ldx + c[k]];
  }
  for (; i < e; ++i) {
    const float v = _cvtsh_ss(s.values[i]);
    for (int t = 0; t < N; ++t) acc[t][0] += v * X[t * ldx + s.col_idx[i]];
  }
  for (int t = 0; t < N; ++t) out[t] += (acc[t][0] + acc[t][1]) + (acc[t][2] + acc[t][3]);
}

}  // namespace
}  // namespace sqz::kernels::detail

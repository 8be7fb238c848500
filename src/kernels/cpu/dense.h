// Dense matrix products. Weights are row-major [rows, cols] (HF's [out, in]); activations X are
// row-major [n, cols]; results Y are [n, rows]. These are the baselines quantized formats are measured against.
#pragma once
#include <cstdint>

namespace sqz::kernels {

// Y[n, rows] = X[n, cols] * W^T (OpenBLAS sgemm; sgemv when n == 1).
void gemm_f32(const float* W, int64_t rows, int64_t cols, const float* X, int64_t n, float* Y);
// y = W x with fp16 / bf16 weights (F16C where the CPU has it), fp32 accumulation. Multi-threaded over rows.
void gemv_f16(const uint16_t* W, int64_t rows, int64_t cols, const float* x, float* y);
void gemv_bf16(const uint16_t* W, int64_t rows, int64_t cols, const float* x, float* y);
// Y[n, rows] = X[n, cols] * W^T with fp16 / bf16 weights by the multi-token row kernels (one pass over
// the weights per 4 tokens), multi-threaded over rows. Returns false, computing nothing, where the active
// ISA has no such kernel (AVX-512 has; the caller then converts tiles for sgemm).
bool gemm_f16_rows(const uint16_t* W, int64_t rows, int64_t cols, const float* X, int64_t n, float* Y);
bool gemm_bf16_rows(const uint16_t* W, int64_t rows, int64_t cols, const float* X, int64_t n, float* Y);
// Scalar references for the above (float64 accumulation would hide order effects; these accumulate in
// fp32 left to right so SIMD results differ by summation order only).
void gemv_f16_ref(const uint16_t* W, int64_t rows, int64_t cols, const float* x, float* y);
void gemv_bf16_ref(const uint16_t* W, int64_t rows, int64_t cols, const float* x, float* y);
// Bulk conversions (F16C / AVX-512 where available).
void convert_f16_to_f32(const uint16_t* in, float* out, int64_t n);
void convert_bf16_to_f32(const uint16_t* in, float* out, int64_t n);

}  // namespace sqz::kernels

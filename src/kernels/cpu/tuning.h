// Run-time knobs of the CPU kernels, for benchmarks and experiments (defaults are the measured best on
// the development machine; see bench/bench_kernels.cpp). Not thread-safe: set them before running kernels.
#pragma once
#include <cstdint>

namespace sqz::kernels {

struct KernelTuning {
  // lut_gemm / group_gemm / nf4_gemm with at most this many tokens use the multi-token row kernels (rows
  // decoded once per 4 tokens); more tokens dequantize row tiles to fp32 and call sgemm.
  int64_t row_kernel_max_tokens = 8;
  // Kernels with less work than this (weights x tokens) run on the calling thread only.
  int64_t parallel_min_work = int64_t{1} << 17;
};

KernelTuning& kernel_tuning();

}  // namespace sqz::kernels

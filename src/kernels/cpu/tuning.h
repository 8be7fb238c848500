// Run-time knobs of the CPU kernels, for benchmarks and experiments (defaults are the measured best on
// the development machine; see bench/bench_kernels.cpp). Not thread-safe: set them before running kernels.
#pragma once
#include <cstdint>

#include "kernels/cpu/isa.h"

namespace sqz::kernels {

struct KernelTuning {
  // lut_gemm / group_gemm / nf4_gemm with at most this many tokens use the multi-token row kernels (rows
  // decoded once per 4 tokens); more tokens dequantize row tiles to fp32 and call sgemm. -1: the measured
  // crossover of the active ISA (row_kernel_max_tokens_for).
  int64_t row_kernel_max_tokens = -1;
  // Kernels with less work than this (weights x tokens) run on the calling thread only.
  int64_t parallel_min_work = int64_t{1} << 17;
};

KernelTuning& kernel_tuning();

// Measured on Zen 5, 2 threads, LUT 3/4-bit and group int4 at 4096x4096 and 4096x11008, n = 8..512 (see
// docs/results.md, "batched path"): the AVX-512 row kernels beat dequantize+sgemm at every n measured, by
// 1.0-2.6x, even against OpenBLAS's SkylakeX sgemm; the AVX2 ones up to n = 32; the scalar ones only for
// single tokens.
int64_t row_kernel_max_tokens_for(Isa isa);

}  // namespace sqz::kernels

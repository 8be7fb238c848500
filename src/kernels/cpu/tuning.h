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

// How a format's row kernel gets its weights: Table = one 16-entry table per row segment and a permute
// per 16 weights (LUT, aligned groups of 2-4 bits, aligned NF4); PerLane = per-lane arithmetic or gathers
// (8-bit groups, g_idx or unaligned groups, NF4 blocks that do not tile the rows).
enum class RowDecode { Table, PerLane };

// Measured on Zen 5, 2 threads, at 4096x4096 and 4096x11008, n = 8..512 (see docs/results.md, "batched
// path"). Table: the AVX-512 row kernels beat dequantize+sgemm at every n measured, by 1.0-2.6x, even
// against OpenBLAS's SkylakeX sgemm; the AVX2 ones up to n = 32; the scalar ones only for single tokens.
// PerLane: AVX-512 row kernels win at n = 16 (8-bit g128: 10.5 vs 12.2 ms) and lose at 64 (42 vs 29 ms);
// AVX2 loses already at 16 (NF4 block 48: 30 vs 13 ms).
int64_t row_kernel_max_tokens_for(Isa isa, RowDecode decode = RowDecode::Table);

}  // namespace sqz::kernels

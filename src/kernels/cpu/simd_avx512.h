// Row kernels compiled for AVX-512 (simd_avx512.cpp). Called only when active_isa() == Isa::Avx512.
#pragma once
#include <cstdint>

namespace sqz::kernels::avx512 {

// Dot product of one packed LUT row (bits 3 or 4, layout of formats.h) with x; lut: 2^bits fp16.
float lut_row_dot(int bits, const uint32_t* packed, const uint16_t* lut, int64_t cols, const float* x);
// Dot product of one fp16 row with x.
float f16_row_dot(const uint16_t* w, int64_t cols, const float* x);

}  // namespace sqz::kernels::avx512

// Internal: how the fused kernels (fused_gemv.cu) map packed weights and activations onto mma tiles, for
// the device code and for the host simulation in tests/cuda/fragment_sim_test.cpp, which checks the
// mapping against the format's reference without a GPU. CUDA-free when not compiled by nvcc.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define SQZ_HD __host__ __device__ __forceinline__
#else
#define SQZ_HD inline
#endif

namespace sqz::kernels::cuda::detail {

constexpr int kRows = 8;          // output rows per block (the mma's n)
constexpr int kUnitsPerLane = 4;  // 32-column units a lane reads per step
constexpr int kStepCols = 512;    // columns of one step of one warp (4 lanes x 128)

template <int BITS>
constexpr int words_per_unit() {
  return BITS == 3 ? 3 : BITS;  // 32 indices of 2, 3, 4 or 8 bits
}

SQZ_HD uint32_t funnel_r(uint32_t lo, uint32_t hi, int sh) {
#if defined(__CUDA_ARCH__)
  return __funnelshift_r(lo, hi, (unsigned)sh);
#else
  return (uint32_t)(((((uint64_t)hi) << 32) | lo) >> (sh & 31));
#endif
}

// The 2 * BITS index bits of columns (2p, 2p+1) of a 32-column unit (lower column in the lower bits), from
// the unit's stored words (kernels/cpu/formats.cpp's pack_row: 3-bit units are one 96-bit stream).
template <int BITS>
SQZ_HD uint32_t pair_field(const uint32_t* w, int p) {
  if constexpr (BITS == 2) {
    return (w[p >> 3] >> (4 * (p & 7))) & 0xFu;
  } else if constexpr (BITS == 3) {
    const int bit = 6 * p, wi = bit >> 5, sh = bit & 31;
    if (sh <= 26) return (w[wi] >> sh) & 63u;
    return funnel_r(w[wi], w[wi + 1], sh) & 63u;
  } else {
    static_assert(BITS == 4, "pair_field: 2, 3 or 4 bits");
    return (w[p >> 2] >> (8 * (p & 3))) & 0xFFu;
  }
}

// Step s, lane quarter q (lane % 4): the first of the lane's kUnitsPerLane consecutive 32-column units.
SQZ_HD int64_t lane_unit0(int64_t s, int q) { return s * (kStepCols / 32) + q * kUnitsPerLane; }
// fp16 tile j (0..7) of unit u: k-slots (2q, 2q+1, 2q+8, 2q+9) are columns col..col+3, so b0 = pair 2j,
// b1 = pair 2j+1, and the activation fragments a0 / a2 of a token are x[col, col+1] / x[col+2, col+3].
SQZ_HD int64_t tile_col(int64_t unit, int j) { return unit * 32 + 4 * j; }
// int8: the lane's 128 bytes of step s start at this column; tile j (0..15) takes its bytes 8j..8j+7,
// b0 = columns +0..3, b1 = +4..7, and a0 / a2 are the token's int8 activations at the same columns.
SQZ_HD int64_t i8_lane_col(int64_t s, int q) { return (s * 4 + q) * 128; }
// The output of accumulator i (0..3) of lane l: token (l / 4) + 8 (i / 2), row 2 (l % 4) + i % 2.
SQZ_HD int acc_token(int l, int i) { return (l >> 2) + (i >> 1) * 8; }
SQZ_HD int acc_row(int l, int i) { return 2 * (l & 3) + (i & 1); }

}  // namespace sqz::kernels::cuda::detail

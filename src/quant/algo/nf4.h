// NF4 (Dettmers et al., "QLoRA", 2023): 4-bit NormalFloat. Consecutive blocks of `block` (64) weights,
// row-major over the whole matrix (a block may span rows; the last may be short), each scaled by its absmax:
//     code = nearest(kNf4Values, w / absmax),   w_hat = kNf4Values[code] * absmax
// (nearest by value via midpoints in double, ties to the lower code; an all-zero block has absmax 0 and
// code 7, the exact 0).
//
// Double quantization (QLoRA "DQ"): the fp32 absmax values themselves are compressed: subtract their mean,
// then per block of 256 absmax values a symmetric int8 with an fp32 scale (max |a - mean| / 127,
// round-half-even); inference uses a_hat = q * scale + mean. As the brief specifies, this is linear int8;
// bitsandbytes uses its 8-bit dynamic (tree) map for this step, the storage is the same (8 bits per block
// plus one fp32 per 256 blocks). Codes are then chosen against a_hat, the scale inference really uses
// (bitsandbytes picks them against the exact absmax); if a_hat <= 0 for a non-zero block its codes are 7.
//
// The table and the nearest-code rule are the format's (kernels/cpu/formats.h: kNf4Codebook, nf4_nearest).
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/cpu/formats.h"

namespace sqz::quant {

using kernels::kNf4Codebook;
using kernels::nf4_nearest;

struct Nf4Options {
  int64_t block = 64;
  bool double_quant = false;
  int64_t dq_block = 256;
};

struct Nf4Result {
  int64_t rows = 0, cols = 0, block = 64;
  std::vector<uint8_t> codes;  // rows * cols, 0..15
  std::vector<float> absmax;   // ceil(rows * cols / block): the scale used at inference (a_hat with DQ)
  // Double quantization storage (when double_quant):
  bool double_quant = false;
  int64_t dq_block = 256;
  float dq_mean = 0;
  std::vector<int8_t> absmax_q;  // one per block
  std::vector<float> dq_scale;   // one per dq_block absmax values
  // Bytes of the stored form: packed 4-bit codes (ceil(numel / 2)) + absmax (4 each, or 1 each + 4 per
  // dq_block + 4 for the mean with DQ).
  int64_t storage_bytes = 0;
  double bits_per_weight = 0;

  float dequant(int64_t i) const { return kNf4Codebook[codes[i]] * absmax[i / block]; }  // flat index
  std::vector<float> dequantize() const;
};

Nf4Result nf4_quantize(const float* W, int64_t rows, int64_t cols, const Nf4Options& opt = {});

}  // namespace sqz::quant

#include "quant/algo/nf4.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "quant/algo/parallel.h"

namespace sqz::quant {

std::vector<float> Nf4Result::dequantize() const {
  std::vector<float> out((size_t)(rows * cols));
  for (int64_t i = 0; i < rows * cols; ++i) out[i] = dequant(i);
  return out;
}

Nf4Result nf4_quantize(const float* W, int64_t rows, int64_t cols, const Nf4Options& opt) {
  SQZ_CHECK(rows >= 0 && cols >= 0, "nf4: bad shape [{}, {}]", rows, cols);
  SQZ_CHECK(opt.block >= 1 && opt.dq_block >= 1, "nf4: block sizes must be >= 1 ({}, {})", opt.block, opt.dq_block);
  const int64_t n = rows * cols;
  Nf4Result r;
  r.rows = rows, r.cols = cols, r.block = opt.block, r.double_quant = opt.double_quant, r.dq_block = opt.dq_block;
  const int64_t nb = (n + opt.block - 1) / opt.block;
  r.codes.resize((size_t)n);
  r.absmax.resize((size_t)nb);
  parallel_for_rethrow(nb, 256, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      float m = 0;
      for (int64_t i = b * opt.block; i < std::min(n, (b + 1) * opt.block); ++i) {
        SQZ_CHECK(std::isfinite(W[i]), "nf4: weight ({}, {}) is not finite", i / cols, i % cols);
        m = std::max(m, std::fabs(W[i]));
      }
      r.absmax[b] = m;
    }
  });
  if (opt.double_quant && nb > 0) {
    double mean = 0;
    for (float a : r.absmax) mean += a;
    r.dq_mean = (float)(mean / (double)nb);
    const int64_t nd = (nb + opt.dq_block - 1) / opt.dq_block;
    r.dq_scale.resize((size_t)nd);
    r.absmax_q.resize((size_t)nb);
    for (int64_t d = 0; d < nd; ++d) {
      const int64_t a0 = d * opt.dq_block, a1 = std::min(nb, a0 + opt.dq_block);
      float m = 0;
      for (int64_t i = a0; i < a1; ++i) m = std::max(m, std::fabs(r.absmax[i] - r.dq_mean));
      const float scale = m / 127.0f;
      r.dq_scale[d] = scale;
      for (int64_t i = a0; i < a1; ++i) {
        const int8_t q = scale > 0
            ? (int8_t)std::clamp(std::nearbyint((double)(r.absmax[i] - r.dq_mean) / scale), -127.0, 127.0)
            : (int8_t)0;
        r.absmax_q[i] = q;
        r.absmax[i] = (float)q * scale + r.dq_mean;  // the scale inference will use
      }
    }
  }
  parallel_for(nb, 256, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const float a = r.absmax[b];
      for (int64_t i = b * opt.block; i < std::min(n, (b + 1) * opt.block); ++i)
        r.codes[i] = a > 0 ? nf4_nearest(W[i] / a) : (uint8_t)7;
    }
  });
  const int64_t nd = (nb + opt.dq_block - 1) / opt.dq_block;
  r.storage_bytes = (n + 1) / 2 + (opt.double_quant ? nb + 4 * nd + 4 : 4 * nb);
  r.bits_per_weight = n ? 8.0 * (double)r.storage_bytes / (double)n : 0;
  return r;
}

}  // namespace sqz::quant

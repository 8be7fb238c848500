#include "model/dense_linear.h"

#include <cblas.h>

#include <algorithm>

#include "core/error.h"
#include "kernels/cpu/dense.h"

namespace sqz {

DenseLinear::DenseLinear(const TensorView& w) : Linear(w.dim(1), w.dim(0)), w_(w) {
  SQZ_CHECK(w.shape.size() == 2, "{}: linear weight must be 2-D, got {}", w.source, shape_str(w.shape));
  SQZ_CHECK(w.packed_format.empty() && (w.dtype == DType::F32 || w.dtype == DType::F16 || w.dtype == DType::BF16),
            "{}: linear weight dtype {} is not supported (F32, F16, BF16)", w.source, dtype_name(w.dtype));
}

DenseLinear::DenseLinear(std::vector<float> w, int64_t out, int64_t in) : Linear(in, out), owned_(std::move(w)) {
  SQZ_CHECK((int64_t)owned_.size() == out * in, "DenseLinear: {} values for a [{}, {}] weight", owned_.size(), out, in);
  w_ = f32_view(owned_, {out, in});
}

std::string DenseLinear::format() const {
  switch (w_.dtype) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    default: return "bf16";
  }
}

void DenseLinear::dequantize(float* W) const { convert_to_f32(w_, W); }

void DenseLinear::matmul(const float* X, int64_t n, float* Y) const {
  const int64_t rows = out_features(), cols = in_features();
  if (w_.dtype == DType::F32) {
    kernels::gemm_f32(w_.as<float>(), rows, cols, X, n, Y);
    return;
  }
  if (n == 1) {
    if (w_.dtype == DType::F16)
      kernels::gemv_f16(w_.as<uint16_t>(), rows, cols, X, Y);
    else
      kernels::gemv_bf16(w_.as<uint16_t>(), rows, cols, X, Y);
    return;
  }
  // A few tokens: the multi-token row kernels read the fp16 weights once per 4 tokens, where a converted
  // tile is written, packed and read again by sgemm. 413M-parameter model, 2 threads, prefill tok/s rows /
  // tiles: 32 tokens 77-99 / 38-42, 64: 68 / 49, 128: 81 / 82, 256: 78 / 95.
  constexpr int64_t kHalfRowKernelMaxTokens = 64;
  if (n <= kHalfRowKernelMaxTokens &&
      (w_.dtype == DType::F16 ? kernels::gemm_f16_rows : kernels::gemm_bf16_rows)(w_.as<uint16_t>(), rows, cols, X, n, Y))
    return;
  // Many tokens: convert a tile of rows to fp32 and let sgemm write those output columns.
  const int64_t tile = std::max<int64_t>(16, (1 << 20) / std::max<int64_t>(cols, 1));
  std::vector<float> buf((size_t)(std::min(tile, rows) * cols));
  for (int64_t r0 = 0; r0 < rows; r0 += tile) {
    const int64_t r1 = std::min(rows, r0 + tile);
    convert_to_f32(w_, buf.data(), r0 * cols, (r1 - r0) * cols);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)(r1 - r0), (int)cols, 1.0f, X, (int)cols,
                buf.data(), (int)cols, 0.0f, Y + r0, (int)rows);
  }
}

}  // namespace sqz

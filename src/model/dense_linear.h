// Unquantized linear layer. The weight stays where it is (usually the memory-mapped checkpoint) in its
// stored dtype: fp32 goes straight to OpenBLAS; fp16/bf16 use the F16C GEMV for single tokens and are
// converted in row tiles for sgemm when many tokens come at once, so no second full copy exists.
#pragma once
#include "core/tensor.h"
#include "model/linear.h"

namespace sqz {

class DenseLinear : public Linear {
 public:
  // `w` must be [out, in] of F32, F16 or BF16 and outlive this object (mmap'd checkpoint).
  explicit DenseLinear(const TensorView& w);
  // Owns an fp32 weight (quantizers' dequantized results, tests).
  DenseLinear(std::vector<float> w, int64_t out, int64_t in);

  void dequantize(float* W) const override;
  size_t weight_bytes() const override { return w_.nbytes; }
  std::string format() const override;

 protected:
  void matmul(const float* X, int64_t n, float* Y) const override;

 private:
  std::vector<float> owned_;
  TensorView w_;
};

}  // namespace sqz

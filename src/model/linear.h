// The seam between the model and weight formats: every linear layer of the model is a Linear. The model
// code never knows whether a weight is fp32, fp16, a SqueezeLLM LUT with a sparse part, a uniform group
// format or int8; quantized implementations plug in here.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sqz {

namespace kernels {
struct PackedMatrix;
struct CsrMatrix;
}  // namespace kernels

class Linear {
 public:
  Linear(int64_t in_features, int64_t out_features) : in_(in_features), out_(out_features) {}
  virtual ~Linear() = default;
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

  // Y[n, out] = X[n, in] W^T + b, all row-major and contiguous.
  void forward(const float* X, int64_t n, float* Y) const {
    matmul(X, n, Y);
    add_bias(Y, n);
  }
  // The weight this layer multiplies by, as fp32 [out, in] row-major (the backward pass, calibration,
  // error reports and tests use it).
  virtual void dequantize(float* W) const = 0;
  std::vector<float> dequantize() const {
    std::vector<float> w((size_t)(in_ * out_));
    dequantize(w.data());
    return w;
  }
  // Bytes of weight data (with scales, LUTs, sparse arrays) one forward pass reads.
  virtual size_t weight_bytes() const = 0;
  // Short name of the storage format, e.g. "f32", "f16", "lut3+csr", "int4g128", "nf4", "w8a8".
  virtual std::string format() const = 0;

  // The packed matrix and sparse part of a quantized layer (other engines and exporters read them), or
  // nullptr for a dense one.
  virtual const kernels::PackedMatrix* packed() const { return nullptr; }
  virtual const kernels::CsrMatrix* sparse() const { return nullptr; }

  void set_bias(std::vector<float> b) { bias_ = std::move(b); }
  const std::vector<float>& bias() const { return bias_; }

 protected:
  virtual void matmul(const float* X, int64_t n, float* Y) const = 0;

 private:
  void add_bias(float* Y, int64_t n) const {
    if (bias_.empty()) return;
    for (int64_t t = 0; t < n; ++t)
      for (int64_t o = 0; o < out_; ++o) Y[t * out_ + o] += bias_[(size_t)o];
  }
  int64_t in_, out_;
  std::vector<float> bias_;
};

}  // namespace sqz

// The rows of the method table, one file each (quant/quantizer.h: Method); registry.cpp lists them.
#pragma once
#include <memory>

#include "model/llama.h"
#include "quant/quantizer.h"

namespace sqz::quant {

extern const Method kRtn, kSqueezeLlm, kGptq, kNf4, kSmoothQuant, kAwq;

// The format parameters of the uniform methods' "group" rows: the width and the group size as stored
// (-1, one group per row, is stored as 0).
inline kernels::FormatParams uniform_params(const QuantOptions& o) {
  return kernels::FormatParams{o.bits, o.group_size == -1 ? 0 : o.group_size};
}

// Method::needs_for for a method whose needs do not depend on its options.
inline std::function<std::vector<std::string>(const QuantOptions&)> needs_always(std::vector<std::string> what) {
  return [what](const QuantOptions&) { return what; };
}

// Method::make for a quantizer constructed from the options.
template <class Q>
std::unique_ptr<Quantizer> make_as(const QuantOptions& o) {
  return std::make_unique<Q>(o);
}

// The base of the methods' quantizers: their options.
class MethodQuantizer : public Quantizer {
 public:
  explicit MethodQuantizer(const QuantOptions& o) : o_(o) {}

 protected:
  const QuantOptions o_;
};

// Method::make for a method that quantizes each matrix on its own from the options alone (rtn, nf4).
using MatrixFn = QuantizedTensors (*)(const QuantOptions& o, const std::vector<float>& W, int64_t rows, int64_t cols);
template <MatrixFn Fn>
std::unique_ptr<Quantizer> make_per_matrix(const QuantOptions& o) {
  struct PerMatrix : MethodQuantizer {
    using MethodQuantizer::MethodQuantizer;
    QuantizedTensors quantize_matrix(const std::string&, std::vector<float>& W, int64_t rows, int64_t cols,
                                     const TensorView*) override {
      return Fn(o_, W, rows, cols);
    }
  };
  return std::make_unique<PerMatrix>(o);
}

}  // namespace sqz::quant

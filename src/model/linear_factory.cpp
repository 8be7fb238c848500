#include "core/error.h"
#include "model/dense_linear.h"
#include "model/llama.h"
#include "model/quantized_linear.h"

namespace sqz {

std::unique_ptr<Linear> make_linear(const Checkpoint& ckpt, const std::string& base, int64_t out, int64_t in) {
  if (const TensorView* w = ckpt.find(base + ".weight")) {
    const TensorView& t = ckpt.require(base + ".weight", {out, in});
    if (!w->packed_format.empty()) return make_packed_tensor_linear(t);
    return std::make_unique<DenseLinear>(t);
  }
  if (auto q = make_quantized_linear(ckpt, base, out, in)) return q;
  fail("{}: no tensor {}.weight and no quantized tensors for {}", ckpt.path, base, base);
}

}  // namespace sqz

#include "core/error.h"
#include "model/dense_linear.h"
#include "model/llama.h"
#include "model/quantized_linear.h"

namespace sqz {

std::unique_ptr<Linear> make_linear(const Checkpoint& ckpt, const std::string& base, int64_t out, int64_t in) {
  if (ckpt.find(base + ".weight")) return std::make_unique<DenseLinear>(ckpt.require(base + ".weight", {out, in}));
  if (auto q = make_quantized_linear(ckpt, base, out, in)) return q;
  fail("{}: no tensor {}.weight and no quantized tensors for {}", ckpt.path, base, base);
}

}  // namespace sqz

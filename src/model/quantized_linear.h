// Linear layers over packed formats. A quantized linear `base` (e.g. "model.layers.0.mlp.down_proj") is
// stored as tensors named base + suffix, in the schema of its format's row in the format table
// (kernels/format.h; layouts in docs/format.md). Which row, and its parameters (bits, group size, ...),
// come from the checkpoint's quantization_config: its "format" (or, for directories written before the
// table, its "method"), overridden per linear by quantization_config.linears[base] in mixed plans.
#pragma once
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/tensor.h"
#include "kernels/format.h"
#include "io/checkpoint.h"
#include "model/linear.h"

namespace sqz {

// Where a quantized linear's tensors are found: a checkpoint, or tensors a quantizer has just made.
using TensorLookup = std::function<const TensorView*(const std::string& name)>;

struct LinearFormat {
  const kernels::Format* format = nullptr;
  kernels::FormatParams params;
};
// The format and parameters of linear `base` [out, in]; throws Error naming `source` when the config names
// an unknown format or invalid parameters.
LinearFormat linear_format(const nlohmann::json& qconfig, const std::string& base, int64_t out, int64_t in,
                           const std::string& source);

// Builds the Linear for `base` from its quantized tensors, or returns nullptr when there are none.
// Throws Error naming the tensor when one is missing or has the wrong shape or dtype.
std::unique_ptr<Linear> make_quantized_linear(const TensorLookup& find, const nlohmann::json& qconfig,
                                              const std::string& base, int64_t out, int64_t in,
                                              const std::string& source);
std::unique_ptr<Linear> make_quantized_linear(const Checkpoint& ckpt, const std::string& base, int64_t out, int64_t in);
// A weight that is itself a packed tensor (TensorView::packed_format set: a GGUF block type).
std::unique_ptr<Linear> make_packed_tensor_linear(const TensorView& w);

}  // namespace sqz

// Linear layers over sqz's packed formats (kernels/cpu/formats.h; layouts in docs/format.md). A quantized
// linear `base` (e.g. "model.layers.0.mlp.down_proj") is stored as tensors named base + suffix:
//   SqueezeLLM (LUT):   .qweight U32 [out, words], .lut F16 [out, 2^bits],
//                       optional sparse part .sparse_row_ptr I32 [out+1], .sparse_col_idx I32 [nnz], .sparse_values F16 [nnz]
//   uniform group:      .qweight U32 [out, words], .scales F16 [out, groups], .qzeros F16 [out, groups], optional .g_idx I32 [in]
//   NF4:                .qweight U32 [out, words], .absmax F32 [blocks]
//   W8A8 (SmoothQuant): .qweight_i8 I8 [out, in], .wscale F32 [out], optional .act_scale F32 [1] (static activations)
// The format is recognised from which tensors exist; bits and group size come from the quantization
// config (a JSON object: "bits", "group_size", "act_quant").
#pragma once
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/tensor.h"
#include "io/checkpoint.h"
#include "model/linear.h"

namespace sqz {

// Where a quantized linear's tensors are found: a checkpoint, or tensors a quantizer has just made.
using TensorLookup = std::function<const TensorView*(const std::string& name)>;

// Builds the Linear for `base` from its quantized tensors, or returns nullptr when there are none.
// Throws Error naming the tensor when one is missing or has the wrong shape or dtype.
std::unique_ptr<Linear> make_quantized_linear(const TensorLookup& find, const nlohmann::json& qconfig,
                                              const std::string& base, int64_t out, int64_t in,
                                              const std::string& source);
std::unique_ptr<Linear> make_quantized_linear(const Checkpoint& ckpt, const std::string& base, int64_t out, int64_t in);

}  // namespace sqz

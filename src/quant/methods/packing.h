// Turns the quantizers' in-memory results into the stored tensors of model/quantized_linear.h.
#pragma once
#include "quant/algo/dense_sparse.h"
#include "quant/algo/nf4.h"
#include "quant/algo/squeezellm.h"
#include "quant/algo/uniform.h"
#include "quant/quantizer.h"

namespace sqz::quant {

// Packs rows*cols b-bit codes into the U32 ".qweight" tensor.
OwnedTensor pack_codes(int bits, const std::vector<uint8_t>& codes, int64_t rows, int64_t cols);

QuantizedTensors store_lut(const SqueezeLlmResult& r, const SparseSplit* split);
QuantizedTensors store_group(const GroupQuant& g);
QuantizedTensors store_nf4(const Nf4Result& r);

}  // namespace sqz::quant

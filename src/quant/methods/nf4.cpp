// --method nf4: QLoRA's 4-bit NormalFloat, blocks of 64 with absmax scales, optional double quantization.
#include "core/error.h"
#include "quant/algo/nf4.h"
#include "quant/methods/methods.h"
#include "quant/methods/packing.h"

namespace sqz::quant {

namespace {

QuantizedTensors nf4_matrix(const QuantOptions& o, const std::vector<float>& W, int64_t rows, int64_t cols) {
  return store_nf4(nf4_quantize(W.data(), rows, cols, {.block = o.block_size, .double_quant = o.double_quant}));
}

}  // namespace

const Method kNf4 = {
    .name = "nf4", .format = "nf4",
    .summary = "QLoRA's 4-bit NormalFloat with an absmax per block, optionally double-quantized; no calibration",
    .params = [](const QuantOptions& o) {
      return kernels::FormatParams{o.bits, o.block_size, o.double_quant ? Nf4Options{}.dq_block : 0};
    },
    .make = make_per_matrix<nf4_matrix>,
};

}  // namespace sqz::quant

// --method nf4: QLoRA's 4-bit NormalFloat, blocks of 64 with absmax scales, optional double quantization.
#include "core/error.h"
#include "quant/algo/nf4.h"
#include "quant/methods/methods.h"
#include "quant/methods/packing.h"

namespace sqz::quant {

namespace {

class Nf4Quantizer : public Quantizer {
 public:
  explicit Nf4Quantizer(const QuantOptions& o) : o_(o) {}
  void quantize_layer(LayerJob& job, std::array<QuantizedTensors, kNumSlots>& out) override {
    for (int s = 0; s < kNumSlots; ++s) out[s] = quantize_matrix(job.weight_name(s), job.W[s], job.out[s], job.in[s], nullptr);
  }
  QuantizedTensors quantize_matrix(const std::string&, std::vector<float>& W, int64_t out, int64_t in,
                                   const TensorView*) override {
    Nf4Options n;
    n.block = o_.block_size;
    n.double_quant = o_.double_quant;
    return store_nf4(nf4_quantize(W.data(), out, in, n));
  }

 private:
  QuantOptions o_;
};

}  // namespace

const Method kNf4 = {
    .name = "nf4",
    .summary = "QLoRA's 4-bit NormalFloat with an absmax per block, optionally double-quantized; no calibration",
    .format = "nf4",
    .needs = [](const QuantOptions&) { return std::vector<std::string>{}; },
    .params = [](const QuantOptions& o) {
      return kernels::FormatParams{o.bits, o.block_size, o.double_quant ? Nf4Options{}.dq_block : 0};
    },
    .check = nullptr,
    .make = [](const QuantOptions& o) -> std::unique_ptr<Quantizer> { return std::make_unique<Nf4Quantizer>(o); },
};

}  // namespace sqz::quant

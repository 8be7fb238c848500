// --method nf4: QLoRA's 4-bit NormalFloat, blocks of 64 with absmax scales, optional double quantization.
#include "core/error.h"
#include "quant/algo/nf4.h"
#include "quant/methods/methods.h"
#include "quant/methods/packing.h"

namespace sqz::quant {

namespace {

class Nf4Quantizer : public Quantizer {
 public:
  explicit Nf4Quantizer(const QuantOptions& o) : o_(o) {
    SQZ_CHECK(o.bits == 4, "nf4 is a 4-bit format (got --bits {})", o.bits);
  }
  nlohmann::json config() const override {
    return {{"quant_method", "nf4"}, {"method", "nf4"}, {"bits", 4}, {"block_size", o_.nf4_block},
            {"double_quant", o_.double_quant}, {"dq_block_size", 256}};
  }
  LinearFormat format() const override { return {&kernels::format("nf4"), kernels::FormatParams{4, o_.nf4_block, o_.double_quant ? 256 : 0}}; }
  std::vector<std::string> needs() const override { return {}; }
  void quantize_layer(LayerJob& job, std::array<QuantizedTensors, kNumSlots>& out) override {
    for (int s = 0; s < kNumSlots; ++s) out[s] = quantize_matrix(job.weight_name(s), job.W[s], job.out[s], job.in[s], nullptr);
  }
  QuantizedTensors quantize_matrix(const std::string&, std::vector<float>& W, int64_t out, int64_t in,
                                   const TensorView*) override {
    Nf4Options n;
    n.block = o_.nf4_block;
    n.double_quant = o_.double_quant;
    return store_nf4(nf4_quantize(W.data(), out, in, n));
  }

 private:
  QuantOptions o_;
};

}  // namespace

std::unique_ptr<Quantizer> make_nf4(const QuantOptions& o) { return std::make_unique<Nf4Quantizer>(o); }

}  // namespace sqz::quant

// --method rtn: round-to-nearest asymmetric min/max, per output channel or per group, optional clipping
// search. Needs no calibration data.
#include "core/error.h"
#include "quant/methods/methods.h"
#include "quant/methods/packing.h"

namespace sqz::quant {

namespace {

class RtnQuantizer : public Quantizer {
 public:
  explicit RtnQuantizer(const QuantOptions& o) : o_(o) {
    SQZ_CHECK(o.bits >= 2 && o.bits <= 8, "rtn supports 2 to 8 bits, not {}", o.bits);
  }
  nlohmann::json config() const override {
    return {{"quant_method", "rtn"}, {"method", "rtn"}, {"bits", o_.bits}, {"group_size", o_.group > 0 ? o_.group : -1},
            {"clip_search", o_.clip_search}, {"lm_head", o_.quantize_lm_head}};
  }
  LinearFormat format() const override { return {&kernels::format("group"), kernels::FormatParams{o_.bits, o_.group > 0 ? o_.group : 0}}; }
  std::vector<std::string> needs() const override { return {}; }
  void quantize_layer(LayerJob& job, std::array<QuantizedTensors, kNumSlots>& out) override {
    for (int s = 0; s < kNumSlots; ++s) out[s] = quantize_matrix(job.weight_name(s), job.W[s], job.out[s], job.in[s], nullptr);
  }
  QuantizedTensors quantize_matrix(const std::string&, std::vector<float>& W, int64_t out, int64_t in,
                                   const TensorView*) override {
    UniformOptions u;
    u.bits = o_.bits;
    u.group = o_.group > 0 ? o_.group : in;
    u.clip_search = o_.clip_search;
    return store_group(uniform_quantize(W.data(), out, in, u));
  }

 private:
  QuantOptions o_;
};

}  // namespace

std::unique_ptr<Quantizer> make_rtn(const QuantOptions& o) { return std::make_unique<RtnQuantizer>(o); }

}  // namespace sqz::quant

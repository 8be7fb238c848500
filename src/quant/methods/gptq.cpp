// --method gptq: GPTQ with the layer-input Hessians from `sqz calibrate` (quant/algo/gptq.h).
#include "calib/stats.h"
#include "core/error.h"
#include "quant/algo/gptq.h"
#include "quant/methods/methods.h"
#include "quant/methods/packing.h"

namespace sqz::quant {

namespace {

class GptqQuantizer : public Quantizer {
 public:
  explicit GptqQuantizer(const QuantOptions& o) : o_(o) {
    SQZ_CHECK(o.bits >= 2 && o.bits <= 8, "gptq supports 2 to 8 bits, not {}", o.bits);
  }
  nlohmann::json config() const override {
    return {{"quant_method", "gptq"}, {"method", "gptq"}, {"bits", o_.bits}, {"group_size", o_.group > 0 ? o_.group : -1},
            {"act_order", o_.act_order}, {"desc_act", o_.act_order}, {"damp_percent", o_.percdamp}, {"sym", false}};
  }
  LinearFormat format() const override { return {&kernels::format("group"), kernels::FormatParams{o_.bits, o_.group > 0 ? o_.group : 0}}; }
  std::vector<std::string> needs() const override { return {"hessian"}; }
  void quantize_layer(LayerJob& job, std::array<QuantizedTensors, kNumSlots>& out) override {
    for (int s = 0; s < kNumSlots; ++s) {
      const LinearInput in = slot_input(s);
      const TensorView* H = job.stats->hessian(job.layer, in);
      SQZ_CHECK(H, "{}: no Hessian for layer {} input {} (run `sqz calibrate --stats hessian`)", job.stats->path(),
                job.layer, linear_input_name(in));
      out[s] = run(job.W[s], job.out[s], job.in[s], H->as<float>());
    }
  }
  QuantizedTensors quantize_matrix(const std::string& name, std::vector<float>&, int64_t, int64_t,
                                   const TensorView*) override {
    fail("gptq: quantizing {} needs its input Hessian, which `sqz calibrate` does not collect for lm_head", name);
  }

 private:
  QuantizedTensors run(const std::vector<float>& W, int64_t rows, int64_t cols, const float* H) const {
    GptqOptions g;
    g.quant.bits = o_.bits;
    g.quant.group = o_.group > 0 ? o_.group : cols;
    g.percdamp = o_.percdamp;
    g.act_order = o_.act_order;
    return store_group(gptq_quantize(W.data(), rows, cols, H, g).q);
  }
  QuantOptions o_;
};

}  // namespace

std::unique_ptr<Quantizer> make_gptq(const QuantOptions& o) { return std::make_unique<GptqQuantizer>(o); }

}  // namespace sqz::quant

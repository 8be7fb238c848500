// --method gptq: GPTQ with the layer-input Hessians from `sqz calibrate` (quant/algo/gptq.h).
#include "calib/stats.h"
#include "core/error.h"
#include "quant/algo/gptq.h"
#include "quant/methods/methods.h"
#include "quant/methods/packing.h"

namespace sqz::quant {

namespace {

class GptqQuantizer : public MethodQuantizer {
 public:
  using MethodQuantizer::MethodQuantizer;
  void quantize_layer(LayerJob& job, std::array<QuantizedTensors, kNumSlots>& out) override {
    for (int s = 0; s < kNumSlots; ++s) {
      const LinearInput in = slot_input(s);
      const TensorView* H = job.stats->hessian(job.layer, in);
      SQZ_CHECK(H, "{}: no Hessian for layer {} input {} (run `sqz calibrate --collect hessian`)", job.stats->path(),
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
    g.quant.group = o_.group_size > 0 ? o_.group_size : cols;
    g.percdamp = o_.damp_percent;
    g.act_order = o_.act_order;
    return store_group(gptq_quantize(W.data(), rows, cols, H, g).q);
  }
};

}  // namespace

const Method kGptq = {
    .name = "gptq", .format = "group",
    .summary = "GPTQ: column by column with error compensation through the layer-input Hessian",
    .needs_for = needs_always({"hessian"}), .params = uniform_params, .make = make_as<GptqQuantizer>,
};

}  // namespace sqz::quant

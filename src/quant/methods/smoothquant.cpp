// --method smoothquant: W8A8. Activation outliers of the q/k/v input and of the gate/up input are migrated
// into the weights (s_j = max|X_j|^alpha / max|W_j|^(1-alpha), folded into the preceding RMSNorm), then
// every linear is int8 per output channel; activations are int8 at run time (per token, per tensor, or
// per tensor with a static scale from calibration). o_proj and down_proj have no norm before them and are
// not smoothed, as in SmoothQuant's LLaMA recipe. --no-smooth gives plain W8A8 for comparison.
#include <algorithm>
#include <cmath>

#include "calib/stats.h"
#include "core/error.h"
#include "quant/algo/smoothquant.h"
#include "quant/methods/methods.h"

namespace sqz::quant {

namespace {

class SmoothQuantQuantizer : public MethodQuantizer {
 public:
  using MethodQuantizer::MethodQuantizer;

  void quantize_layer(LayerJob& job, std::array<QuantizedTensors, kNumSlots>& out) override {
    // Per input: the smoothing scales (ones when not smoothing), applied to the norm and the weights.
    auto smooth = [&](LinearInput in, std::vector<int> slots, std::vector<float>* norm) {
      const TensorView* amax = job.stats->act_absmax(job.layer, in);
      SQZ_CHECK(amax, "{}: no activation statistics for layer {} input {} (run `sqz calibrate --collect act`)",
                job.stats->path(), job.layer, linear_input_name(in));
      const int64_t cols = job.in[slots[0]];
      std::vector<float> act = to_f32(*amax);
      std::vector<float> s((size_t)cols, 1.0f);
      if (o_.smooth && norm) {
        std::vector<LinearRef> refs;
        for (int sl : slots) refs.push_back(LinearRef{job.W[sl].data(), job.out[sl]});
        s = smoothquant_scales(act.data(), refs, cols, o_.alpha);
        for (int sl : slots) scale_columns(job.W[sl].data(), job.out[sl], cols, s.data());
        divide_vector(norm->data(), cols, s.data());
      }
      // Static activation scale: the largest smoothed calibration activation maps to 127.
      float m = 0.f;
      for (int64_t j = 0; j < cols; ++j) m = std::max(m, act[(size_t)j] / s[(size_t)j]);
      for (int sl : slots) out[sl] = store(job.W[sl], job.out[sl], cols, m > 0 ? m / 127.f : 1.f);
    };
    smooth(LinearInput::Attn, {kQ, kK, kV}, job.attn_norm);
    smooth(LinearInput::AttnOut, {kO}, nullptr);
    smooth(LinearInput::Mlp, {kGate, kUp}, job.ffn_norm);
    smooth(LinearInput::MlpDown, {kDown}, nullptr);
  }

  QuantizedTensors quantize_matrix(const std::string& name, std::vector<float>& W, int64_t out, int64_t in,
                                   const TensorView*) override {
    SQZ_CHECK(o_.act_quant != "per_tensor_static", "smoothquant: no calibrated activation scale for {}", name);
    return store(W, out, in, 1.f);
  }

 private:
  QuantizedTensors store(const std::vector<float>& W, int64_t rows, int64_t cols, float act_scale) const {
    Int8Weights q = quantize_int8_per_channel(W.data(), rows, cols);
    QuantizedTensors t;
    t.emplace_back(".qweight_i8", OwnedTensor::from(DType::I8, {rows, cols}, q.q));
    t.emplace_back(".wscale", OwnedTensor::from(DType::F32, {rows}, q.scale));
    if (o_.act_quant == "per_tensor_static")
      t.emplace_back(".act_scale", OwnedTensor::from(DType::F32, {1}, std::vector<float>{act_scale}));
    return t;
  }
};

}  // namespace

const Method kSmoothQuant = {
    .name = "smoothquant", .format = "w8a8",
    .summary = "SmoothQuant W8A8: activation outliers migrated into the weights (--stats act), int8 weights and activations",
    .needs_for = needs_always({"act"}),
    .params = [](const QuantOptions& o) {
      kernels::FormatParams p;
      p.bits = o.bits;
      // act_quant is one of the declared choices by now (validate_quant_options).
      kernels::parse_act_quant(o.act_quant, p.act);
      return p;
    },
    .make = make_as<SmoothQuantQuantizer>,
    .check = [](const QuantOptions& o) -> std::string {
      if (o.lm_head && o.act_quant == "per_tensor_static")
        return "--lm-head with --act-quant per_tensor_static: the calibration statistics have no activation scale for "
               "lm_head's input (use per_token or per_tensor_dynamic, or leave lm_head unquantized)";
      return "";
    },
};

}  // namespace sqz::quant

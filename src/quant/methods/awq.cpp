// --method awq: activation-aware scaling (quant/algo/awq.h) searched on each layer's calibration inputs,
// folded into the operation before each linear, then group-wise uniform quantization with AWQ's clipping.
// Order: down_proj's scales are searched first and folded into up_proj's rows, so that up_proj is
// quantized already rescaled; then q/k/v (folded into input_layernorm) and gate/up (into
// post_attention_layernorm). o_proj gets clipping only: with grouped-query attention v_proj's outputs do not
// line up with o_proj's inputs, so there is nothing to fold its scales into.
#include "core/error.h"
#include "quant/algo/awq.h"
#include "quant/methods/methods.h"
#include "quant/methods/packing.h"

namespace sqz::quant {

namespace {

// AWQ's search works per group; a group size of 0 or -1 (one group per row elsewhere) gets AWQ's usual 128.
int64_t awq_group(const QuantOptions& o) { return o.group_size > 0 ? o.group_size : 128; }

class AwqQuantizer : public MethodQuantizer {
 public:
  using MethodQuantizer::MethodQuantizer;

  void quantize_layer(LayerJob& job, std::array<QuantizedTensors, kNumSlots>& out) override {
    auto X = [&](LinearInput in) { return job.X[(size_t)in].data(); };
    auto N = [&](LinearInput in) { return job.x_rows[(size_t)in]; };
    AwqOptions a = options();
    // down_proj: search, fold 1/s into up_proj's rows, keep W_down diag(s).
    AwqResult down = awq_quantize({LinearRef{job.W[kDown].data(), job.out[kDown]}}, job.in[kDown], X(LinearInput::MlpDown),
                                  N(LinearInput::MlpDown), a);
    divide_rows(job.W[kUp].data(), job.out[kUp], job.in[kUp], down.scales.data());
    scale_columns(job.W[kDown].data(), job.out[kDown], job.in[kDown], down.scales.data());
    out[kDown] = store_group(down.quantized[0]);
    // q/k/v and gate/up: search, fold into the norm.
    auto group_with_norm = [&](std::vector<int> slots, LinearInput in, std::vector<float>* norm) {
      std::vector<LinearRef> refs;
      for (int s : slots) refs.push_back(LinearRef{job.W[s].data(), job.out[s], !(s == kQ || s == kK)});
      AwqResult r = awq_quantize(refs, job.in[slots[0]], X(in), N(in), a);
      divide_vector(norm->data(), job.in[slots[0]], r.scales.data());
      for (size_t i = 0; i < slots.size(); ++i) {
        scale_columns(job.W[slots[i]].data(), job.out[slots[i]], job.in[slots[i]], r.scales.data());
        out[slots[i]] = store_group(r.quantized[i]);
      }
    };
    group_with_norm({kQ, kK, kV}, LinearInput::Attn, job.attn_norm);
    group_with_norm({kGate, kUp}, LinearInput::Mlp, job.ffn_norm);
    // o_proj: alpha = 0 only (s = 1), with clipping.
    AwqOptions plain = a;
    plain.n_grid = 1;
    AwqResult o = awq_quantize({LinearRef{job.W[kO].data(), job.out[kO]}}, job.in[kO], X(LinearInput::AttnOut),
                               N(LinearInput::AttnOut), plain);
    out[kO] = store_group(o.quantized[0]);
  }

  QuantizedTensors quantize_matrix(const std::string& name, std::vector<float>&, int64_t, int64_t,
                                   const TensorView*) override {
    fail("awq: quantizing {} is not supported (its input is not captured)", name);
  }

 private:
  AwqOptions options() const {
    AwqOptions a;
    a.quant.bits = o_.bits;
    a.quant.group = awq_group(o_);
    return a;
  }
};

}  // namespace

const Method kAwq = {
    .name = "awq", .format = "group",
    .summary = "AWQ: per-channel scales searched on layer inputs (--calib text) and folded into the norms, then a uniform grid",
    .needs_for = needs_always({"inputs"}),
    .params = [](const QuantOptions& o) {
      // -2 and other invalid sizes reach the format's check unchanged, to be refused there.
      return kernels::FormatParams{o.bits, o.group_size == 0 || o.group_size == -1 ? awq_group(o) : o.group_size};
    },
    .make = make_as<AwqQuantizer>,
};

}  // namespace sqz::quant

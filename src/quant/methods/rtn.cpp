// --method rtn: round-to-nearest asymmetric min/max, per output channel or per group, optional clipping
// search. Needs no calibration data.
#include "core/error.h"
#include "quant/methods/methods.h"
#include "quant/methods/packing.h"

namespace sqz::quant {

namespace {

class RtnQuantizer : public Quantizer {
 public:
  explicit RtnQuantizer(const QuantOptions& o) : o_(o) {}
  void quantize_layer(LayerJob& job, std::array<QuantizedTensors, kNumSlots>& out) override {
    for (int s = 0; s < kNumSlots; ++s) out[s] = quantize_matrix(job.weight_name(s), job.W[s], job.out[s], job.in[s], nullptr);
  }
  QuantizedTensors quantize_matrix(const std::string&, std::vector<float>& W, int64_t out, int64_t in,
                                   const TensorView*) override {
    UniformOptions u;
    u.bits = o_.bits;
    u.group = o_.group_size > 0 ? o_.group_size : in;
    u.clip_search = o_.clip_search;
    return store_group(uniform_quantize(W.data(), out, in, u));
  }

 private:
  QuantOptions o_;
};

}  // namespace

const Method kRtn = {
    .name = "rtn",
    .summary = "round to nearest on a min/max grid per row or group, optional clipping search; no calibration",
    .format = "group",
    .needs = [](const QuantOptions&) { return std::vector<std::string>{}; },
    .params = [](const QuantOptions& o) { return kernels::FormatParams{o.bits, stored_group(o.group_size)}; },
    .check = nullptr,
    .make = [](const QuantOptions& o) -> std::unique_ptr<Quantizer> { return std::make_unique<RtnQuantizer>(o); },
};

}  // namespace sqz::quant

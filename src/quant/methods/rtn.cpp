// --method rtn: round-to-nearest asymmetric min/max, per output channel or per group, optional clipping
// search. Needs no calibration data.
#include "core/error.h"
#include "quant/methods/methods.h"
#include "quant/methods/packing.h"

namespace sqz::quant {

namespace {

QuantizedTensors rtn_matrix(const QuantOptions& o, const std::vector<float>& W, int64_t rows, int64_t cols) {
  const UniformOptions u{.bits = o.bits, .group = o.group_size > 0 ? o.group_size : cols, .clip_search = o.clip_search};
  return store_group(uniform_quantize(W.data(), rows, cols, u));
}

}  // namespace

const Method kRtn = {
    .name = "rtn", .format = "group",
    .summary = "round to nearest on a min/max grid per row or group, optional clipping search; no calibration",
    .params = uniform_params, .make = make_per_matrix<rtn_matrix>,
};

}  // namespace sqz::quant

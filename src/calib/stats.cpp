#include "calib/stats.h"

#include <fmt/format.h>

#include <cmath>

#include "core/error.h"

namespace sqz {

std::string stats_input_name(int layer, LinearInput which) {
  return fmt::format("model.layers.{}.{}", layer, linear_input_name(which));
}

CalibStats::CalibStats(const std::string& path) : file_(path) {}

const TensorView* CalibStats::f32(const std::string& name) const {
  const TensorView* t = file_.find(name);
  if (t) SQZ_CHECK(t->dtype == DType::F32, "{}: tensor {} has dtype {}, expected F32", path(), name, dtype_name(t->dtype));
  return t;
}

const TensorView* CalibStats::hessian(int layer, LinearInput which) const {
  return f32(stats_input_name(layer, which) + ".hessian");
}
const TensorView* CalibStats::act_absmax(int layer, LinearInput which) const {
  return f32(stats_input_name(layer, which) + ".act_absmax");
}
const TensorView* CalibStats::act_absmean(int layer, LinearInput which) const {
  return f32(stats_input_name(layer, which) + ".act_absmean");
}

void CalibStats::validate_fisher(const Checkpoint& ck) const {
  const ModelConfig& c = ck.config;
  for (int l = 0; l < c.n_layers; ++l)
    for (int s = 0; s < kNumSlots; ++s) {
      const std::string name = linear_name(l, s) + ".weight";
      const TensorView* w = ck.find(name);
      const TensorView* f = file_.find(name);
      SQZ_CHECK(f, "{}: no Fisher tensor {} (the statistics must cover every linear weight of {})", path(), name, ck.path);
      SQZ_CHECK(dtype_is_float(f->dtype), "{}: Fisher tensor {} has dtype {}, expected a float type",
                path(), name, dtype_name(f->dtype));
      if (w)
        SQZ_CHECK(f->shape == w->shape, "{}: Fisher tensor {} has shape {}, the weight in {} has {}", path(), name,
                  shape_str(f->shape), ck.path, shape_str(w->shape));
      const std::vector<float> v = to_f32(*f);
      for (size_t i = 0; i < v.size(); ++i)
        SQZ_CHECK(std::isfinite(v[i]) && v[i] >= 0, "{}: Fisher tensor {} has value {} at element {} (must be finite and >= 0)",
                  path(), name, v[i], i);
    }
}

}  // namespace sqz

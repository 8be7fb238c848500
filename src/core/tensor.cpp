#include "core/tensor.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "core/half.h"

namespace sqz {

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

void convert_to_f32(const TensorView& t, float* out, int64_t offset, int64_t n) {
  switch (t.dtype) {
    case DType::F32: {
      const float* p = t.as<float>() + offset;
      for (int64_t i = 0; i < n; ++i) out[i] = p[i];
      return;
    }
    case DType::F16: {
      const uint16_t* p = t.as<uint16_t>() + offset;
      for (int64_t i = 0; i < n; ++i) out[i] = fp16_to_f32(p[i]);
      return;
    }
    case DType::BF16: {
      const uint16_t* p = t.as<uint16_t>() + offset;
      for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(p[i]);
      return;
    }
    case DType::F64: {
      const double* p = t.as<double>() + offset;
      for (int64_t i = 0; i < n; ++i) out[i] = (float)p[i];
      return;
    }
    default:
      SQZ_CHECK(t.packed_format.empty(), "{}: tensor of packed format {} needs kernels::tensor_to_f32", t.source,
                t.packed_format);
      fail("{}: tensor of dtype {} is not a float tensor", t.source, dtype_name(t.dtype));
  }
}

std::vector<float> to_f32(const TensorView& t) {
  std::vector<float> v((size_t)t.numel());
  convert_to_f32(t, v.data());
  return v;
}

}  // namespace sqz

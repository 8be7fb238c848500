// A non-owning view of a stored tensor (usually inside a memory-mapped file), and the one routine that
// turns any float dtype into fp32.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace sqz {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& s);
std::string shape_str(const Shape& s);  // "[4096, 11008]"

struct TensorView {
  DType dtype = DType::F32;
  Shape shape;
  const void* data = nullptr;
  size_t nbytes = 0;
  std::string source;  // file it lives in, for error messages

  int64_t numel() const { return shape_numel(shape); }
  int64_t dim(int i) const { return shape.at(i < 0 ? shape.size() + i : i); }
  template <typename T>
  const T* as() const { return static_cast<const T*>(data); }
};

// Converts `n` elements starting at element `offset` of a float tensor (F32/F16/BF16/F64/Q8_0) to fp32.
// For Q8_0, offset and n must be multiples of 32.
void convert_to_f32(const TensorView& t, float* out, int64_t offset, int64_t n);
inline void convert_to_f32(const TensorView& t, float* out) { convert_to_f32(t, out, 0, t.numel()); }
std::vector<float> to_f32(const TensorView& t);

// A view of an fp32 vector (for writing and tests).
inline TensorView f32_view(const std::vector<float>& v, Shape shape) {
  return TensorView{DType::F32, std::move(shape), v.data(), v.size() * 4, "<memory>"};
}

}  // namespace sqz

// A non-owning view of a stored tensor (usually inside a memory-mapped file), and the one routine that
// turns any float dtype into fp32.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
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
  // Name of the packed format (a row of kernels/format.h) of a block-quantized tensor such as a GGUF Q4_K
  // weight; then dtype is U8, shape the logical [rows, cols] and nbytes the stored size. Empty otherwise.
  std::string packed_format;

  int64_t numel() const { return shape_numel(shape); }
  int64_t dim(int i) const { return shape.at(i < 0 ? shape.size() + i : i); }
  template <typename T>
  const T* as() const { return static_cast<const T*>(data); }
};

// Converts `n` elements starting at element `offset` of a float tensor (F32/F16/BF16/F64) to fp32.
// Packed tensors (packed_format set) are decoded by kernels::tensor_to_f32 (kernels/format.h).
void convert_to_f32(const TensorView& t, float* out, int64_t offset, int64_t n);
inline void convert_to_f32(const TensorView& t, float* out) { convert_to_f32(t, out, 0, t.numel()); }
std::vector<float> to_f32(const TensorView& t);

// A tensor owned in memory (quantizer and encoder outputs, until written).
struct OwnedTensor {
  DType dtype = DType::F32;
  Shape shape;
  std::vector<uint8_t> bytes;
  TensorView view(const std::string& source = "<memory>") const {
    return TensorView{dtype, shape, bytes.data(), bytes.size(), source, {}};
  }
  template <typename T>
  static OwnedTensor from(DType dt, Shape shape, const std::vector<T>& v) {
    OwnedTensor t{dt, std::move(shape), {}};
    t.bytes.resize(v.size() * sizeof(T));
    if (!v.empty()) std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
    return t;
  }
};

// A view of an fp32 vector (for writing and tests).
inline TensorView f32_view(const std::vector<float>& v, Shape shape) {
  return TensorView{DType::F32, std::move(shape), v.data(), v.size() * 4, "<memory>", {}};
}

}  // namespace sqz

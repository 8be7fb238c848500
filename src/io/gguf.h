// GGUF (llama.cpp's file format), version 2 and 3: header, typed key/value metadata, tensor infos,
// aligned tensor data. Reading maps the file; tensors are exposed as views (GGUF lists dims
// innermost-first; views use the usual outermost-first order): F32/F16/BF16 as those dtypes, and every
// block type of the format table (Q8_0, Q4_K, IQ4_XS, ...) as a packed view (TensorView::packed_format).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "core/mmap.h"
#include "core/tensor.h"
#include "kernels/format.h"

namespace sqz {

// One metadata value: scalars widened, strings, and arrays of either.
struct GgufValue {
  using Array = std::vector<GgufValue>;
  std::variant<int64_t, uint64_t, double, bool, std::string, Array> v;

  int64_t as_int() const;  // throws Error when not an integer
  double as_float() const;
  const std::string& as_string() const;
  const Array& as_array() const;
};

class GgufFile {
 public:
  explicit GgufFile(const std::string& path);
  const std::string& path() const { return map_.path(); }
  const std::map<std::string, GgufValue>& metadata() const { return metadata_; }
  const GgufValue* find_meta(const std::string& key) const;
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }  // GGUF names
  uint32_t version() const { return version_; }
  size_t file_size() const { return map_.size(); }
  // Tensors of ggml types sqz does not know: name -> ggml type number. Not in tensors().
  const std::map<std::string, uint32_t>& unsupported_tensors() const { return unsupported_; }

 private:
  MappedFile map_;
  uint32_t version_ = 0;
  std::map<std::string, GgufValue> metadata_;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, uint32_t> unsupported_;
};

// ggml tensor type numbers of the element dtypes (block types: kernels::Format::ggml_type).
enum GgmlType : uint32_t { kGgmlF32 = 0, kGgmlF16 = 1, kGgmlBF16 = 30 };
// Arguments for GgufWriter arrays with an explicit element type (what llama.cpp expects for vocabularies).
enum GgufType : int {
  kGgufU8 = 0, kGgufI8 = 1, kGgufU16 = 2, kGgufI16 = 3, kGgufU32 = 4, kGgufI32 = 5, kGgufF32 = 6,
  kGgufBool = 7, kGgufString = 8, kGgufArray = 9, kGgufU64 = 10, kGgufI64 = 11, kGgufF64 = 12
};

// Writes a GGUF v3 file atomically. Shapes given outermost-first as in TensorView.
class GgufWriter {
 public:
  void set(const std::string& key, GgufValue v) { meta_.emplace_back(key, std::move(v)); }
  void set_u32(const std::string& key, uint32_t v);  // stored as GGUF UINT32
  void set_f32(const std::string& key, float v);     // stored as GGUF FLOAT32
  void set_str(const std::string& key, const std::string& v);
  // Stores `v` (an Array for arrays) with GGUF type `type` (for arrays: the element type). Replaces `key`.
  void set_typed(const std::string& key, GgufValue v, GgufType type);
  void set_arr_str(const std::string& key, const std::vector<std::string>& v);
  void set_arr_f32(const std::string& key, const std::vector<float>& v);
  void set_arr_i32(const std::string& key, const std::vector<int32_t>& v);
  void add_tensor(const std::string& name, DType dtype, const Shape& shape, const void* data, size_t nbytes);
  // A tensor of a GGUF block type (rows of shape.back() weights), bytes as the format stores them.
  void add_packed_tensor(const std::string& name, const kernels::Format& f, const Shape& shape, const void* data,
                         size_t nbytes);
  void write(const std::string& path) const;

 private:
  std::vector<std::pair<std::string, GgufValue>> meta_;
  std::map<std::string, int> forced_type_;
  void add(const std::string& name, uint32_t type, const Shape& shape, const void* data, size_t nbytes);
  struct Tensor {
    std::string name;
    uint32_t type;  // ggml type
    Shape shape;
    std::vector<uint8_t> bytes;
  };
  std::vector<Tensor> tensors_;
};

}  // namespace sqz

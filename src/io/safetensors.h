// safetensors: an 8-byte little-endian header length, a JSON header mapping each tensor name to
// {dtype, shape, data_offsets:[begin,end]} (offsets relative to the end of the header) plus an optional
// "__metadata__" string map, then the raw little-endian data. Reading maps the file and validates every
// entry (dtype known, offsets inside the file and not overlapping, size = numel * dtype size).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/mmap.h"
#include "core/tensor.h"

namespace sqz {

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);  // throws Error naming the file and problem
  const std::string& path() const { return map_.path(); }
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const TensorView* find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  size_t file_size() const { return map_.size(); }

 private:
  MappedFile map_;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Collects tensors and writes one safetensors file atomically (temporary file, then rename).
class SafetensorsWriter {
 public:
  // Copies the bytes (so the caller may free its buffer).
  void add(const std::string& name, DType dtype, const Shape& shape, const void* data, size_t nbytes);
  void add(const std::string& name, const TensorView& t) { add(name, t.dtype, t.shape, t.data, t.nbytes); }
  void add_f32(const std::string& name, const Shape& shape, const std::vector<float>& v);
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  size_t data_bytes() const;
  void write(const std::string& path) const;

 private:
  struct Entry {
    std::string name;
    DType dtype;
    Shape shape;
    std::vector<uint8_t> bytes;
  };
  std::vector<Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace sqz

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

// A safetensors output too large to assemble in memory (calibration statistics of a big model): the layout
// (names, dtypes, shapes, metadata) is fixed up front, the file is created at PATH.tmp.<pid> at its full
// size (all zeros) and mapped shared, tensors are filled in place through data(), and commit() syncs,
// unmaps and renames it to PATH. Pages written through the mapping are file-backed: release() drops them
// from this process (the page cache keeps the data and may write it back), so the resident part of the
// output is only what is being worked on. Same layout rules as SafetensorsWriter (decreasing element size,
// header padded to 8). Without commit() the temporary is removed.
class SafetensorsMappedWriter {
 public:
  struct Spec {
    std::string name;
    DType dtype;
    Shape shape;
  };
  SafetensorsMappedWriter(std::string path, const std::vector<Spec>& specs,
                          const std::map<std::string, std::string>& metadata);
  ~SafetensorsMappedWriter();
  SafetensorsMappedWriter(const SafetensorsMappedWriter&) = delete;
  SafetensorsMappedWriter& operator=(const SafetensorsMappedWriter&) = delete;

  std::byte* data(const std::string& name);  // throws Error if the layout has no such tensor
  float* f32(const std::string& name);       // data() of an F32 tensor
  void release(const void* p, size_t nbytes);  // drops the whole pages inside [p, p + nbytes) from memory
  void commit();
  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_;
  int fd_ = -1;
  std::byte* map_ = nullptr;
  size_t size_ = 0;
  std::map<std::string, std::pair<size_t, const Spec*>> where_;  // name -> (file offset, spec)
  std::vector<Spec> specs_;
};

}  // namespace sqz

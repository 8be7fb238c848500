#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_io.h"

namespace sqz {

namespace {

using json = nlohmann::json;

// Largest element count we accept; keeps numel * 8 far from overflowing size_t.
constexpr int64_t kMaxNumel = int64_t{1} << 56;

uint64_t read_u64_le(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | (uint64_t)p[i];
  return v;
}

// A non-negative JSON integer, or -1 when it is anything else.
int64_t as_nonneg_int(const json& v) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    return u > (uint64_t)INT64_MAX ? -1 : (int64_t)u;
  }
  if (v.is_number_integer()) return std::max<int64_t>(-1, v.get<int64_t>());
  return -1;
}

struct Span {
  uint64_t begin, end;
  std::string name;
};

Shape parse_shape(const json& e, const std::string& path, const std::string& name) {
  auto it = e.find("shape");
  if (it == e.end() || !it->is_array()) fail("{}: missing or invalid \"shape\" (tensor {})", path, name);
  Shape shape;
  int64_t numel = 1;
  for (const json& d : *it) {
    const int64_t v = as_nonneg_int(d);
    if (v < 0) fail("{}: shape {} has an entry that is not a non-negative integer (tensor {})", path, it->dump(), name);
    if (v > 0 && numel > kMaxNumel / v) fail("{}: shape {} is too large (tensor {})", path, it->dump(), name);
    numel *= v;
    shape.push_back(v);
  }
  return shape;
}

DType parse_entry_dtype(const json& e, const std::string& path, const std::string& name) {
  auto it = e.find("dtype");
  if (it == e.end() || !it->is_string()) fail("{}: missing or invalid \"dtype\" (tensor {})", path, name);
  const std::string s = it->get<std::string>();
  const auto t = parse_dtype(s);
  if (!t) fail("{}: unknown dtype \"{}\" (tensor {})", path, s, name);
  return *t;
}

// data_offsets must be [begin, end] with begin <= end <= data_size (offsets count from the end of the header).
Span parse_offsets(const json& e, uint64_t data_size, const std::string& path, const std::string& name) {
  auto it = e.find("data_offsets");
  if (it == e.end() || !it->is_array() || it->size() != 2)
    fail("{}: \"data_offsets\" must be two integers (tensor {})", path, name);
  const int64_t b = as_nonneg_int((*it)[0]), en = as_nonneg_int((*it)[1]);
  if (b < 0 || en < 0) fail("{}: \"data_offsets\" {} must be two non-negative integers (tensor {})", path, it->dump(), name);
  if (en < b) fail("{}: data_offsets {} end before they begin (tensor {})", path, it->dump(), name);
  if ((uint64_t)en > data_size)
    fail("{}: data_offsets {} go past the end of the file (data section is {} bytes) (tensor {})", path, it->dump(),
         data_size, name);
  return {(uint64_t)b, (uint64_t)en, name};
}

void parse_metadata(const json& m, const std::string& path, std::map<std::string, std::string>& out) {
  if (!m.is_object()) fail("{}: \"__metadata__\" must be an object of strings", path);
  for (auto& [k, v] : m.items()) {
    if (!v.is_string()) fail("{}: \"__metadata__\" value for \"{}\" is not a string", path, k);
    out[k] = v.get<std::string>();
  }
}

// Tensors must not share bytes: sort by start and compare neighbours (enough once empty tensors, which
// own no bytes, are left out: if any two overlap, some neighbours do).
void check_no_overlap(std::vector<Span> spans, const std::string& path) {
  std::erase_if(spans, [](const Span& s) { return s.begin == s.end; });
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t i = 1; i < spans.size(); ++i) {
    const Span &a = spans[i - 1], &b = spans[i];
    if (b.begin < a.end)
      fail("{}: data of tensors {} [{}, {}) and {} [{}, {}) overlap (tensor {})", path, a.name, a.begin, a.end, b.name,
           b.begin, b.end, b.name);
  }
}

// Where a writer puts its tensors: ordered by decreasing element size (as the reference safetensors writer
// does; equal sizes keep insertion order) after a header whose JSON is padded so the data starts 8-aligned,
// every tensor is then aligned to its own element size; data is contiguous (other readers reject gaps).
struct LaidOutTensor {
  const std::string& name;
  DType dtype;
  const Shape& shape;
  uint64_t nbytes;
};
struct Layout {
  std::string head;              // 8-byte little-endian header length, then the padded JSON header
  std::vector<size_t> order;     // tensor indices in file order
  std::vector<uint64_t> offset;  // by index: where its data starts, counted from the end of head
  uint64_t data_bytes = 0;
};

Layout lay_out(const std::vector<LaidOutTensor>& ts, const std::map<std::string, std::string>& metadata) {
  Layout l;
  for (size_t i = 0; i < ts.size(); ++i) l.order.push_back(i);
  std::stable_sort(l.order.begin(), l.order.end(), [&](size_t a, size_t b) {
    return std::max<size_t>(dtype_size(ts[a].dtype), 1) > std::max<size_t>(dtype_size(ts[b].dtype), 1);
  });
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = std::move(m);
  }
  l.offset.resize(ts.size());
  for (size_t i : l.order) {
    const LaidOutTensor& t = ts[i];
    header[t.name] = {{"dtype", std::string(dtype_name(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {l.data_bytes, l.data_bytes + t.nbytes}}};
    l.offset[i] = l.data_bytes;
    l.data_bytes += t.nbytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data then starts at 8 + len, a multiple of 8
  for (int i = 0; i < 8; ++i) l.head.push_back((char)(uint8_t)((uint64_t)text.size() >> (8 * i)));
  l.head += text;
  return l;
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : map_(path) {
  const size_t size = map_.size();
  if (size < 8) fail("{}: file is too short to be safetensors ({} bytes)", path, size);
  const uint64_t header_len = read_u64_le(map_.data());
  if (header_len > size - 8)
    fail("{}: header length {} goes past the end of the file ({} bytes)", path, header_len, size);
  const char* hp = reinterpret_cast<const char*>(map_.data() + 8);
  json header = json::parse(hp, hp + header_len, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded()) fail("{}: header is not valid JSON", path);
  if (!header.is_object()) fail("{}: header is not a JSON object", path);

  const uint64_t data_size = size - 8 - header_len;
  const std::byte* data = map_.data() + 8 + header_len;
  std::vector<Span> spans;
  for (auto& [name, e] : header.items()) {
    if (name == "__metadata__") {
      parse_metadata(e, path, metadata_);
      continue;
    }
    if (!e.is_object()) fail("{}: header entry is not an object (tensor {})", path, name);
    TensorView t;
    t.dtype = parse_entry_dtype(e, path, name);
    t.shape = parse_shape(e, path, name);
    const Span s = parse_offsets(e, data_size, path, name);
    const int64_t numel = shape_numel(t.shape);
    const uint64_t want = dtype_nbytes(t.dtype, numel);
    if (s.end - s.begin != want)
      fail("{}: data_offsets cover {} bytes but shape {} of {} needs {} (tensor {})", path, s.end - s.begin,
           shape_str(t.shape), dtype_name(t.dtype), want, name);
    t.data = data + s.begin;
    t.nbytes = want;
    t.source = path;
    tensors_.emplace(name, std::move(t));
    spans.push_back(s);
  }
  check_no_overlap(std::move(spans), path);
}

const TensorView* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

void SafetensorsWriter::add(const std::string& name, DType dtype, const Shape& shape, const void* data, size_t nbytes) {
  if (name == "__metadata__") fail("safetensors: \"__metadata__\" cannot be a tensor name");
  for (const auto& e : entries_)
    if (e.name == name) fail("safetensors: tensor {} added twice", name);
  for (auto d : shape)
    if (d < 0) fail("safetensors: tensor {} has negative shape {}", name, shape_str(shape));
  const size_t want = dtype_nbytes(dtype, shape_numel(shape));
  if (nbytes != want)
    fail("safetensors: tensor {} of shape {} {} needs {} bytes, got {}", name, shape_str(shape), dtype_name(dtype),
         want, nbytes);
  const auto* p = static_cast<const uint8_t*>(data);
  entries_.push_back(Entry{name, dtype, shape, std::vector<uint8_t>(p, p + nbytes)});
}

void SafetensorsWriter::add_f32(const std::string& name, const Shape& shape, const std::vector<float>& v) {
  add(name, DType::F32, shape, v.data(), v.size() * sizeof(float));
}

size_t SafetensorsWriter::data_bytes() const {
  size_t n = 0;
  for (const auto& e : entries_) n += e.bytes.size();
  return n;
}

void SafetensorsWriter::write(const std::string& path) const {
  std::vector<LaidOutTensor> ts;
  for (const auto& e : entries_) ts.push_back({e.name, e.dtype, e.shape, e.bytes.size()});
  const Layout l = lay_out(ts, metadata_);
  AtomicFile f(path);
  f.write(l.head.data(), l.head.size());
  for (size_t i : l.order) f.write(entries_[i].bytes.data(), entries_[i].bytes.size());
  f.commit();
}

SafetensorsMappedWriter::SafetensorsMappedWriter(std::string path, const std::vector<Spec>& specs,
                                                 const std::map<std::string, std::string>& metadata)
    : path_(std::move(path)), specs_(specs) {
  std::vector<LaidOutTensor> ts;
  for (const auto& e : specs_) ts.push_back({e.name, e.dtype, e.shape, (uint64_t)shape_numel(e.shape) * dtype_size(e.dtype)});
  const Layout l = lay_out(ts, metadata);
  for (size_t i = 0; i < specs_.size(); ++i) {
    SQZ_CHECK(!where_.count(specs_[i].name), "{}: tensor {} is laid out twice", path_, specs_[i].name);
    where_[specs_[i].name] = {l.head.size() + l.offset[i], &specs_[i]};
  }
  size_ = l.head.size() + l.data_bytes;

  tmp_ = path_ + ".tmp." + std::to_string(::getpid());
  fd_ = ::open(tmp_.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd_ < 0) fail("{}: cannot create: {}", tmp_, std::strerror(errno));
  // posix_fallocate reserves the blocks now, so a full disk fails here rather than as SIGBUS mid-run.
  if (const int rc = ::posix_fallocate(fd_, 0, (off_t)size_); rc != 0)
    fail("{}: cannot allocate {} bytes: {}", tmp_, size_, std::strerror(rc));
  void* m = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  if (m == MAP_FAILED) fail("{}: cannot map {} bytes: {}", tmp_, size_, std::strerror(errno));
  map_ = static_cast<std::byte*>(m);
  std::memcpy(map_, l.head.data(), l.head.size());
}

SafetensorsMappedWriter::~SafetensorsMappedWriter() {
  if (map_) ::munmap(map_, size_);
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

std::byte* SafetensorsMappedWriter::data(const std::string& name) {
  auto it = where_.find(name);
  SQZ_CHECK(it != where_.end(), "{}: no tensor {} in the output layout", path_, name);
  SQZ_CHECK(map_, "{}: already committed", path_);
  return map_ + it->second.first;
}

float* SafetensorsMappedWriter::f32(const std::string& name) {
  std::byte* p = data(name);
  SQZ_CHECK(where_.at(name).second->dtype == DType::F32, "{}: tensor {} is not F32", path_, name);
  return reinterpret_cast<float*>(p);
}

void SafetensorsMappedWriter::release(const void* p, size_t nbytes) {
  const size_t page = (size_t)::sysconf(_SC_PAGESIZE);
  const uintptr_t b = ((uintptr_t)p + page - 1) / page * page, e = ((uintptr_t)p + nbytes) / page * page;
  // MADV_DONTNEED on a shared file mapping only unmaps: dirty pages stay in the page cache (and reach the
  // file), and the next access maps them again.
  if (e > b) ::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}

void SafetensorsMappedWriter::commit() {
  SQZ_CHECK(map_, "{}: already committed", path_);
  if (::msync(map_, size_, MS_SYNC) != 0) fail("{}: cannot write back: {}", tmp_, std::strerror(errno));
  ::munmap(map_, size_);
  map_ = nullptr;
  if (::close(fd_) != 0) fail("{}: cannot close: {}", tmp_, std::strerror(errno));
  fd_ = -1;
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp_.c_str());
    fail("{}: cannot rename {} to it: {}", path_, tmp_, std::strerror(err));
  }
}

}  // namespace sqz

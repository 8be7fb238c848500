#include "io/gguf.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/file_io.h"

namespace sqz {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian uint32
constexpr uint64_t kDefaultAlignment = 32;
constexpr int kMaxArrayDepth = 8;  // arrays of arrays nest this deep at most (keeps recursion bounded)
constexpr uint32_t kMaxDims = 4;   // GGML_MAX_DIMS

const char* type_name(int t) {
  static const char* names[] = {"uint8", "int8",   "uint16", "int16",  "uint32", "int32", "float32",
                                "bool",  "string", "array",  "uint64", "int64",  "float64"};
  return t >= 0 && t <= 12 ? names[t] : "unknown";
}

// Bytes of one fixed-size value of GGUF type t (0 for string/array).
size_t fixed_size(int t) {
  switch (t) {
    case kGgufU8: case kGgufI8: case kGgufBool: return 1;
    case kGgufU16: case kGgufI16: return 2;
    case kGgufU32: case kGgufI32: case kGgufF32: return 4;
    case kGgufU64: case kGgufI64: case kGgufF64: return 8;
    default: return 0;
  }
}

// Reads little-endian values from the mapping; every read is checked against the file size so a
// truncated or corrupt file gives an Error naming it instead of reading past the mapping.
class Cursor {
 public:
  Cursor(const std::byte* data, size_t size, const std::string& path) : data_(data), size_(size), path_(path) {}

  void need(uint64_t n, const char* what) const {
    if (n > size_ - pos_)
      fail("{}: file ends inside {} (offset {}, needs {} bytes, file is {} bytes)", path_, what, pos_, n, size_);
  }
  template <typename T>
  T get(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string str(const char* what) {
    const uint64_t n = get<uint64_t>(what);
    need(n, what);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }
  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }
  const std::string& path() const { return path_; }

 private:
  const std::byte* data_;
  size_t size_, pos_ = 0;
  const std::string& path_;
};

GgufValue read_value(Cursor& c, int type, int depth);

GgufValue read_array(Cursor& c, int depth) {
  if (depth >= kMaxArrayDepth) fail("{}: metadata arrays nested more than {} deep", c.path(), kMaxArrayDepth);
  const uint32_t et = c.get<uint32_t>("an array element type");
  const uint64_t n = c.get<uint64_t>("an array length");
  // Every element takes at least one byte (strings 8, arrays 12), so a count beyond the bytes left is
  // corrupt; checking first keeps a bogus count from allocating gigabytes.
  const uint64_t min_size = et == kGgufString ? 8 : et == kGgufArray ? 12 : std::max<size_t>(1, fixed_size((int)et));
  if (n > c.remaining() / min_size)
    fail("{}: array of {} {} values at offset {} does not fit in the file", c.path(), n, type_name((int)et), c.pos());
  GgufValue::Array a;
  a.reserve(n);
  for (uint64_t i = 0; i < n; ++i) a.push_back(read_value(c, (int)et, depth + 1));
  return GgufValue{std::move(a)};
}

GgufValue read_value(Cursor& c, int type, int depth) {
  const char* what = "a metadata value";
  switch (type) {
    case kGgufU8: return {uint64_t{c.get<uint8_t>(what)}};
    case kGgufI8: return {int64_t{c.get<int8_t>(what)}};
    case kGgufU16: return {uint64_t{c.get<uint16_t>(what)}};
    case kGgufI16: return {int64_t{c.get<int16_t>(what)}};
    case kGgufU32: return {uint64_t{c.get<uint32_t>(what)}};
    case kGgufI32: return {int64_t{c.get<int32_t>(what)}};
    case kGgufU64: return {c.get<uint64_t>(what)};
    case kGgufI64: return {c.get<int64_t>(what)};
    case kGgufF32: return {double{c.get<float>(what)}};
    case kGgufF64: return {c.get<double>(what)};
    case kGgufBool: {
      const uint8_t b = c.get<uint8_t>(what);
      if (b > 1) fail("{}: bool metadata value {} at offset {} is not 0 or 1", c.path(), b, c.pos() - 1);
      return {b == 1};
    }
    case kGgufString: return {c.str("a metadata string")};
    case kGgufArray: return read_array(c, depth);
    default: fail("{}: unknown metadata value type {} at offset {}", c.path(), type, c.pos() - 4);
  }
}

std::optional<DType> dtype_of_ggml(uint32_t t) {
  switch (t) {
    case kGgmlF32: return DType::F32;
    case kGgmlF16: return DType::F16;
    case kGgmlBF16: return DType::BF16;
    default: return std::nullopt;
  }
}

uint32_t ggml_of_dtype(DType t, const std::string& name) {
  switch (t) {
    case DType::F32: return kGgmlF32;
    case DType::F16: return kGgmlF16;
    case DType::BF16: return kGgmlBF16;
    default: fail("GGUF: tensor {} has dtype {}, which GGUF files here cannot hold", name, dtype_name(t));
  }
}

struct TensorInfo {
  std::string name;
  std::vector<uint64_t> ne;  // innermost first, as stored
  uint32_t type;
  uint64_t offset;
};

TensorInfo read_tensor_info(Cursor& c) {
  TensorInfo t;
  t.name = c.str("a tensor name");
  const uint32_t n_dims = c.get<uint32_t>("a tensor's dimension count");
  if (n_dims == 0 || n_dims > kMaxDims)
    fail("{}: tensor {} has {} dimensions (1 to {} allowed)", c.path(), t.name, n_dims, kMaxDims);
  for (uint32_t i = 0; i < n_dims; ++i) t.ne.push_back(c.get<uint64_t>("a tensor's dimensions"));
  t.type = c.get<uint32_t>("a tensor's type");
  t.offset = c.get<uint64_t>("a tensor's offset");
  return t;
}

uint64_t read_alignment(const std::map<std::string, GgufValue>& meta, const std::string& path) {
  auto it = meta.find("general.alignment");
  if (it == meta.end()) return kDefaultAlignment;
  const auto* u = std::get_if<uint64_t>(&it->second.v);
  const auto* i = std::get_if<int64_t>(&it->second.v);
  const uint64_t a = u ? *u : i && *i > 0 ? (uint64_t)*i : 0;
  if (a == 0 || (a & (a - 1)) != 0 || a > (1u << 20))
    fail("{}: general.alignment must be a power of two, got {}", path, u ? std::to_string(*u) : std::string("a non-integer"));
  return a;
}

}  // namespace

int64_t GgufValue::as_int() const {
  if (const auto* i = std::get_if<int64_t>(&v)) return *i;
  if (const auto* u = std::get_if<uint64_t>(&v)) {
    if (*u > (uint64_t)INT64_MAX) fail("GGUF metadata value {} does not fit in int64", *u);
    return (int64_t)*u;
  }
  fail("GGUF metadata value is not an integer");
}

double GgufValue::as_float() const {
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* i = std::get_if<int64_t>(&v)) return (double)*i;
  if (const auto* u = std::get_if<uint64_t>(&v)) return (double)*u;
  fail("GGUF metadata value is not a number");
}

const std::string& GgufValue::as_string() const {
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  fail("GGUF metadata value is not a string");
}

const GgufValue::Array& GgufValue::as_array() const {
  if (const auto* a = std::get_if<Array>(&v)) return *a;
  fail("GGUF metadata value is not an array");
}

GgufFile::GgufFile(const std::string& path) : map_(path) {
  Cursor c(map_.data(), map_.size(), path);
  if (map_.size() < 4 || c.get<uint32_t>("the magic") != kMagic) fail("{}: not a GGUF file (no \"GGUF\" magic)", path);
  version_ = c.get<uint32_t>("the version");
  if (version_ != 2 && version_ != 3) fail("{}: GGUF version {} is not supported (2 and 3 are)", path, version_);
  const uint64_t n_tensors = c.get<uint64_t>("the tensor count");
  const uint64_t n_kv = c.get<uint64_t>("the metadata count");

  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = c.str("a metadata key");
    const uint32_t type = c.get<uint32_t>("a metadata type");
    GgufValue v = read_value(c, (int)type, 0);
    if (!metadata_.emplace(key, std::move(v)).second) fail("{}: metadata key {} appears twice", path, key);
  }

  std::vector<TensorInfo> infos;
  for (uint64_t i = 0; i < n_tensors; ++i) infos.push_back(read_tensor_info(c));

  const uint64_t alignment = read_alignment(metadata_, path);
  const uint64_t data_start = (c.pos() + alignment - 1) / alignment * alignment;
  for (const TensorInfo& ti : infos) {
    if (tensors_.count(ti.name) || unsupported_.count(ti.name)) fail("{}: tensor {} appears twice", path, ti.name);
    const auto dt = dtype_of_ggml(ti.type);
    const kernels::Format* packed = dt ? nullptr : kernels::find_ggml_format(ti.type);
    if (!dt && !packed) {
      unsupported_[ti.name] = ti.type;  // reported by whoever needs this tensor
      continue;
    }
    TensorView t;
    t.dtype = dt ? *dt : DType::U8;
    t.source = path;
    int64_t numel = 1;
    for (auto it = ti.ne.rbegin(); it != ti.ne.rend(); ++it) {
      if (*it > (uint64_t{1} << 40) || (*it > 0 && (uint64_t)numel > (uint64_t{1} << 56) / *it))
        fail("{}: tensor {} has absurd dimensions", path, ti.name);
      numel *= (int64_t)*it;
      t.shape.push_back((int64_t)*it);
    }
    if (packed) {
      // A block type: rows of ne[0] weights, all outer dimensions counted as rows.
      const int64_t cols = (int64_t)ti.ne[0], rows = cols ? numel / cols : 0;
      kernels::check_params(*packed, {}, rows, cols, fmt::format("{}: tensor {} ({})", path, ti.name, packed->name));
      t.packed_format = packed->name;
      t.nbytes = packed->bytes({}, rows, cols);
    } else {
      t.nbytes = dtype_nbytes(*dt, numel);
    }
    if (ti.offset % alignment != 0)
      fail("{}: tensor {} offset {} is not a multiple of the alignment {}", path, ti.name, ti.offset, alignment);
    if (data_start > map_.size() || ti.offset > map_.size() - data_start ||
        t.nbytes > map_.size() - data_start - ti.offset)
      fail("{}: tensor {} ({} bytes at offset {}) goes past the end of the file ({} bytes)", path, ti.name, t.nbytes,
           data_start + ti.offset, map_.size());
    t.data = map_.data() + data_start + ti.offset;
    tensors_.emplace(ti.name, std::move(t));
  }
}

const GgufValue* GgufFile::find_meta(const std::string& key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

// ---- writer ----

namespace {

class Buffer {
 public:
  template <typename T>
  void put(T v) {
    const auto* p = reinterpret_cast<const char*>(&v);
    s_.append(p, sizeof(T));
  }
  void str(const std::string& v) {
    put<uint64_t>(v.size());
    s_.append(v);
  }
  void pad_to(size_t alignment) { s_.append((alignment - s_.size() % alignment) % alignment, '\0'); }
  const std::string& bytes() const { return s_; }

 private:
  std::string s_;
};

// The GGUF type a value gets when the caller did not force one.
int natural_type(const GgufValue& v) {
  switch (v.v.index()) {
    case 0: return kGgufI64;
    case 1: return kGgufU64;
    case 2: return kGgufF64;
    case 3: return kGgufBool;
    case 4: return kGgufString;
    default: return kGgufArray;
  }
}

void write_scalar(Buffer& b, const GgufValue& v, int type, const std::string& key) {
  auto integer = [&](int64_t lo, uint64_t hi) -> uint64_t {
    if (const auto* u = std::get_if<uint64_t>(&v.v)) {
      if (*u > hi) fail("GGUF: value {} of {} does not fit in {}", *u, key, type_name(type));
      return *u;
    }
    if (const auto* i = std::get_if<int64_t>(&v.v)) {
      if (*i < lo || (*i > 0 && (uint64_t)*i > hi)) fail("GGUF: value {} of {} does not fit in {}", *i, key, type_name(type));
      return (uint64_t)*i;
    }
    fail("GGUF: value of {} is not an integer but is stored as {}", key, type_name(type));
  };
  switch (type) {
    case kGgufU8: b.put<uint8_t>((uint8_t)integer(0, UINT8_MAX)); return;
    case kGgufI8: b.put<int8_t>((int8_t)integer(INT8_MIN, INT8_MAX)); return;
    case kGgufU16: b.put<uint16_t>((uint16_t)integer(0, UINT16_MAX)); return;
    case kGgufI16: b.put<int16_t>((int16_t)integer(INT16_MIN, INT16_MAX)); return;
    case kGgufU32: b.put<uint32_t>((uint32_t)integer(0, UINT32_MAX)); return;
    case kGgufI32: b.put<int32_t>((int32_t)integer(INT32_MIN, INT32_MAX)); return;
    case kGgufU64: b.put<uint64_t>(integer(0, UINT64_MAX)); return;
    case kGgufI64: b.put<int64_t>((int64_t)integer(INT64_MIN, INT64_MAX)); return;
    case kGgufF32: b.put<float>((float)v.as_float()); return;
    case kGgufF64: b.put<double>(v.as_float()); return;
    case kGgufBool: {
      const auto* x = std::get_if<bool>(&v.v);
      if (!x) fail("GGUF: value of {} is not a bool", key);
      b.put<uint8_t>(*x ? 1 : 0);
      return;
    }
    case kGgufString: b.str(v.as_string()); return;
    default: fail("GGUF: unknown value type {} for {}", type, key);
  }
}

// Writes a value of GGUF type `type`; for arrays `elem` is the element type (-1: from the first element).
void write_value(Buffer& b, const GgufValue& v, int type, int elem, const std::string& key) {
  if (type != kGgufArray) return write_scalar(b, v, type, key);
  const auto* a = std::get_if<GgufValue::Array>(&v.v);
  if (!a) fail("GGUF: value of {} is not an array", key);
  const int et = elem >= 0 ? elem : a->empty() ? kGgufI32 : natural_type(a->front());
  b.put<uint32_t>((uint32_t)et);
  b.put<uint64_t>(a->size());
  for (const GgufValue& x : *a) write_value(b, x, et, -1, key);
}

}  // namespace

void GgufWriter::set_typed(const std::string& key, GgufValue v, GgufType type) {
  std::erase_if(meta_, [&](const auto& kv) { return kv.first == key; });
  meta_.emplace_back(key, std::move(v));
  forced_type_[key] = type;
}

void GgufWriter::set_u32(const std::string& key, uint32_t v) { set_typed(key, GgufValue{uint64_t{v}}, kGgufU32); }
void GgufWriter::set_f32(const std::string& key, float v) { set_typed(key, GgufValue{double{v}}, kGgufF32); }
void GgufWriter::set_str(const std::string& key, const std::string& v) { set_typed(key, GgufValue{v}, kGgufString); }

void GgufWriter::set_arr_str(const std::string& key, const std::vector<std::string>& v) {
  GgufValue::Array a;
  for (const auto& s : v) a.push_back(GgufValue{s});
  set_typed(key, GgufValue{std::move(a)}, kGgufString);
}
void GgufWriter::set_arr_f32(const std::string& key, const std::vector<float>& v) {
  GgufValue::Array a;
  for (float x : v) a.push_back(GgufValue{double{x}});
  set_typed(key, GgufValue{std::move(a)}, kGgufF32);
}
void GgufWriter::set_arr_i32(const std::string& key, const std::vector<int32_t>& v) {
  GgufValue::Array a;
  for (int32_t x : v) a.push_back(GgufValue{int64_t{x}});
  set_typed(key, GgufValue{std::move(a)}, kGgufI32);
}

void GgufWriter::add_tensor(const std::string& name, DType dtype, const Shape& shape, const void* data, size_t nbytes) {
  const uint32_t type = ggml_of_dtype(dtype, name);  // rejects dtypes GGUF cannot hold
  if (shape.empty() || shape.size() > kMaxDims) fail("GGUF: tensor {} must have 1 to 4 dimensions", name);
  const size_t want = dtype_nbytes(dtype, shape_numel(shape));
  if (nbytes != want) fail("GGUF: tensor {} of shape {} needs {} bytes, got {}", name, shape_str(shape), want, nbytes);
  add(name, type, shape, data, nbytes);
}

void GgufWriter::add_packed_tensor(const std::string& name, const kernels::Format& f, const Shape& shape, const void* data,
                                   size_t nbytes) {
  if (f.ggml_type == kernels::kNoGgmlType) fail("GGUF: tensor {} is in format {}, which is not a GGUF type", name, f.name);
  if (shape.empty() || shape.size() > kMaxDims) fail("GGUF: tensor {} must have 1 to 4 dimensions", name);
  const int64_t cols = shape.back(), rows = cols ? shape_numel(shape) / cols : 0;
  kernels::check_params(f, {}, rows, cols, fmt::format("GGUF: tensor {} ({})", name, f.name));
  const size_t want = f.bytes({}, rows, cols);
  if (nbytes != want) fail("GGUF: {} tensor {} of shape {} needs {} bytes, got {}", f.name, name, shape_str(shape), want, nbytes);
  add(name, f.ggml_type, shape, data, nbytes);
}

void GgufWriter::add(const std::string& name, uint32_t type, const Shape& shape, const void* data, size_t nbytes) {
  for (const auto& t : tensors_)
    if (t.name == name) fail("GGUF: tensor {} added twice", name);
  const auto* p = static_cast<const uint8_t*>(data);
  tensors_.push_back(Tensor{name, type, shape, std::vector<uint8_t>(p, p + nbytes)});
}

void GgufWriter::write(const std::string& path) const {
  // Honour a caller-set general.alignment, since readers place the data by it.
  uint64_t alignment = kDefaultAlignment;
  for (const auto& [key, v] : meta_)
    if (key == "general.alignment") {
      const int64_t a = v.as_int();
      if (a <= 0 || (a & (a - 1)) != 0 || a > (1 << 20)) fail("{}: general.alignment {} is not a power of two", path, a);
      alignment = (uint64_t)a;
    }
  Buffer b;
  b.put<uint32_t>(kMagic);
  b.put<uint32_t>(3);
  b.put<uint64_t>(tensors_.size());
  b.put<uint64_t>(meta_.size());
  for (size_t i = 0; i < meta_.size(); ++i) {
    const auto& [key, v] = meta_[i];
    for (size_t j = 0; j < i; ++j)
      if (meta_[j].first == key) fail("{}: GGUF metadata key {} set twice", path, key);
    auto forced = forced_type_.find(key);
    const int natural = natural_type(v);
    const int type = natural == kGgufArray || forced == forced_type_.end() ? natural : forced->second;
    const int elem = natural == kGgufArray && forced != forced_type_.end() ? forced->second : -1;
    b.str(key);
    b.put<uint32_t>((uint32_t)type);
    write_value(b, v, type, elem, key);
  }
  // Tensor data: each tensor starts at a multiple of the alignment, relative to the data start.
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    b.str(t.name);
    b.put<uint32_t>((uint32_t)t.shape.size());
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) b.put<uint64_t>((uint64_t)*it);
    b.put<uint32_t>(t.type);
    b.put<uint64_t>(offset);
    offset = (offset + t.bytes.size() + alignment - 1) / alignment * alignment;
  }
  b.pad_to(alignment);

  AtomicFile f(path);
  f.write(b.bytes().data(), b.bytes().size());
  const std::vector<char> zeros(alignment, 0);
  for (const auto& t : tensors_) {
    f.write(t.bytes.data(), t.bytes.size());
    f.write(zeros.data(), (alignment - t.bytes.size() % alignment) % alignment);
  }
  f.commit();
}

}  // namespace sqz

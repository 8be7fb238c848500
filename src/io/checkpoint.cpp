#include "io/checkpoint.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>

#include "core/error.h"
#include "core/file_io.h"
#include "core/threads.h"

namespace sqz {

namespace fs = std::filesystem;
using json = nlohmann::json;

// ---- Checkpoint ----

const TensorView* Checkpoint::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const TensorView& Checkpoint::require(const std::string& name) const {
  const TensorView* t = find(name);
  if (!t) fail("{}: missing tensor {}", path, name);
  return *t;
}

const TensorView& Checkpoint::require(const std::string& name, const Shape& shape) const {
  const TensorView& t = require(name);
  if (t.shape != shape)
    fail("{}: tensor {} has shape {}, expected {}", t.source, name, shape_str(t.shape), shape_str(shape));
  return t;
}

size_t Checkpoint::file_bytes() const {
  size_t n = 0;
  for (const auto& f : st_files) n += f->file_size();
  if (gguf_) n += gguf_->file_size();
  if (raw_) n += raw_->size();
  return n;
}

std::vector<NamedShape> llama2c_layer_arrays(const ModelConfig& c) {
  const Shape norm = {c.dim};
  auto lin = [&](int s) { return NamedShape{std::string(slot_name(s)) + ".weight", linear_shape(c, s)}; };
  return {{kLayerNorms[kAttnNorm].hf + std::string(".weight"), norm},
          lin(kQ), lin(kK), lin(kV), lin(kO),
          {kLayerNorms[kFfnNorm].hf + std::string(".weight"), norm},
          lin(kGate), lin(kDown), lin(kUp)};  // llama2.c's w1, w2, w3
}

namespace {

// ---- validation shared by every format ----

struct ExpectedTensor {
  std::string name;
  Shape shape;
  bool linear;  // a projection weight or bias (replaced by other tensors in quantized checkpoints)
};

// Every tensor the config implies, with its HF shape.
std::vector<ExpectedTensor> expected_tensors(const ModelConfig& c) {
  const int64_t dim = c.dim;
  std::vector<ExpectedTensor> e = {{kEmbedding.hf, {c.vocab_size, dim}, false}, {kFinalNorm.hf, {dim}, false}};
  if (!c.tied_embeddings) e.push_back({kLmHead.hf, {c.vocab_size, dim}, true});
  for (int i = 0; i < c.n_layers; ++i) {
    e.push_back({norm_name(i, kAttnNorm), {dim}, false});
    e.push_back({norm_name(i, kFfnNorm), {dim}, false});
    for (int s = 0; s < kNumSlots; ++s) {
      const std::string base = linear_name(i, s);
      e.push_back({base + ".weight", linear_shape(c, s), true});
      if (linear_has_bias(c, s)) e.push_back({base + ".bias", {linear_out(c, s)}, true});
    }
  }
  return e;
}

bool allowed_dtype(const TensorView& t, bool allow_packed) {
  if (!t.packed_format.empty()) return allow_packed;
  return t.dtype == DType::F32 || t.dtype == DType::F16 || t.dtype == DType::BF16;
}

// Does any element in [b, e) hold NaN/Inf? Checks the exponent bits, so it needs no conversion.
bool any_nonfinite(const TensorView& t, int64_t b, int64_t e) {
  const auto* bytes = static_cast<const uint8_t*>(t.data);
  bool bad = false;
  switch (t.dtype) {
    case DType::F32:
      for (int64_t i = b; i < e; ++i) {
        uint32_t w;
        std::memcpy(&w, bytes + 4 * i, 4);
        bad |= (w & 0x7f800000u) == 0x7f800000u;
      }
      break;
    case DType::F16:
    case DType::BF16: {
      const uint16_t mask = t.dtype == DType::F16 ? 0x7c00 : 0x7f80;
      for (int64_t i = b; i < e; ++i) {
        uint16_t h;
        std::memcpy(&h, bytes + 2 * i, 2);
        bad |= (h & mask) == mask;
      }
      break;
    }
    default:
      break;
  }
  return bad;
}

// Index of the first NaN/Inf element, or -1. The parallel pass reads every byte once; the serial pass that
// locates the culprit runs only when there is one.
int64_t first_nonfinite(const TensorView& t) {
  const int64_t n = t.numel();
  std::atomic<bool> bad{false};
  parallel_for(n, int64_t{1} << 18, [&](int64_t b, int64_t e) {
    if (any_nonfinite(t, b, e)) bad = true;
  });
  if (!bad) return -1;
  for (int64_t i = 0; i < n; ++i)
    if (any_nonfinite(t, i, i + 1)) return i;
  return -1;
}

void check_finite(const std::string& name, const TensorView& t) {
  const int64_t i = first_nonfinite(t);
  if (i >= 0) fail("{}: tensor {} contains NaN or Inf (first at element {})", t.source, name, i);
}

struct ValidateOptions {
  std::string config_name;  // who sets the expected shapes: "config.json", "its GGUF metadata", ...
  bool quantized = false;   // linear tensors are the quantizer's business: check only embeddings and norms
  bool allow_packed = false;  // GGUF may store matrices in block types (Q8_0, Q4_K, ...)
  // Explains a missing tensor when the format knows more (GGUF: present but of an unusable type).
  std::function<void(const std::string& name)> explain_missing;
};

void validate_tensors(const Checkpoint& ck, const ValidateOptions& o) {
  for (const ExpectedTensor& e : expected_tensors(ck.config)) {
    if (o.quantized && e.linear) continue;
    const TensorView* t = ck.find(e.name);
    if (!t) {
      if (o.explain_missing) o.explain_missing(e.name);
      if (e.name == kLmHead.hf)
        fail("{}: missing tensor lm_head.weight ({} says the embeddings are not tied)", ck.path, o.config_name);
      fail("{}: missing tensor {} ({} expects shape {})", ck.path, e.name, o.config_name, shape_str(e.shape));
    }
    if (t->shape != e.shape)
      fail("{}: tensor {} has shape {}, {} expects {}", t->source, e.name, shape_str(t->shape), o.config_name,
           shape_str(e.shape));
    const bool packed_ok = o.allow_packed && e.shape.size() == 2;  // matrices only; GGUF norms are always float
    if (!allowed_dtype(*t, packed_ok))
      fail("{}: tensor {} has {} (expected F32, F16 or BF16{})", t->source, e.name,
           t->packed_format.empty() ? fmt::format("dtype {}", dtype_name(t->dtype)) : "format " + t->packed_format,
           packed_ok ? " or a GGUF block type" : "");
  }
  // A NaN weight would otherwise surface much later as NaN logits with no hint of the cause.
  if (o.quantized) {
    for (const ExpectedTensor& e : expected_tensors(ck.config))
      if (!e.linear) check_finite(e.name, *ck.find(e.name));
  } else {
    for (const auto& [name, t] : ck.tensors())
      if (t.packed_format.empty() && allowed_dtype(t, false)) check_finite(name, t);
  }
}

// ---- Hugging Face directory ----

json read_json_file(const std::string& path) {
  json j = json::parse(read_text_file(path), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) fail("{}: invalid JSON", path);
  return j;
}

// Shard files in a stable order: those the index names, or every *.safetensors in the directory.
std::vector<std::string> hf_weight_files(const std::string& dir, json* weight_map) {
  const std::string index = (fs::path(dir) / "model.safetensors.index.json").string();
  std::vector<std::string> files;
  if (fs::exists(index)) {
    json j = read_json_file(index);
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      fail("{}: missing \"weight_map\" object", index);
    *weight_map = j["weight_map"];
    std::set<std::string> names;
    for (auto& [tensor, file] : weight_map->items()) {
      if (!file.is_string()) fail("{}: weight_map entry for {} is not a file name", index, tensor);
      names.insert(file.get<std::string>());
    }
    for (const auto& f : names) files.push_back((fs::path(dir) / f).string());
    return files;
  }
  for (const auto& de : fs::directory_iterator(dir))
    if (de.path().extension() == ".safetensors") files.push_back(de.path().string());
  std::sort(files.begin(), files.end());
  if (files.empty()) fail("{}: no *.safetensors files beside config.json", dir);
  return files;
}

// An empty checkpoint of `format` read from `path`, its side files (tokenizer) in `dir`.
std::unique_ptr<Checkpoint> new_checkpoint(CheckpointFormat format, const std::string& path, const std::string& dir) {
  auto ck = std::make_unique<Checkpoint>();
  ck->format = format;
  ck->path = path;
  ck->dir = dir;
  return ck;
}

std::unique_ptr<Checkpoint> open_hf_dir(const std::string& path) {
  auto ck = new_checkpoint(CheckpointFormat::HfDir, path, path);
  const std::string config_path = (fs::path(path) / "config.json").string();
  ck->hf_config = read_json_file(config_path);
  ck->config = parse_hf_config(ck->hf_config, config_path);
  if (ck->hf_config.contains("quantization_config")) ck->quantization_config = ck->hf_config["quantization_config"];

  json weight_map;
  for (const std::string& file : hf_weight_files(path, &weight_map)) {
    ck->st_files.push_back(std::make_unique<SafetensorsFile>(file));
    for (const auto& [name, t] : ck->st_files.back()->tensors()) {
      if (const TensorView* prev = ck->find(name))
        fail("{}: tensor {} is also in {}", file, name, prev->source);
      ck->add_tensor(name, t);
    }
  }
  for (auto& [name, file] : weight_map.items())
    if (!ck->find(name))
      fail("{}: tensor {} is listed in model.safetensors.index.json but missing from that shard",
           (fs::path(path) / file.get<std::string>()).string(), name);

  validate_tensors(*ck, {"config.json", !ck->quantization_config.is_null(), false, nullptr});
  return ck;
}

// Directory holding a checkpoint file ("." for a bare file name), where its tokenizer files live.
std::string parent_dir(const std::string& file) {
  const std::string d = fs::path(file).parent_path().string();
  return d.empty() ? "." : d;
}

// ---- GGUF ----

class GgufMeta {
 public:
  GgufMeta(const GgufFile& f, std::string arch) : f_(f), arch_(std::move(arch)) {}

  const GgufValue* find(const std::string& key) const { return f_.find_meta(arch_ + "." + key); }
  int64_t get_int(const std::string& key, std::optional<int64_t> def = std::nullopt) const {
    const GgufValue* v = find(key);
    if (!v) {
      if (def) return *def;
      fail("{}: missing metadata {}.{}", f_.path(), arch_, key);
    }
    if (!std::holds_alternative<int64_t>(v->v) && !std::holds_alternative<uint64_t>(v->v))
      fail("{}: metadata {}.{} is not an integer", f_.path(), arch_, key);
    const int64_t x = v->as_int();
    if (x > INT32_MAX) fail("{}: metadata {}.{} = {} is out of range", f_.path(), arch_, key, x);
    return x;
  }
  double get_float(const std::string& key, double def) const {
    const GgufValue* v = find(key);
    if (!v) return def;
    if (std::holds_alternative<std::string>(v->v) || std::holds_alternative<GgufValue::Array>(v->v) ||
        std::holds_alternative<bool>(v->v))
      fail("{}: metadata {}.{} is not a number", f_.path(), arch_, key);
    return v->as_float();
  }

 private:
  const GgufFile& f_;
  std::string arch_;
};

int gguf_token_id(const GgufFile& g, const char* key, int def) {
  const GgufValue* v = g.find_meta(key);
  if (!v) return def;
  if (!std::holds_alternative<int64_t>(v->v) && !std::holds_alternative<uint64_t>(v->v))
    fail("{}: metadata {} is not an integer", g.path(), key);
  return (int)v->as_int();
}

int gguf_vocab_size(const GgufFile& g, const GgufMeta& m) {
  if (const GgufValue* t = g.find_meta("tokenizer.ggml.tokens")) {
    if (!std::holds_alternative<GgufValue::Array>(t->v)) fail("{}: tokenizer.ggml.tokens is not an array", g.path());
    return (int)t->as_array().size();
  }
  if (m.find("vocab_size")) return (int)m.get_int("vocab_size");
  auto it = g.tensors().find("token_embd.weight");
  if (it != g.tensors().end() && it->second.shape.size() == 2) return (int)it->second.shape[0];
  fail("{}: cannot tell the vocabulary size (no tokenizer.ggml.tokens)", g.path());
}

ModelConfig gguf_config(const GgufFile& g) {
  const GgufValue* a = g.find_meta("general.architecture");
  if (!a || !std::holds_alternative<std::string>(a->v)) fail("{}: missing metadata general.architecture", g.path());
  const std::string arch = a->as_string();
  if (arch != "llama" && arch != "mistral" && arch != "qwen2")
    fail("{}: GGUF architecture \"{}\" is not supported (expected llama, mistral or qwen2)", g.path(), arch);
  GgufMeta m(g, arch);
  ModelConfig c;
  c.arch = arch;
  c.dim = (int)m.get_int("embedding_length");
  c.hidden_dim = (int)m.get_int("feed_forward_length");
  c.n_layers = (int)m.get_int("block_count");
  c.n_heads = (int)m.get_int("attention.head_count");
  c.n_kv_heads = (int)m.get_int("attention.head_count_kv", c.n_heads);
  if (c.n_heads > 0 && !m.find("attention.key_length") && c.dim % c.n_heads != 0)
    fail("{}: embedding_length {} is not a multiple of head_count {}", g.path(), c.dim, c.n_heads);
  c.head_dim = (int)m.get_int("attention.key_length", c.n_heads > 0 ? c.dim / c.n_heads : 0);
  if (m.find("rope.dimension_count") && m.get_int("rope.dimension_count") != c.head_dim)
    fail("{}: partial RoPE ({}.rope.dimension_count {} of head dim {}) is not supported", g.path(), arch,
         m.get_int("rope.dimension_count"), c.head_dim);
  if (const GgufValue* s = m.find("rope.scaling.type"); s && std::holds_alternative<std::string>(s->v) &&
                                                         s->as_string() != "none")
    fail("{}: RoPE scaling \"{}\" is not supported", g.path(), s->as_string());
  c.max_seq_len = (int)m.get_int("context_length", c.max_seq_len);
  c.rope_theta = (float)m.get_float("rope.freq_base", 10000.0);
  c.norm_eps = (float)m.get_float("attention.layer_norm_rms_epsilon", 1e-5);
  c.vocab_size = gguf_vocab_size(g, m);
  c.bos_id = gguf_token_id(g, "tokenizer.ggml.bos_token_id", c.bos_id);
  c.eos_id = gguf_token_id(g, "tokenizer.ggml.eos_token_id", c.eos_id);
  // llama.cpp's converter permutes llama/mistral q/k rows into (2i, 2i+1) pairs; qwen2 keeps HF's layout.
  c.rope_layout = arch == "qwen2" ? RopeLayout::RotateHalf : RopeLayout::Interleaved;
  // Biases and tying are whatever tensors the file has.
  auto has = [&](const std::string& hf) {
    const std::string n = *gguf_name_of_hf(hf);
    return g.tensors().count(n) || g.unsupported_tensors().count(n);
  };
  c.attn_bias = has(linear_name(0, kQ) + ".bias");
  c.attn_out_bias = has(linear_name(0, kO) + ".bias");
  c.mlp_bias = has(linear_name(0, kGate) + ".bias");
  c.tied_embeddings = !has(kLmHead.hf);
  c.validate(g.path());
  return c;
}

std::unique_ptr<Checkpoint> open_gguf(const std::string& path) {
  auto ck = new_checkpoint(CheckpointFormat::Gguf, path, parent_dir(path));
  ck->gguf_ = std::make_unique<GgufFile>(path);
  const GgufFile& g = *ck->gguf_;
  ck->config = gguf_config(g);
  for (const auto& [name, t] : g.tensors())
    if (auto hf = hf_name_of_gguf(name)) ck->add_tensor(*hf, t);

  auto explain_missing = [&](const std::string& hf) {
    for (const auto& [name, type] : g.unsupported_tensors())
      if (hf_name_of_gguf(name) == hf) fail("{}: tensor {} has unsupported GGUF type {}", path, name, type);
  };
  validate_tensors(*ck, {"its GGUF metadata", false, true, explain_missing});
  return ck;
}

// ---- llama2.c ----

int64_t checked_mul(int64_t a, int64_t b, const std::string& path) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) fail("{}: llama2.c header sizes are absurdly large", path);
  return r;
}

// Lays out the float arrays of a llama2.c v0 file after its 7-int header, in file order.
class Llama2cLayout {
 public:
  Llama2cLayout(Checkpoint& ck, const std::string& path) : ck_(ck), path_(path) {}

  // Reserves n floats; returns their offset (in floats) from the start of the arrays.
  int64_t take(int64_t n) {
    const int64_t at = pos_;
    if (__builtin_add_overflow(pos_, n, &pos_)) fail("{}: llama2.c header sizes are absurdly large", path_);
    return at;
  }
  // One array of `layers` slices of `shape`, each registered under name_fn(layer).
  template <typename NameFn>
  void per_layer(int layers, const Shape& shape, NameFn name_fn) {
    const int64_t n = shape_numel(shape);
    const int64_t at = take(checked_mul(n, layers, path_));
    for (int l = 0; l < layers; ++l) views_.push_back({name_fn(l), shape, at + l * n});
  }
  void single(const std::string& name, const Shape& shape) { views_.push_back({name, shape, take(shape_numel(shape))}); }
  int64_t floats() const { return pos_; }

  // Called once the file size is known to match: the views point into the mapping.
  void register_views(const std::byte* base) const {
    for (const View& v : views_) {
      TensorView t;
      t.dtype = DType::F32;
      t.shape = v.shape;
      t.data = base + 4 * v.offset;
      t.nbytes = 4 * (size_t)shape_numel(v.shape);
      t.source = path_;
      ck_.add_tensor(v.name, std::move(t));
    }
  }

 private:
  struct View {
    std::string name;
    Shape shape;
    int64_t offset;
  };
  Checkpoint& ck_;
  const std::string& path_;
  int64_t pos_ = 0;
  std::vector<View> views_;
};

ModelConfig llama2c_config(const int32_t h[7], const std::string& path) {
  if (h[0] == 0x616b3432)  // "ak42": the versioned exports of llama2.c's export.py
    fail("{}: llama2.c export version {} is not supported (only the legacy v0 format)", path, h[1]);
  ModelConfig c;
  c.arch = "llama";
  c.dim = h[0];
  c.hidden_dim = h[1];
  c.n_layers = h[2];
  c.n_heads = h[3];
  c.n_kv_heads = h[4];
  // run.c: a positive vocab_size means the classifier shares the embedding table.
  c.tied_embeddings = h[5] > 0;
  c.vocab_size = h[5] == INT32_MIN ? 0 : std::abs(h[5]);
  c.max_seq_len = h[6];
  if (c.dim <= 0 || c.n_heads <= 0 || c.dim % c.n_heads != 0)
    fail("{}: llama2.c header has dim {} and {} heads (dim must be a positive multiple of heads)", path, c.dim,
         c.n_heads);
  c.head_dim = c.dim / c.n_heads;
  c.rope_layout = RopeLayout::Interleaved;
  c.rope_theta = 10000.0f;
  c.norm_eps = 1e-5f;
  c.bos_id = 1;
  c.eos_id = 2;
  c.validate(path);
  return c;
}

std::unique_ptr<Checkpoint> open_llama2c(const std::string& path) {
  auto ck = new_checkpoint(CheckpointFormat::Llama2c, path, parent_dir(path));
  ck->raw_ = std::make_unique<MappedFile>(path);
  const MappedFile& f = *ck->raw_;
  constexpr size_t kHeader = 7 * sizeof(int32_t);
  if (f.size() < kHeader) fail("{}: file is too short for a llama2.c header ({} bytes)", path, f.size());
  int32_t h[7];
  std::memcpy(h, f.data(), kHeader);
  ck->config = llama2c_config(h, path);
  const ModelConfig& c = ck->config;

  Llama2cLayout lay(*ck, path);
  lay.single(kEmbedding.hf, {c.vocab_size, c.dim});
  for (const NamedShape& a : llama2c_layer_arrays(c))
    lay.per_layer(c.n_layers, a.shape, [&](int l) { return layer_prefix(l) + a.name; });
  lay.single(kFinalNorm.hf, {c.dim});
  lay.take(checked_mul(c.max_seq_len, c.head_dim, path));  // freq_cis_real + freq_cis_imag, unused
  if (!c.tied_embeddings) lay.single(kLmHead.hf, {c.vocab_size, c.dim});

  const int64_t want = checked_mul(lay.floats(), 4, path) + (int64_t)kHeader;
  if ((int64_t)f.size() != want)
    fail("{}: file is {} bytes but its llama2.c header (dim {}, hidden {}, {} layers, {} heads, {} kv heads, vocab "
         "{}{}, seq_len {}) implies {} bytes",
         path, f.size(), c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size,
         c.tied_embeddings ? " shared" : " unshared", c.max_seq_len, want);
  lay.register_views(f.data() + kHeader);
  validate_tensors(*ck, {"its llama2.c header", false, false, nullptr});
  return ck;
}

}  // namespace

std::unique_ptr<Checkpoint> open_checkpoint(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) fail("{}: no such file or directory", path);
  if (fs::is_directory(st)) {
    if (fs::exists(fs::path(path) / "config.json")) return open_hf_dir(path);
  } else {
    const std::string ext = fs::path(path).extension().string();
    if (ext == ".gguf") return open_gguf(path);
    if (ext == ".bin") return open_llama2c(path);
  }
  fail("{}: not a checkpoint (expected a directory with config.json, a .gguf or a llama2.c .bin file)", path);
}

}  // namespace sqz

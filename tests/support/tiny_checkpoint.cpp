#include "support/tiny_checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>

#include "core/error.h"
#include "core/file_io.h"
#include "core/half.h"
#include "core/rng.h"
#include "io/checkpoint.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "io/tensor_names.h"
#include "kernels/format.h"

namespace sqz {

ModelConfig tiny_config() {
  return {.dim = 32, .hidden_dim = 48, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 8, .vocab_size = 64,
          .max_seq_len = 64, .norm_eps = 1e-5f};
}

std::vector<TinyTensor> tiny_model_weights(const ModelConfig& c, uint64_t seed) {
  std::vector<TinyTensor> out;
  // Each tensor draws from its own stream, so adding an optional tensor leaves the others unchanged.
  uint64_t stream = 0;
  auto add = [&](const std::string& name, Shape shape, float scale, float offset) {
    std::vector<float> v = random_normal((size_t)shape_numel(shape), seed * 0x9E3779B97F4A7C15ULL + (++stream), scale);
    for (float& x : v) x += offset;
    out.push_back({name, std::move(shape), std::move(v)});
  };
  auto linear = [&](const std::string& base, const Shape& shape, bool bias) {
    add(base + ".weight", shape, 1.0f / std::sqrt((float)shape[1]), 0.0f);
    if (bias) add(base + ".bias", {shape[0]}, 0.1f, 0.0f);
  };
  add(kEmbedding.hf, {c.vocab_size, c.dim}, 1.0f, 0.0f);
  for (int l = 0; l < c.n_layers; ++l)
    for (int s = 0; s < kNumSlots; ++s) {
      // In block order: each norm just before the linears that read it.
      if (s == kQ) add(norm_name(l, kAttnNorm), {c.dim}, 0.1f, 1.0f);
      if (s == kGate) add(norm_name(l, kFfnNorm), {c.dim}, 0.1f, 1.0f);
      linear(linear_name(l, s), linear_shape(c, s), linear_has_bias(c, s));
    }
  add(kFinalNorm.hf, {c.dim}, 0.1f, 1.0f);
  if (!c.tied_embeddings) linear("lm_head", {c.vocab_size, c.dim}, false);
  return out;
}

std::vector<uint8_t> encode_f32(const std::vector<float>& v, DType dtype) {
  std::vector<uint8_t> out(dtype_nbytes(dtype, (int64_t)v.size()));
  switch (dtype) {
    case DType::F32:
      std::memcpy(out.data(), v.data(), out.size());
      break;
    case DType::F16:
    case DType::BF16:
      for (size_t i = 0; i < v.size(); ++i) {
        const uint16_t h = dtype == DType::F16 ? f32_to_fp16(v[i]) : f32_to_bf16(v[i]);
        std::memcpy(out.data() + 2 * i, &h, 2);
      }
      break;
    default:
      fail("encode_f32: cannot encode as {}", dtype_name(dtype));
  }
  return out;
}

std::vector<float> permute_rows_for_interleaved_rope(const std::vector<float>& w, int n_heads, int head_dim,
                                                     int64_t in) {
  SQZ_CHECK((int64_t)w.size() == (int64_t)n_heads * head_dim * in, "permute: weight of {} values is not [{} x {}, {}]",
            w.size(), n_heads, head_dim, in);
  std::vector<float> out(w.size());
  const int half = head_dim / 2;
  for (int h = 0; h < n_heads; ++h)
    for (int i = 0; i < half; ++i)
      for (int s = 0; s < 2; ++s) {
        const int64_t dst = (int64_t)h * head_dim + 2 * i + s, src = (int64_t)h * head_dim + s * half + i;
        std::memcpy(&out[(size_t)(dst * in)], &w[(size_t)(src * in)], (size_t)in * sizeof(float));
      }
  return out;
}

void write_tiny_hf_model(const std::string& dir, const ModelConfig& cfg, uint64_t seed, DType dtype) {
  SQZ_CHECK(dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16,
            "write_tiny_hf_model: dtype {} is not F32, F16 or BF16", dtype_name(dtype));
  std::filesystem::create_directories(dir);
  nlohmann::json j = to_hf_config(cfg);
  j["torch_dtype"] = dtype == DType::F32 ? "float32" : dtype == DType::F16 ? "float16" : "bfloat16";
  write_file_atomic(dir + "/config.json", j.dump(2) + "\n");
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  for (const TinyTensor& t : tiny_model_weights(cfg, seed)) {
    const std::vector<uint8_t> bytes = encode_f32(t.data, dtype);
    w.add(t.name, dtype, t.shape, bytes.data(), bytes.size());
  }
  w.write(dir + "/model.safetensors");
}

namespace {

// llama.cpp's name of an HF tensor this writer stores.
std::string gguf_name(const std::string& hf) {
  const std::optional<std::string> g = gguf_name_of_hf(hf);
  SQZ_CHECK(g, "write_tiny_gguf: no GGUF name for {}", hf);
  return *g;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// q/k weights and biases are stored permuted for interleaved RoPE (a bias is a one-column weight).
std::vector<float> to_interleaved(const TinyTensor& t, const ModelConfig& c) {
  auto is = [&](int slot) { return t.name.find(std::string(".") + slot_name(slot) + ".") != std::string::npos; };
  const bool q = is(kQ), k = is(kK);
  if (!q && !k) return t.data;
  const int64_t in = t.shape.size() == 2 ? t.shape[1] : 1;
  return permute_rows_for_interleaved_rope(t.data, q ? c.n_heads : c.n_kv_heads, c.head_dim, in);
}

}  // namespace

void write_tiny_gguf(const std::string& path, const ModelConfig& c, uint64_t seed, const std::string& weight_type) {
  const std::optional<DType> dtype = parse_dtype(weight_type);
  const kernels::Format* packed = dtype ? nullptr : kernels::find_format(weight_type);
  SQZ_CHECK((dtype && dtype_is_float(*dtype) && *dtype != DType::F64) || (packed && packed->ggml_type != kernels::kNoGgmlType),
            "write_tiny_gguf: {} is neither F32, F16, BF16 nor a GGUF block type", weight_type);
  const std::string arch = c.arch == "qwen2" ? "qwen2" : "llama";  // llama.cpp writes mistral as llama
  GgufWriter w;
  w.set_str("general.architecture", arch);
  w.set_str("general.name", "tiny");
  w.set_u32(arch + ".context_length", (uint32_t)c.max_seq_len);
  w.set_u32(arch + ".embedding_length", (uint32_t)c.dim);
  w.set_u32(arch + ".block_count", (uint32_t)c.n_layers);
  w.set_u32(arch + ".feed_forward_length", (uint32_t)c.hidden_dim);
  w.set_u32(arch + ".attention.head_count", (uint32_t)c.n_heads);
  w.set_u32(arch + ".attention.head_count_kv", (uint32_t)c.n_kv_heads);
  w.set_u32(arch + ".attention.key_length", (uint32_t)c.head_dim);
  w.set_u32(arch + ".attention.value_length", (uint32_t)c.head_dim);
  w.set_u32(arch + ".rope.dimension_count", (uint32_t)c.head_dim);
  w.set_f32(arch + ".rope.freq_base", c.rope_theta);
  w.set_f32(arch + ".attention.layer_norm_rms_epsilon", c.norm_eps);
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  while ((int)tokens.size() < c.vocab_size) tokens.push_back("tok" + std::to_string(tokens.size()));
  tokens.resize((size_t)c.vocab_size);
  w.set_str("tokenizer.ggml.model", "llama");
  w.set_arr_str("tokenizer.ggml.tokens", tokens);
  w.set_arr_f32("tokenizer.ggml.scores", std::vector<float>(tokens.size(), 0.0f));
  std::vector<int32_t> types(tokens.size(), 1);  // normal
  for (size_t i = 0; i < std::min<size_t>(3, types.size()); ++i) types[i] = i == 0 ? 2 : 3;  // unknown, control
  w.set_arr_i32("tokenizer.ggml.token_type", types);
  if (c.bos_id >= 0) w.set_u32("tokenizer.ggml.bos_token_id", (uint32_t)c.bos_id);
  if (c.eos_id >= 0) w.set_u32("tokenizer.ggml.eos_token_id", (uint32_t)c.eos_id);

  for (const TinyTensor& t : tiny_model_weights(c, seed)) {
    const std::vector<float> v = c.arch == "qwen2" ? t.data : to_interleaved(t, c);
    const bool keep_f32 = t.shape.size() == 1 || ends_with(t.name, "norm.weight");  // norms and biases
    if (!keep_f32 && packed) {
      // Like llama.cpp, fall back to F16 where the type's blocks do not fit the rows.
      const int64_t cols = t.shape.back(), rows = (int64_t)v.size() / cols;
      if (packed->check({}, rows, cols).empty()) {
        const std::vector<OwnedTensor> enc = packed->encode(v.data(), rows, cols, {}, nullptr);
        w.add_packed_tensor(gguf_name(t.name), *packed, t.shape, enc[0].bytes.data(), enc[0].bytes.size());
        continue;
      }
    }
    const DType dt = keep_f32 ? DType::F32 : packed ? DType::F16 : *dtype;
    const std::vector<uint8_t> bytes = encode_f32(v, dt);
    w.add_tensor(gguf_name(t.name), dt, t.shape, bytes.data(), bytes.size());
  }
  w.write(path);
}

void write_tiny_llama2c(const std::string& path, const ModelConfig& c, uint64_t seed) {
  SQZ_CHECK(c.q_dim() == c.dim && !c.attn_bias && !c.attn_out_bias && !c.mlp_bias,
            "write_tiny_llama2c: llama2.c needs head_dim * n_heads == dim and no biases");
  std::map<std::string, std::vector<float>> w;
  for (TinyTensor& t : tiny_model_weights(c, seed)) w[t.name] = to_interleaved(t, c);

  std::vector<float> floats;
  auto put = [&](const std::string& name) {
    const auto& v = w.at(name);
    floats.insert(floats.end(), v.begin(), v.end());
  };
  put(kEmbedding.hf);
  for (const NamedShape& a : llama2c_layer_arrays(c))
    for (int l = 0; l < c.n_layers; ++l) put(layer_prefix(l) + a.name);
  put(kFinalNorm.hf);
  // freq_cis_real then freq_cis_imag, [seq_len, head_dim / 2] each (run.c skips them; written for fidelity).
  for (int part = 0; part < 2; ++part)
    for (int pos = 0; pos < c.max_seq_len; ++pos)
      for (int i = 0; i < c.head_dim / 2; ++i) {
        const double a = pos / std::pow((double)c.rope_theta, 2.0 * i / c.head_dim);
        floats.push_back((float)(part == 0 ? std::cos(a) : std::sin(a)));
      }
  if (!c.tied_embeddings) put(kLmHead.hf);

  // run.c: a negative vocab_size marks an unshared classifier.
  const int32_t header[7] = {c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads,
                             c.tied_embeddings ? c.vocab_size : -c.vocab_size, c.max_seq_len};
  AtomicFile f(path);
  f.write(header, sizeof header);
  f.write(floats.data(), floats.size() * sizeof(float));
  f.commit();
}

void write_tiny_char_tokenizer(const std::string& path, int vocab_size) {
  std::string bytes;
  auto put = [&](const void* p, size_t n) { bytes.append(static_cast<const char*>(p), n); };
  const int32_t max_len = 1;
  put(&max_len, 4);
  for (int i = 0; i < vocab_size; ++i) {
    const float score = 0.f;
    const int32_t len = 1;
    const char ch = (char)(i < 3 ? '?' : 32 + (i - 3));
    put(&score, 4);
    put(&len, 4);
    put(&ch, 1);
  }
  write_file_atomic(path, bytes);
}

}  // namespace sqz

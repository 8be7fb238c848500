#include "kernels/format.h"
#include "io/checkpoint.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "core/file_io.h"
#include "support/tiny_checkpoint.h"
#include "io_test_util.h"

namespace sqz {
namespace {

using testing_io::read_bytes;
using testing_io::ScratchDir;
using testing_io::write_bytes;

// tiny_config() with hidden 64 and a 16-token context.
ModelConfig small_config() {
  ModelConfig c = tiny_config();
  c.hidden_dim = 64;
  c.max_seq_len = 16;
  return c;
}

std::map<std::string, TinyTensor> weights_by_name(const ModelConfig& c, uint64_t seed) {
  std::map<std::string, TinyTensor> m;
  for (auto& t : tiny_model_weights(c, seed)) m[t.name] = t;
  return m;
}

// fp32 values after a round trip through `dtype` (what the file holds).
std::vector<float> rounded(const std::vector<float>& v, DType dtype) {
  const std::vector<uint8_t> b = encode_f32(v, dtype);
  TensorView t{dtype, {(int64_t)v.size()}, b.data(), b.size(), "<memory>"};
  return to_f32(t);
}

void write_config(const std::string& dir, const nlohmann::json& j) { write_file_atomic(dir + "/config.json", j.dump()); }

// Writes an HF directory from explicit tensors (lets tests drop or corrupt some).
void write_hf(const std::string& dir, const nlohmann::json& config, const std::vector<TinyTensor>& ts,
              DType dtype = DType::F32) {
  std::filesystem::create_directories(dir);
  write_config(dir, config);
  SafetensorsWriter w;
  for (const auto& t : ts) {
    const auto b = encode_f32(t.data, dtype);
    w.add(t.name, dtype, t.shape, b.data(), b.size());
  }
  w.write(dir + "/model.safetensors");
}

class HfDtype : public ::testing::TestWithParam<DType> {};

TEST_P(HfDtype, OpensTinyHfModel) {
  ScratchDir dir;
  const ModelConfig cfg = small_config();
  write_tiny_hf_model(dir.str(), cfg, 7, GetParam());
  auto ck = open_checkpoint(dir.str());
  EXPECT_EQ(ck->format, CheckpointFormat::HfDir);
  EXPECT_EQ(ck->path, dir.str());
  EXPECT_EQ(ck->dir, dir.str());
  EXPECT_EQ(ck->config.dim, 32);
  EXPECT_EQ(ck->config.hidden_dim, 64);
  EXPECT_EQ(ck->config.n_layers, 2);
  EXPECT_EQ(ck->config.n_kv_heads, 2);
  EXPECT_EQ(ck->config.vocab_size, 64);
  EXPECT_EQ(ck->config.rope_layout, RopeLayout::RotateHalf);
  EXPECT_FALSE(ck->config.tied_embeddings);
  EXPECT_TRUE(ck->quantization_config.is_null());
  EXPECT_EQ(ck->hf_config["model_type"], "llama");
  EXPECT_EQ(ck->file_bytes(), std::filesystem::file_size(dir.file("model.safetensors")));
  const auto w = weights_by_name(cfg, 7);
  EXPECT_EQ(ck->tensors().size(), w.size());
  for (const auto& [name, t] : w) {
    const TensorView& v = ck->require(name, t.shape);
    EXPECT_EQ(v.dtype, GetParam());
    EXPECT_EQ(to_f32(v), rounded(t.data, GetParam())) << name;
  }
  EXPECT_ERROR_CONTAINS(ck->require("model.norm.weight", {33}), "model.norm.weight", "[32]", "[33]");
  EXPECT_ERROR_CONTAINS(ck->require("nope"), dir.str(), "missing tensor nope");
  EXPECT_EQ(ck->find("nope"), nullptr);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, HfDtype, ::testing::Values(DType::F32, DType::F16, DType::BF16));

TEST(Checkpoint, HfQwen2BiasesAndTiedEmbeddings) {
  ScratchDir dir;
  ModelConfig cfg = small_config();
  cfg.arch = "qwen2";
  cfg.attn_bias = true;
  cfg.tied_embeddings = true;
  write_tiny_hf_model(dir.str(), cfg, 3);
  auto ck = open_checkpoint(dir.str());
  EXPECT_TRUE(ck->config.attn_bias);
  EXPECT_TRUE(ck->config.tied_embeddings);
  EXPECT_EQ(ck->find("lm_head.weight"), nullptr);
  EXPECT_EQ(ck->require("model.layers.1.self_attn.k_proj.bias").shape, (Shape{16}));
  EXPECT_EQ(ck->find("model.layers.1.self_attn.o_proj.bias"), nullptr);
}

TEST(Checkpoint, HfShardedWithIndex) {
  ScratchDir dir;
  const ModelConfig cfg = small_config();
  write_config(dir.str(), to_hf_config(cfg));
  SafetensorsWriter a, b;
  nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
  const auto ts = tiny_model_weights(cfg, 5);
  for (size_t i = 0; i < ts.size(); ++i) {
    const bool first = i < ts.size() / 2;
    (first ? a : b).add_f32(ts[i].name, ts[i].shape, ts[i].data);
    index["weight_map"][ts[i].name] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  a.write(dir.file("model-00001-of-00002.safetensors"));
  b.write(dir.file("model-00002-of-00002.safetensors"));
  // A stray file the index does not name must be ignored.
  SafetensorsWriter stray;
  stray.add_f32("model.norm.weight", {32}, std::vector<float>(32, NAN));
  stray.write(dir.file("stray.safetensors"));
  write_file_atomic(dir.file("model.safetensors.index.json"), index.dump());

  auto ck = open_checkpoint(dir.str());
  EXPECT_EQ(ck->st_files.size(), 2u);
  EXPECT_EQ(ck->tensors().size(), ts.size());
  EXPECT_EQ(to_f32(ck->require("model.norm.weight")), weights_by_name(cfg, 5).at("model.norm.weight").data);
  EXPECT_EQ(ck->file_bytes(), std::filesystem::file_size(dir.file("model-00001-of-00002.safetensors")) +
                                  std::filesystem::file_size(dir.file("model-00002-of-00002.safetensors")));

  // An index naming a tensor its shard lacks is an error naming that shard.
  index["weight_map"]["extra.weight"] = "model-00001-of-00002.safetensors";
  write_file_atomic(dir.file("model.safetensors.index.json"), index.dump());
  EXPECT_ERROR_CONTAINS(open_checkpoint(dir.str()), "model-00001-of-00002.safetensors", "extra.weight");
}

TEST(Checkpoint, HfShapeMismatchNamesFileTensorAndShapes) {
  ScratchDir dir;
  ModelConfig cfg = small_config();
  write_tiny_hf_model(dir.str(), cfg, 1);
  ModelConfig other = cfg;
  other.hidden_dim = 96;
  write_config(dir.str(), to_hf_config(other));
  EXPECT_ERROR_CONTAINS(open_checkpoint(dir.str()), dir.file("model.safetensors"),
                        "tensor model.layers.0.mlp.gate_proj.weight has shape [64, 32], config.json expects [96, 32]");

  other = cfg;
  other.n_heads = 2;
  other.n_kv_heads = 2;
  other.head_dim = 16;  // q_proj [32, 32] stays; k_proj becomes [32, 32]
  write_config(dir.str(), to_hf_config(other));
  EXPECT_ERROR_CONTAINS(open_checkpoint(dir.str()),
                        "tensor model.layers.0.self_attn.k_proj.weight has shape [16, 32], config.json expects [32, 32]");
}

TEST(Checkpoint, HfMissingTensors) {
  ScratchDir dir;
  const ModelConfig cfg = small_config();
  auto ts = tiny_model_weights(cfg, 2);
  std::erase_if(ts, [](const TinyTensor& t) { return t.name == "model.layers.1.self_attn.k_proj.weight"; });
  write_hf(dir.str(), to_hf_config(cfg), ts);
  EXPECT_ERROR_CONTAINS(open_checkpoint(dir.str()), dir.str(), "missing tensor model.layers.1.self_attn.k_proj.weight",
                        "[16, 32]");

  // Untied config without lm_head.
  ModelConfig tied = cfg;
  tied.tied_embeddings = true;
  write_hf(dir.str(), to_hf_config(cfg), tiny_model_weights(tied, 2));
  EXPECT_ERROR_CONTAINS(open_checkpoint(dir.str()), dir.str(), "lm_head.weight", "not tied");

  // A bias the config promises.
  ModelConfig biased = cfg;
  biased.attn_bias = biased.attn_out_bias = true;
  write_hf(dir.str(), to_hf_config(biased), tiny_model_weights(cfg, 2));
  EXPECT_ERROR_CONTAINS(open_checkpoint(dir.str()), "missing tensor model.layers.0.self_attn.q_proj.bias");
}

TEST(Checkpoint, HfNonFloatAndNonFiniteWeights) {
  ScratchDir dir;
  const ModelConfig cfg = small_config();
  auto ts = tiny_model_weights(cfg, 4);
  for (auto& t : ts)
    if (t.name == "model.layers.1.mlp.down_proj.weight") t.data[37] = std::numeric_limits<float>::quiet_NaN();
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    SCOPED_TRACE(dtype_name(dt));
    write_hf(dir.str(), to_hf_config(cfg), ts, dt);
    EXPECT_ERROR_CONTAINS(open_checkpoint(dir.str()), dir.file("model.safetensors"),
                          "tensor model.layers.1.mlp.down_proj.weight contains NaN or Inf (first at element 37)");
  }
  for (auto& t : ts)
    if (t.name == "model.layers.1.mlp.down_proj.weight") t.data[37] = INFINITY;
  write_hf(dir.str(), to_hf_config(cfg), ts);
  EXPECT_ERROR_CONTAINS(open_checkpoint(dir.str()), "down_proj.weight contains NaN or Inf");

  // Integer weights.
  std::filesystem::remove_all(dir.str());
  std::filesystem::create_directories(dir.str());
  write_config(dir.str(), to_hf_config(cfg));
  SafetensorsWriter w;
  for (const auto& t : tiny_model_weights(cfg, 4)) {
    if (t.name == "model.norm.weight") {
      std::vector<int32_t> ints(t.data.size(), 1);
      w.add(t.name, DType::I32, t.shape, ints.data(), ints.size() * 4);
    } else {
      w.add_f32(t.name, t.shape, t.data);
    }
  }
  w.write(dir.file("model.safetensors"));
  EXPECT_ERROR_CONTAINS(open_checkpoint(dir.str()), "model.norm.weight", "dtype I32");
}

TEST(Checkpoint, HfBadConfig) {
  ScratchDir dir;
  const ModelConfig cfg = small_config();
  write_tiny_hf_model(dir.str(), cfg, 1);
  auto j = to_hf_config(cfg);
  j["model_type"] = "falcon";
  write_config(dir.str(), j);
  EXPECT_ERROR_CONTAINS(open_checkpoint(dir.str()), dir.file("config.json"), "unsupported model_type \"falcon\"");
  write_bytes(dir.file("config.json"), "{ oops");
  EXPECT_ERROR_CONTAINS(open_checkpoint(dir.str()), dir.file("config.json"), "invalid JSON");
  std::filesystem::remove(dir.file("model.safetensors"));
  write_config(dir.str(), to_hf_config(cfg));
  EXPECT_ERROR_CONTAINS(open_checkpoint(dir.str()), dir.str(), "no *.safetensors");
}

TEST(Checkpoint, HfQuantizedSkipsLinearShapes) {
  ScratchDir dir;
  const ModelConfig cfg = small_config();
  auto j = to_hf_config(cfg);
  j["quantization_config"] = {{"quant_method", "sqz"}, {"bits", 4}};
  std::vector<TinyTensor> ts;
  for (auto& t : tiny_model_weights(cfg, 9)) {
    if (t.name.find("_proj") != std::string::npos || t.name == "lm_head.weight") {
      // Quantized checkpoints store other tensors in place of the linear weights.
      ts.push_back({t.name.substr(0, t.name.size() - 7) + ".qweight", {3}, {1, 2, 3}});
    } else {
      ts.push_back(t);
    }
  }
  write_hf(dir.str(), j, ts);
  auto ck = open_checkpoint(dir.str());
  EXPECT_EQ(ck->quantization_config["bits"], 4);
  EXPECT_NE(ck->find("model.layers.0.self_attn.q_proj.qweight"), nullptr);
  EXPECT_EQ(ck->find("model.layers.0.self_attn.q_proj.weight"), nullptr);

  // Embeddings and norms are still checked.
  for (auto& t : ts)
    if (t.name == "model.embed_tokens.weight") t.shape = {32, 64};
  write_hf(dir.str(), j, ts);
  EXPECT_ERROR_CONTAINS(open_checkpoint(dir.str()), "model.embed_tokens.weight has shape [32, 64], config.json expects [64, 32]");
}

TEST(Checkpoint, NotACheckpoint) {
  ScratchDir dir;
  const std::string kMsg = "not a checkpoint (expected a directory with config.json, a .gguf or a llama2.c .bin file)";
  EXPECT_ERROR_CONTAINS(open_checkpoint(dir.str()), dir.str(), kMsg);
  write_bytes(dir.file("x.txt"), "hello");
  EXPECT_ERROR_CONTAINS(open_checkpoint(dir.file("x.txt")), dir.file("x.txt"), kMsg);
  EXPECT_ERROR_CONTAINS(open_checkpoint(dir.file("missing.gguf")), dir.file("missing.gguf"), "no such file");
}

// ---- GGUF ----

// A GGUF weight type: an element dtype or a block type of the format table.
class GgufDtype : public ::testing::TestWithParam<std::string> {};

// v as the GGUF file stores it in `type` (a row of the format table encodes and decodes block types).
std::vector<float> rounded_as(const std::vector<float>& v, const Shape& shape, const std::string& type) {
  if (auto dt = parse_dtype(type)) return rounded(v, *dt);
  const kernels::Format& f = kernels::format(type);
  const int64_t cols = shape.back(), rows = (int64_t)v.size() / cols;
  const std::vector<OwnedTensor> enc = f.encode(v.data(), rows, cols, {}, nullptr);
  kernels::PackedMatrix m;
  m.format = &f, m.rows = rows, m.cols = cols, m.t[0] = enc[0].bytes.data();
  std::vector<float> out(v.size());
  kernels::packed_dequant_ref(m, 0, rows, out.data());
  return out;
}

TEST_P(GgufDtype, OpensTinyGgufWithHfNamesAndPermutedQk) {
  ScratchDir dir;
  const ModelConfig cfg = small_config();
  const std::string path = dir.file("m.gguf");
  write_tiny_gguf(path, cfg, 11, GetParam());
  auto ck = open_checkpoint(path);
  EXPECT_EQ(ck->format, CheckpointFormat::Gguf);
  EXPECT_EQ(ck->dir, dir.str());
  ASSERT_NE(ck->gguf(), nullptr);
  const ModelConfig& c = ck->config;
  EXPECT_EQ(c.arch, "llama");
  EXPECT_EQ(c.dim, 32);
  EXPECT_EQ(c.hidden_dim, 64);
  EXPECT_EQ(c.n_layers, 2);
  EXPECT_EQ(c.n_heads, 4);
  EXPECT_EQ(c.n_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.vocab_size, 64);
  EXPECT_EQ(c.max_seq_len, 16);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
  EXPECT_EQ(c.rope_layout, RopeLayout::Interleaved);
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_EQ(c.bos_id, 1);
  EXPECT_EQ(c.eos_id, 2);
  EXPECT_EQ(ck->file_bytes(), std::filesystem::file_size(path));

  const auto w = weights_by_name(cfg, 11);
  EXPECT_EQ(ck->tensors().size(), w.size());
  for (const auto& [name, t] : w) {
    SCOPED_TRACE(name);
    const TensorView& v = ck->require(name, t.shape);
    std::vector<float> want = t.data;
    if (name.find("q_proj") != std::string::npos) want = permute_rows_for_interleaved_rope(want, 4, 8, 32);
    if (name.find("k_proj") != std::string::npos) want = permute_rows_for_interleaved_rope(want, 2, 8, 32);
    const bool norm = t.shape.size() == 1;
    const bool packed = !parse_dtype(GetParam());
    if (norm) {
      EXPECT_EQ(v.dtype, DType::F32);
      EXPECT_EQ(to_f32(v), want);
    } else if (packed) {
      EXPECT_EQ(v.packed_format, GetParam());
      EXPECT_EQ(kernels::tensor_to_f32(v), rounded_as(want, t.shape, GetParam()));
    } else {
      EXPECT_EQ(v.dtype, *parse_dtype(GetParam()));
      EXPECT_EQ(to_f32(v), rounded(want, v.dtype));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, GgufDtype, ::testing::Values("F32", "F16", "BF16", "q8_0", "q4_0", "iq4_nl"));

TEST(Checkpoint, GgufQwen2KeepsRotateHalfAndBiases) {
  ScratchDir dir;
  ModelConfig cfg = small_config();
  cfg.arch = "qwen2";
  cfg.attn_bias = true;
  cfg.tied_embeddings = true;
  const std::string path = dir.file("q.gguf");
  write_tiny_gguf(path, cfg, 2);
  auto ck = open_checkpoint(path);
  EXPECT_EQ(ck->config.arch, "qwen2");
  EXPECT_EQ(ck->config.rope_layout, RopeLayout::RotateHalf);
  EXPECT_TRUE(ck->config.attn_bias);
  EXPECT_FALSE(ck->config.attn_out_bias);
  EXPECT_TRUE(ck->config.tied_embeddings);
  const auto w = weights_by_name(cfg, 2);
  EXPECT_EQ(to_f32(ck->require("model.layers.0.self_attn.q_proj.weight")),
            w.at("model.layers.0.self_attn.q_proj.weight").data);
  EXPECT_EQ(to_f32(ck->require("model.layers.1.self_attn.v_proj.bias")), w.at("model.layers.1.self_attn.v_proj.bias").data);
}

// Rewrites the ggml type of tensor `name` in a GGUF file's bytes.
void patch_tensor_type(std::string& bytes, const std::string& name, uint32_t type) {
  std::string key(8, '\0');
  const uint64_t n = name.size();
  std::memcpy(key.data(), &n, 8);
  key += name;
  const size_t at = bytes.find(key);
  ASSERT_NE(at, std::string::npos);
  uint32_t n_dims;
  std::memcpy(&n_dims, bytes.data() + at + key.size(), 4);
  std::memcpy(bytes.data() + at + key.size() + 4 + 8 * n_dims, &type, 4);
}

TEST(Checkpoint, GgufErrors) {
  ScratchDir dir;
  const ModelConfig cfg = small_config();
  const std::string path = dir.file("m.gguf");
  write_tiny_gguf(path, cfg, 1);
  std::string bytes = read_bytes(path);

  std::string patched = bytes;
  patch_tensor_type(patched, "blk.1.ffn_up.weight", 99);
  write_bytes(path, patched);
  EXPECT_ERROR_CONTAINS(open_checkpoint(path), path, "tensor blk.1.ffn_up.weight has unsupported GGUF type 99");
  // A known block type whose blocks do not fit the rows (Q4_K: 256 weights; these rows have 32).
  patched = bytes;
  patch_tensor_type(patched, "blk.1.ffn_up.weight", 12);
  write_bytes(path, patched);
  EXPECT_ERROR_CONTAINS(open_checkpoint(path), path, "blk.1.ffn_up.weight", "not a multiple", "256-weight blocks");

  write_bytes(path, bytes.substr(0, bytes.size() - 100));
  EXPECT_ERROR_CONTAINS(open_checkpoint(path), path, "past the end");

  GgufWriter w;
  w.set_str("general.architecture", "gpt2");
  w.write(path);
  EXPECT_ERROR_CONTAINS(open_checkpoint(path), path, "architecture \"gpt2\"");
  GgufWriter w2;
  w2.set_str("general.architecture", "llama");
  w2.write(path);
  EXPECT_ERROR_CONTAINS(open_checkpoint(path), path, "missing metadata llama.embedding_length");

}

TEST(Checkpoint, GgufMetadataShapeMismatch) {
  ScratchDir dir;
  ModelConfig cfg = small_config();
  const std::string path = dir.file("m.gguf");
  write_tiny_gguf(path, cfg, 1);
  std::string bytes = read_bytes(path);
  // Bump feed_forward_length 64 -> 96 in place (same byte size).
  const std::string key = "llama.feed_forward_length";
  const size_t at = bytes.find(key);
  ASSERT_NE(at, std::string::npos);
  uint32_t v = 96;
  std::memcpy(bytes.data() + at + key.size() + 4, &v, 4);
  write_bytes(path, bytes);
  EXPECT_ERROR_CONTAINS(open_checkpoint(path), path, "model.layers.0.mlp.gate_proj.weight has shape [64, 32]",
                        "expects [96, 32]");
}

// ---- llama2.c ----

class Llama2cShared : public ::testing::TestWithParam<bool> {};

TEST_P(Llama2cShared, ViewsMatchWrittenData) {
  ScratchDir dir;
  ModelConfig cfg = small_config();
  cfg.tied_embeddings = GetParam();
  const std::string path = dir.file("m.bin");
  write_tiny_llama2c(path, cfg, 21);
  auto ck = open_checkpoint(path);
  EXPECT_EQ(ck->format, CheckpointFormat::Llama2c);
  EXPECT_EQ(ck->dir, dir.str());
  const ModelConfig& c = ck->config;
  EXPECT_EQ(c.dim, 32);
  EXPECT_EQ(c.hidden_dim, 64);
  EXPECT_EQ(c.n_layers, 2);
  EXPECT_EQ(c.n_heads, 4);
  EXPECT_EQ(c.n_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.vocab_size, 64);
  EXPECT_EQ(c.max_seq_len, 16);
  EXPECT_EQ(c.tied_embeddings, GetParam());
  EXPECT_EQ(c.rope_layout, RopeLayout::Interleaved);
  EXPECT_EQ(c.bos_id, 1);
  EXPECT_EQ(c.eos_id, 2);
  EXPECT_EQ(ck->file_bytes(), std::filesystem::file_size(path));

  const auto w = weights_by_name(cfg, 21);
  EXPECT_EQ(ck->tensors().size(), w.size());
  const std::string bytes = read_bytes(path);
  int32_t header[7];
  std::memcpy(header, bytes.data(), 28);
  EXPECT_EQ(header[5], GetParam() ? 64 : -64);
  for (const auto& [name, t] : w) {
    SCOPED_TRACE(name);
    const TensorView& v = ck->require(name, t.shape);
    EXPECT_EQ(v.dtype, DType::F32);
    std::vector<float> want = t.data;
    if (name.find("q_proj") != std::string::npos) want = permute_rows_for_interleaved_rope(want, 4, 8, 32);
    if (name.find("k_proj") != std::string::npos) want = permute_rows_for_interleaved_rope(want, 2, 8, 32);
    EXPECT_EQ(to_f32(v), want);
    // A view into the mapping, not a copy.
    const auto* base = reinterpret_cast<const std::byte*>(ck->raw_->data());
    EXPECT_GE(static_cast<const std::byte*>(v.data), base + 28);
    EXPECT_LE(static_cast<const std::byte*>(v.data) + v.nbytes, base + ck->raw_->size());
  }
  // The first layer's q_proj starts right after the embeddings and the L attention norms.
  EXPECT_EQ(static_cast<const std::byte*>(ck->require("model.layers.0.self_attn.q_proj.weight").data),
            ck->raw_->data() + 28 + 4 * (64 * 32 + 2 * 32));
}

INSTANTIATE_TEST_SUITE_P(SharedAndUnshared, Llama2cShared, ::testing::Bool());

TEST(Checkpoint, Llama2cErrors) {
  ScratchDir dir;
  ModelConfig cfg = small_config();
  const std::string path = dir.file("m.bin");
  write_tiny_llama2c(path, cfg, 1);
  const std::string bytes = read_bytes(path);
  const size_t size = bytes.size();

  write_bytes(path, bytes.substr(0, size - 4));
  EXPECT_ERROR_CONTAINS(open_checkpoint(path), path, fmt::format("file is {} bytes", size - 4),
                        fmt::format("implies {} bytes", size));
  write_bytes(path, bytes + "xxxx");
  EXPECT_ERROR_CONTAINS(open_checkpoint(path), path, fmt::format("implies {} bytes", size));
  write_bytes(path, bytes.substr(0, 10));
  EXPECT_ERROR_CONTAINS(open_checkpoint(path), path, "too short");

  // A shared-classifier header on an unshared file: sizes disagree.
  std::string flipped = bytes;
  const int32_t pos_vocab = 64;
  std::memcpy(flipped.data() + 20, &pos_vocab, 4);
  write_bytes(path, flipped);
  EXPECT_ERROR_CONTAINS(open_checkpoint(path), path, "implies");

  std::string bad = bytes;
  const int32_t heads = 5;
  std::memcpy(bad.data() + 12, &heads, 4);
  write_bytes(path, bad);
  EXPECT_ERROR_CONTAINS(open_checkpoint(path), path, "multiple of heads");

  std::string v1 = bytes;
  std::memcpy(v1.data(), "24ka\x01\0\0\0", 8);
  write_bytes(path, v1);
  EXPECT_ERROR_CONTAINS(open_checkpoint(path), path, "version 1");

  std::string nan = bytes;
  const float x = NAN;
  std::memcpy(nan.data() + 28 + 4 * 100, &x, 4);
  write_bytes(path, nan);
  EXPECT_ERROR_CONTAINS(open_checkpoint(path), path, "model.embed_tokens.weight contains NaN or Inf (first at element 100)");
}

}  // namespace
}  // namespace sqz

#include "io/config.h"

#include <gtest/gtest.h>

#include "io_test_util.h"

namespace sqz {
namespace {

using json = nlohmann::json;

json llama_json() {
  return json::parse(R"({
    "model_type": "llama", "hidden_size": 256, "intermediate_size": 768, "num_hidden_layers": 6,
    "num_attention_heads": 8, "num_key_value_heads": 4, "vocab_size": 4096,
    "max_position_embeddings": 1024, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
    "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu"})");
}

TEST(Config, ParsesLlama) {
  const ModelConfig c = parse_hf_config(llama_json(), "m/config.json");
  EXPECT_EQ(c.arch, "llama");
  EXPECT_EQ(c.dim, 256);
  EXPECT_EQ(c.hidden_dim, 768);
  EXPECT_EQ(c.n_layers, 6);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.q_dim(), 256);
  EXPECT_EQ(c.kv_dim(), 128);
  EXPECT_EQ(c.vocab_size, 4096);
  EXPECT_EQ(c.max_seq_len, 1024);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_FALSE(c.attn_bias);
  EXPECT_FALSE(c.attn_out_bias);
  EXPECT_FALSE(c.mlp_bias);
  EXPECT_EQ(c.rope_layout, RopeLayout::RotateHalf);
  EXPECT_EQ(c.bos_id, 1);
  EXPECT_EQ(c.eos_id, 2);
}

TEST(Config, DefaultsAndOptionalFields) {
  json j = llama_json();
  j.erase("num_key_value_heads");
  j["head_dim"] = 64;
  j["eos_token_id"] = json::array({7, 2});
  j["attention_bias"] = true;
  j["mlp_bias"] = true;
  j["tie_word_embeddings"] = true;
  const ModelConfig c = parse_hf_config(j, "config.json");
  EXPECT_EQ(c.n_kv_heads, 8);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.q_dim(), 512);
  EXPECT_EQ(c.eos_id, 7);
  EXPECT_TRUE(c.attn_bias);
  EXPECT_TRUE(c.attn_out_bias);
  EXPECT_TRUE(c.mlp_bias);
  EXPECT_TRUE(c.tied_embeddings);
  j["head_dim"] = nullptr;  // some configs write null: means dim / heads
  EXPECT_EQ(parse_hf_config(j, "config.json").head_dim, 32);
}

TEST(Config, Qwen2AlwaysHasQkvBiases) {
  json j = llama_json();
  j["model_type"] = "qwen2";
  j["attention_bias"] = false;  // ignored: qwen2 has q/k/v biases regardless
  const ModelConfig c = parse_hf_config(j, "config.json");
  EXPECT_EQ(c.arch, "qwen2");
  EXPECT_TRUE(c.attn_bias);
  EXPECT_FALSE(c.attn_out_bias);
  EXPECT_FALSE(c.mlp_bias);
}

TEST(Config, RopeLayoutKey) {
  json j = llama_json();
  EXPECT_EQ(parse_hf_config(j, "c").rope_layout, RopeLayout::RotateHalf);
  j["rope_layout"] = "interleaved";
  EXPECT_EQ(parse_hf_config(j, "c").rope_layout, RopeLayout::Interleaved);
  j["rope_layout"] = "rotate_half";
  EXPECT_EQ(parse_hf_config(j, "c").rope_layout, RopeLayout::RotateHalf);
  j["rope_layout"] = "sideways";
  EXPECT_ERROR_CONTAINS(parse_hf_config(j, "dir/config.json"), "dir/config.json", "rope_layout");
}

TEST(Config, Mistral) {
  json j = llama_json();
  j["model_type"] = "mistral";
  j["sliding_window"] = 4096;
  const ModelConfig c = parse_hf_config(j, "config.json");
  EXPECT_EQ(c.arch, "mistral");
  EXPECT_FALSE(c.attn_bias);
}

TEST(Config, ErrorsNameTheSource) {
  auto bad = [](auto edit, const std::string& expect) {
    json j = llama_json();
    edit(j);
    EXPECT_ERROR_CONTAINS(parse_hf_config(j, "dir/config.json"), "dir/config.json", expect);
  };
  bad([](json& j) { j["model_type"] = "gpt2"; }, "unsupported model_type \"gpt2\"");
  bad([](json& j) { j.erase("model_type"); }, "model_type");
  bad([](json& j) { j.erase("hidden_size"); }, "missing \"hidden_size\"");
  bad([](json& j) { j["hidden_size"] = "256"; }, "hidden_size");
  bad([](json& j) { j["num_key_value_heads"] = 3; }, "not a multiple of 3");
  bad([](json& j) { j["num_attention_heads"] = 7; }, "not a multiple of num_attention_heads 7");
  bad([](json& j) { j["num_hidden_layers"] = 0; }, "number of layers must be positive");
  bad([](json& j) { j["vocab_size"] = -1; }, "vocab size must be positive");
  bad([](json& j) { j["rms_norm_eps"] = 0; }, "epsilon");
  bad([](json& j) { j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}}; }, "rope_scaling");
  bad([](json& j) { j["hidden_act"] = "gelu"; }, "hidden_act");
  bad([](json& j) { j["eos_token_id"] = 5000; }, "eos token id 5000");
}

TEST(Config, LoadHfConfigFromFile) {
  testing_io::ScratchDir dir;
  const std::string path = dir.file("config.json");
  testing_io::write_bytes(path, llama_json().dump());
  EXPECT_EQ(load_hf_config(path).dim, 256);
  testing_io::write_bytes(path, "{ not json");
  EXPECT_ERROR_CONTAINS(load_hf_config(path), path, "invalid JSON");
  EXPECT_ERROR_CONTAINS(load_hf_config(dir.file("nope.json")), dir.file("nope.json"));
}

}  // namespace
}  // namespace sqz

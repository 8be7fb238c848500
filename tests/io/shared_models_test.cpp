// Integration checks against the real checkpoints in ../shared (skipped when it is absent).
#include <gtest/gtest.h>

#include <filesystem>

#include "io/checkpoint.h"

namespace sqz {
namespace {

const std::string kShared = SQZ_SOURCE_DIR "/../shared/models";

TEST(SharedModels, Books6mHfDirectory) {
  const std::string path = kShared + "/books-6m";
  if (!std::filesystem::exists(path + "/config.json")) GTEST_SKIP() << path << " not present";
  auto ck = open_checkpoint(path);
  const ModelConfig& c = ck->config;
  EXPECT_EQ(ck->format, CheckpointFormat::HfDir);
  EXPECT_EQ(c.arch, "llama");
  EXPECT_EQ(c.dim, 256);
  EXPECT_EQ(c.n_layers, 6);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.hidden_dim, 768);
  EXPECT_EQ(c.vocab_size, 4096);
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_EQ(c.rope_layout, RopeLayout::RotateHalf);
  EXPECT_EQ(ck->require("lm_head.weight", {4096, 256}).dtype, DType::F16);
  EXPECT_EQ(ck->require("model.layers.5.mlp.down_proj.weight").shape, (Shape{256, 768}));
  EXPECT_EQ(ck->file_bytes(), std::filesystem::file_size(path + "/model.safetensors"));
}

TEST(SharedModels, Stories260kLlama2c) {
  const std::string path = kShared + "/stories260K/stories260K.bin";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not present";
  auto ck = open_checkpoint(path);
  const ModelConfig& c = ck->config;
  EXPECT_EQ(ck->format, CheckpointFormat::Llama2c);
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.n_layers, 5);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.hidden_dim, 172);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.max_seq_len, 512);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_EQ(c.rope_layout, RopeLayout::Interleaved);
  EXPECT_EQ(ck->find("lm_head.weight"), nullptr);
  EXPECT_EQ(ck->require("model.layers.4.self_attn.k_proj.weight").shape, (Shape{32, 64}));
}

}  // namespace
}  // namespace sqz

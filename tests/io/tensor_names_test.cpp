#include "io/tensor_names.h"

#include <gtest/gtest.h>

#include "io/checkpoint.h"

namespace sqz {
namespace {

// The names are facts of the Hugging Face and llama.cpp formats: spelled out here independently of the table.
TEST(TensorNames, HfNamesOfALayer) {
  std::vector<std::string> names;
  for (int s = 0; s < kNumSlots; ++s) names.push_back(linear_name(3, s));
  EXPECT_EQ(names, (std::vector<std::string>{"model.layers.3.self_attn.q_proj", "model.layers.3.self_attn.k_proj",
                                             "model.layers.3.self_attn.v_proj", "model.layers.3.self_attn.o_proj",
                                             "model.layers.3.mlp.gate_proj", "model.layers.3.mlp.up_proj",
                                             "model.layers.3.mlp.down_proj"}));
  EXPECT_EQ(norm_name(3, kAttnNorm), "model.layers.3.input_layernorm.weight");
  EXPECT_EQ(norm_name(3, kFfnNorm), "model.layers.3.post_attention_layernorm.weight");
}

TEST(TensorNames, ShapesInputsAndBiasesFollowTheConfig) {
  ModelConfig c;
  c.dim = 64, c.hidden_dim = 96, c.n_heads = 4, c.n_kv_heads = 2, c.head_dim = 24;  // q_dim 96, kv_dim 48
  c.attn_bias = true;
  const std::vector<Shape> want = {{96, 64}, {48, 64}, {48, 64}, {64, 96}, {96, 64}, {96, 64}, {64, 96}};
  for (int s = 0; s < kNumSlots; ++s) {
    EXPECT_EQ(linear_shape(c, s), want[(size_t)s]) << slot_name(s);
    EXPECT_EQ(linear_has_bias(c, s), s <= kV) << slot_name(s);
    EXPECT_EQ(linear_input_dim(c, slot_input(s)), want[(size_t)s][1]) << slot_name(s);
  }
  EXPECT_EQ(slot_input(kK), LinearInput::Attn);
  EXPECT_EQ(slot_input(kO), LinearInput::AttnOut);
  EXPECT_EQ(slot_input(kUp), LinearInput::Mlp);
  EXPECT_EQ(slot_input(kDown), LinearInput::MlpDown);
  EXPECT_STREQ(linear_input_name(LinearInput::AttnOut), "attn_out");
  EXPECT_STREQ(linear_input_name(LinearInput::MlpDown), "mlp_down");
  c.attn_bias = false, c.attn_out_bias = true, c.mlp_bias = true;
  for (int s = 0; s < kNumSlots; ++s) EXPECT_EQ(linear_has_bias(c, s), s >= kO) << slot_name(s);
}

TEST(TensorNames, GgufMapBothWays) {
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output_norm.weight", "model.norm.weight"},
      {"output.weight", "lm_head.weight"},
      {"blk.0.attn_norm.weight", "model.layers.0.input_layernorm.weight"},
      {"blk.12.ffn_norm.weight", "model.layers.12.post_attention_layernorm.weight"},
      {"blk.1.attn_q.weight", "model.layers.1.self_attn.q_proj.weight"},
      {"blk.1.attn_q.bias", "model.layers.1.self_attn.q_proj.bias"},
      {"blk.1.attn_k.weight", "model.layers.1.self_attn.k_proj.weight"},
      {"blk.1.attn_v.bias", "model.layers.1.self_attn.v_proj.bias"},
      {"blk.2.attn_output.weight", "model.layers.2.self_attn.o_proj.weight"},
      {"blk.3.ffn_gate.weight", "model.layers.3.mlp.gate_proj.weight"},
      {"blk.3.ffn_up.weight", "model.layers.3.mlp.up_proj.weight"},
      {"blk.3.ffn_down.weight", "model.layers.3.mlp.down_proj.weight"},
  };
  for (const auto& [gguf, hf] : pairs) {
    EXPECT_EQ(hf_name_of_gguf(gguf), hf) << gguf;
    EXPECT_EQ(gguf_name_of_hf(hf), gguf) << hf;
  }
  for (const char* unused : {"rope_freqs.weight", "blk.x.attn_q.weight", "blk..attn_q.weight", "blk.0.attn_q",
                             "blk.0.attn_qkv.weight", "blk.0.attn_q.weight.extra"})
    EXPECT_EQ(hf_name_of_gguf(unused), std::nullopt) << unused;
  for (const char* unknown : {"model.layers.0.self_attn.rotary_emb.inv_freq", "model.layers.a.mlp.up_proj.weight"})
    EXPECT_EQ(gguf_name_of_hf(unknown), std::nullopt) << unknown;
}

// llama2.c's run.c reads rms_att, wq, wk, wv, wo, rms_ffn, w1 (gate), w2 (down), w3 (up) in this order.
TEST(TensorNames, Llama2cLayerArraysInFileOrder) {
  ModelConfig c;
  c.dim = 16, c.hidden_dim = 40, c.n_heads = 2, c.n_kv_heads = 1, c.head_dim = 8;
  std::vector<std::string> names;
  std::vector<Shape> shapes;
  for (const NamedShape& a : llama2c_layer_arrays(c)) names.push_back(a.name), shapes.push_back(a.shape);
  EXPECT_EQ(names, (std::vector<std::string>{"input_layernorm.weight", "self_attn.q_proj.weight",
                                             "self_attn.k_proj.weight", "self_attn.v_proj.weight",
                                             "self_attn.o_proj.weight", "post_attention_layernorm.weight",
                                             "mlp.gate_proj.weight", "mlp.down_proj.weight", "mlp.up_proj.weight"}));
  EXPECT_EQ(shapes, (std::vector<Shape>{{16}, {16, 16}, {8, 16}, {8, 16}, {16, 16}, {16}, {40, 16}, {16, 40}, {40, 16}}));
}

}  // namespace
}  // namespace sqz

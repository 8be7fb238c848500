#include "support/tiny_checkpoint.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/rng.h"
#include "io/checkpoint.h"
#include "io_test_util.h"

namespace sqz {
namespace {

TEST(TinyModel, WeightsCoverConfig) {
  ModelConfig c;
  c.dim = 16, c.hidden_dim = 24, c.n_layers = 3, c.n_heads = 2, c.n_kv_heads = 1, c.head_dim = 8, c.vocab_size = 10;
  EXPECT_EQ(tiny_model_weights(c, 1).size(), 2u + 1 + 3 * 9);
  c.tied_embeddings = true;
  c.attn_bias = true;
  EXPECT_EQ(tiny_model_weights(c, 1).size(), 2u + 3 * 12);
}

// Rotates x (one head) by RoPE at position `pos`, pairing (i, i + d/2) or (2i, 2i + 1).
std::vector<float> rope(const std::vector<float>& x, int pos, bool interleaved) {
  const int d = (int)x.size();
  std::vector<float> y(x);
  for (int i = 0; i < d / 2; ++i) {
    const double a = pos * std::pow(10000.0, -2.0 * i / d);
    const int p = interleaved ? 2 * i : i, q = interleaved ? 2 * i + 1 : i + d / 2;
    y[p] = (float)(x[p] * std::cos(a) - x[q] * std::sin(a));
    y[q] = (float)(x[p] * std::sin(a) + x[q] * std::cos(a));
  }
  return y;
}

// The permutation is what makes interleaved RoPE on the converted weights equal rotate-half RoPE on the
// HF weights: rope_interleaved(P x) = P rope_half(x). This is why GGUF/llama2.c files need Interleaved.
TEST(TinyModel, PermutationMatchesRopeLayouts) {
  const int heads = 3, hd = 8;
  const std::vector<float> x = random_normal(heads * hd, 5, 1.0f);
  const std::vector<float> px = permute_rows_for_interleaved_rope(x, heads, hd, 1);
  for (int pos : {0, 1, 7}) {
    for (int h = 0; h < heads; ++h) {
      const std::vector<float> xh(x.begin() + h * hd, x.begin() + (h + 1) * hd);
      const std::vector<float> pxh(px.begin() + h * hd, px.begin() + (h + 1) * hd);
      const std::vector<float> want = permute_rows_for_interleaved_rope(rope(xh, pos, false), 1, hd, 1);
      const std::vector<float> got = rope(pxh, pos, true);
      for (int i = 0; i < hd; ++i) EXPECT_NEAR(got[i], want[i], 1e-5f);
    }
  }
}

TEST(TinyModel, HfConfigJsonRoundTrips) {
  ModelConfig c;
  c.arch = "mistral";
  c.dim = 64, c.hidden_dim = 96, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2, c.head_dim = 32;
  c.vocab_size = 100, c.max_seq_len = 77, c.rope_theta = 1e6f, c.norm_eps = 1e-6f, c.tied_embeddings = true;
  c.bos_id = 0, c.eos_id = 5;
  const ModelConfig p = parse_hf_config(to_hf_config(c), "x");
  EXPECT_EQ(p.arch, "mistral");
  EXPECT_EQ(p.head_dim, 32);
  EXPECT_EQ(p.q_dim(), 128);
  EXPECT_EQ(p.max_seq_len, 77);
  EXPECT_FLOAT_EQ(p.rope_theta, 1e6f);
  EXPECT_FLOAT_EQ(p.norm_eps, 1e-6f);
  EXPECT_TRUE(p.tied_embeddings);
  EXPECT_EQ(p.bos_id, 0);
  EXPECT_EQ(p.eos_id, 5);
}

}  // namespace
}  // namespace sqz

#include <gtest/gtest.h>

#include <cmath>

#include "core/half.h"
#include "model/dense_linear.h"
#include "support/tiny_model.h"

using namespace sqz;

// Decoding one token at a time with the KV cache must reproduce the full-sequence (prefill) logits.
TEST(Llama, DecodeWithCacheEqualsFullSequence) {
  for (bool tied : {false, true}) {
    ModelConfig c = tiny_config();
    c.tied_embeddings = tied;
    auto m = make_random_model(c, 42);
    const std::vector<int> toks = {1, 5, 9, 13, 2, 60, 33, 7, 7, 0};
    const int n = (int)toks.size(), V = c.vocab_size;
    KVCache full(c, n), inc(c, n);
    std::vector<float> all((size_t)n * V), one(V);
    m->forward(toks.data(), n, full, all.data(), true);
    // Prefill half, then decode the rest.
    m->forward(toks.data(), 4, inc, one.data(), false);
    for (int j = 0; j < V; ++j) EXPECT_NEAR(one[j], all[3 * V + j], 1e-4);
    for (int t = 4; t < n; ++t) {
      m->forward(&toks[t], 1, inc, one.data(), false);
      for (int j = 0; j < V; ++j) EXPECT_NEAR(one[j], all[(size_t)t * V + j], 1e-4) << "t=" << t;
    }
  }
}

TEST(Llama, DenseLinearF16MatchesF32) {
  const int out = 37, in = 29, n = 5;
  auto w = random_normal(out * in, 9, 0.3f);
  std::vector<uint16_t> h(w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    h[i] = f32_to_fp16(w[i]);
    w[i] = fp16_to_f32(h[i]);
  }
  TensorView hv{DType::F16, {out, in}, h.data(), h.size() * 2, "mem"};
  DenseLinear lf16(hv), lf32(w, out, in);
  auto x = random_normal(n * in, 10, 1.0f);
  std::vector<float> y1(n * out), y2(n * out), y3(out);
  lf16.forward(x.data(), n, y1.data());
  lf32.forward(x.data(), n, y2.data());
  lf16.forward(x.data(), 1, y3.data());  // GEMV path
  for (int i = 0; i < n * out; ++i) EXPECT_NEAR(y1[i], y2[i], 1e-5);
  for (int i = 0; i < out; ++i) EXPECT_NEAR(y3[i], y2[i], 1e-5);
}

// The GPU engine (model/cuda_engine.h) against LlamaModel::forward on tiny random models: dense, LUT 3-bit
// with a CSR part, 4-bit groups and W8A8; both RoPE pairings, tied and untied heads, grouped-query
// attention; batched prefill, then token-by-token decode from the cache; the captured decode step against
// direct launches. Skipped with the reason when no CUDA device is present.
//
// Tolerance: the CPU model's dense weights are rounded to fp16 first (the GPU holds fp16), so what differs
// is the fp16 rounding of every linear input (2^-12 relative) and the fp32 accumulation order:
// |logit_gpu - logit_cpu| <= 1e-2 * max |logit_cpu| over the vocabulary of that position.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/half.h"
#include "cuda_test_util.h"
#include "model/cuda_engine.h"
#include "model/dense_linear.h"
#include "support/tiny_model.h"

namespace {

using namespace sqz;

class CudaEngine : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = cuda_unavailable_reason();
    if (!why.empty()) GTEST_SKIP() << why;
  }
};

void round_dense_to_f16(LlamaModel& m) {
  for (auto& L : m.layers())
    for (auto& slot : L.linear) {
      std::vector<float> w = slot->dequantize();
      for (auto& x : w) x = fp16_to_f32(f32_to_fp16(x));
      std::vector<float> b = slot->bias();
      const int64_t out = slot->out_features(), in = slot->in_features();
      slot = std::make_unique<DenseLinear>(std::move(w), out, in);
      slot->set_bias(std::move(b));
    }
}

void expect_logits_close(const float* gpu, const float* cpu, int64_t n, int64_t vocab, const std::string& what) {
  for (int64_t t = 0; t < n; ++t) {
    float mx = 0;
    for (int64_t j = 0; j < vocab; ++j) mx = std::max(mx, std::fabs(cpu[t * vocab + j]));
    const float lim = 1e-2f * mx + 1e-5f;
    int bad = 0;
    for (int64_t j = 0; j < vocab; ++j) {
      const float d = std::fabs(gpu[t * vocab + j] - cpu[t * vocab + j]);
      if (!(d <= lim) && ++bad <= 3)
        ADD_FAILURE() << what << " position " << t << " logit " << j << ": " << gpu[t * vocab + j] << " vs "
                      << cpu[t * vocab + j] << " (limit " << lim << ")";
    }
    EXPECT_EQ(bad, 0) << what << " position " << t;
  }
}

// Prefill of 7 tokens (all logits), then 3 decode steps, CPU and GPU side by side.
void compare(const LlamaModel& cpu, const std::string& what) {
  const ModelConfig& c = cpu.config();
  const int64_t V = c.vocab_size;
  CudaLlama gpu(cpu, 16);
  const std::vector<int> toks = {1, 4, 8, 15, 16, 23, 42};
  KVCache cache(c, 16);
  std::vector<float> lc((size_t)(toks.size() * V)), lg(lc.size());
  cpu.forward(toks.data(), (int64_t)toks.size(), cache, lc.data(), true);
  gpu.forward(toks.data(), (int64_t)toks.size(), lg.data(), true);
  expect_logits_close(lg.data(), lc.data(), (int64_t)toks.size(), V, what + " prefill");
  for (int next : {3, 9, 27}) {
    std::vector<float> a((size_t)V), b((size_t)V);
    cpu.forward(&next, 1, cache, a.data(), false);
    gpu.forward(&next, 1, b.data(), false);
    expect_logits_close(b.data(), a.data(), 1, V, what + " decode at " + std::to_string(gpu.len() - 1));
  }
  EXPECT_EQ(gpu.len(), 10);
  EXPECT_TRUE(gpu.fallbacks().empty()) << what << ": " << gpu.fallbacks().front();
}

ModelConfig config(bool tied, RopeLayout layout) {
  ModelConfig c = tiny_config();
  c.tied_embeddings = tied;
  c.rope_layout = layout;
  return c;
}

TEST_F(CudaEngine, DenseModelMatchesCpu) {
  for (bool tied : {false, true})
    for (RopeLayout layout : {RopeLayout::RotateHalf, RopeLayout::Interleaved}) {
      auto m = make_random_model(config(tied, layout), 7);
      round_dense_to_f16(*m);
      compare(*m, std::string("dense") + (tied ? " tied" : "") +
                      (layout == RopeLayout::Interleaved ? " interleaved" : " rotate-half"));
    }
}

TEST_F(CudaEngine, QuantizedModelsMatchCpu) {
  struct Case {
    const char* format;
    nlohmann::json params;
    int64_t csr_stride;
  };
  const Case cases[] = {{"lut", {{"bits", 3}}, 11},
                        {"lut", {{"bits", 4}}, 0},
                        {"group", {{"bits", 4}, {"group_size", 32}}, 0},
                        {"w8a8", {{"act_quant", "per_token"}}, 0}};
  for (const Case& k : cases) {
    auto m = make_random_model(config(false, RopeLayout::RotateHalf), 9);
    cuda_test::EncodedStore st;
    cuda_test::encode_linears(*m, k.format, k.params, st, k.csr_stride);
    compare(*m, std::string(k.format) + " " + k.params.dump());
  }
}

TEST_F(CudaEngine, MoreTokensThanOneFusedPassUseTheGemmPath) {
  ModelConfig c = config(false, RopeLayout::RotateHalf);
  auto m = make_random_model(c, 13);
  cuda_test::EncodedStore st;
  cuda_test::encode_linears(*m, "lut", {{"bits", 3}}, st, 7);
  const int64_t n = 100, V = c.vocab_size;
  std::vector<int> toks((size_t)n);
  for (int64_t i = 0; i < n; ++i) toks[(size_t)i] = (int)((i * 7 + 3) % V);
  KVCache cache(c, n);
  std::vector<float> lc((size_t)(n * V)), lg(lc.size());
  m->forward(toks.data(), n, cache, lc.data(), true);
  CudaLlama gpu(*m, n);
  gpu.forward_window(toks.data(), n, lg.data());
  // Dequantize + cuBLAS rounds W + S to fp16 once more (the CSR values are added in fp32 first).
  expect_logits_close(lg.data(), lc.data(), n, V, "lut3+csr, 100 tokens");
}

TEST_F(CudaEngine, BenchReportsAndGraphDecodeIsRepeatable) {
  auto m = make_random_model(config(false, RopeLayout::RotateHalf), 17);
  cuda_test::EncodedStore st;
  cuda_test::encode_linears(*m, "lut", {{"bits", 3}}, st, 0);
  CudaLlama gpu(*m, 64);
  const CudaBenchResult r = gpu.bench(8, 16, 2, 1);
  EXPECT_GT(r.prefill_tokens_per_s, 0);
  EXPECT_GT(r.decode_tokens_per_s, 0);
  EXPECT_GT(r.decode_bytes_per_token, 0u);
  // The captured step replayed chooses what direct launches choose.
  const std::vector<int> prompt = {1, 5, 9};
  std::vector<float> logits((size_t)m->config().vocab_size);
  std::vector<std::vector<int>> runs;
  for (bool graph : {true, false}) {
    gpu.clear();
    gpu.forward(prompt.data(), 3, logits.data(), false);
    runs.push_back(gpu.greedy_decode(2, 20, graph).tokens);
    EXPECT_EQ(gpu.len(), 23);
  }
  EXPECT_EQ(runs[0], runs[1]);
  // And the CPU model's first greedy choice after the same prompt and token.
  KVCache cache(m->config(), 8);
  std::vector<float> lc((size_t)m->config().vocab_size);
  m->forward(prompt.data(), 3, cache, lc.data(), false);
  const int two = 2;
  m->forward(&two, 1, cache, lc.data(), false);
  std::vector<float> sorted = lc;
  std::sort(sorted.begin(), sorted.end());
  if (sorted.end()[-1] - sorted.end()[-2] > 0.05f * std::fabs(sorted.end()[-1]))  // a clear winner
    EXPECT_EQ(runs[0][0], (int)(std::max_element(lc.begin(), lc.end()) - lc.begin()));
}

}  // namespace

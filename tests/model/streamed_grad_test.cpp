// loss_and_streamed_grad (one layer's gradient buffer at a time, used by calibration) against
// loss_and_grad (whole-model Gradients, itself checked against finite differences in backward_test.cpp):
// the same loss and bit-identical gradients, delivered head first, then layers last to first.
#include <gtest/gtest.h>

#include <cstring>

#include "model/backward.h"
#include "support/tiny_model.h"

using namespace sqz;

namespace {

template <typename T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

template <typename T>
struct RecordingSink final : GradientSink<T> {
  std::vector<typename Gradients<T>::Layer> layers;  // copies, indexed by layer
  std::vector<int> order;
  std::vector<T> lm_head, final_norm;
  bool head_first = false;
  explicit RecordingSink(int n_layers) : layers((size_t)n_layers) {}
  void head(const std::vector<T>& lm, const std::vector<T>& fn) override {
    head_first = order.empty();
    lm_head = lm;
    final_norm = fn;
  }
  void layer(int l, const typename Gradients<T>::Layer& g) override {
    order.push_back(l);
    layers[(size_t)l] = g;
  }
};

template <typename T>
void check_streamed_equals_whole(const ModelConfig& c, bool with_biases) {
  auto model = make_random_model(c, 21);
  auto w = DenseWeights<T>::from_model(*model);
  if (with_biases)  // every linear gets a bias, so each accumulating bias gradient is exercised
    for (auto& L : w.layers)
      for (int s = 0; s < kNumSlots; ++s) {
        L.bias[s].resize(L.W[s].size() / (s == 6 ? (size_t)c.hidden_dim : s == 3 ? (size_t)c.q_dim() : (size_t)c.dim));
        for (size_t o = 0; o < L.bias[s].size(); ++o) L.bias[s][o] = (T)(0.01 * (double)((o * 7 + s) % 11) - 0.05);
      }
  const std::vector<int> toks = {1, 7, 3, 60, 22, 9, 9, 41, 0, 17, 5, 2};
  Gradients<T> whole(w);
  const double l_whole = loss_and_grad<T>(w, toks.data(), (int64_t)toks.size(), &whole);
  // Twice through the same sink: the reused per-layer buffer must be re-zeroed for every layer and pass.
  RecordingSink<T> sink(c.n_layers);
  loss_and_streamed_grad<T>(w, toks.data(), (int64_t)toks.size(), sink);
  sink.order.clear();
  const double l_streamed = loss_and_streamed_grad<T>(w, toks.data(), (int64_t)toks.size(), sink);
  EXPECT_EQ(l_whole, l_streamed);
  EXPECT_TRUE(sink.head_first);
  std::vector<int> want_order;
  for (int l = c.n_layers - 1; l >= 0; --l) want_order.push_back(l);
  EXPECT_EQ(sink.order, want_order);
  EXPECT_TRUE(same_bits(sink.lm_head, whole.lm_head));
  EXPECT_TRUE(same_bits(sink.final_norm, whole.final_norm));
  for (int l = 0; l < c.n_layers; ++l) {
    const auto &a = sink.layers[(size_t)l], &b = whole.layers[(size_t)l];
    EXPECT_TRUE(same_bits(a.attn_norm, b.attn_norm)) << "layer " << l;
    EXPECT_TRUE(same_bits(a.ffn_norm, b.ffn_norm)) << "layer " << l;
    for (int s = 0; s < kNumSlots; ++s) {
      EXPECT_TRUE(same_bits(a.W[s], b.W[s])) << "layer " << l << " linear " << s;
      EXPECT_TRUE(same_bits(a.bias[s], b.bias[s])) << "layer " << l << " bias " << s;
    }
  }
}

}  // namespace

TEST(StreamedGrad, BitIdenticalToWholeModelGradientsFloat) { check_streamed_equals_whole<float>(tiny_config(), false); }
TEST(StreamedGrad, BitIdenticalToWholeModelGradientsDouble) { check_streamed_equals_whole<double>(tiny_config(), false); }
// Bias gradients accumulate, so they depend on the per-layer re-zeroing of the reused buffer.
TEST(StreamedGrad, BitIdenticalWithBiases) { check_streamed_equals_whole<float>(tiny_config(), true); }

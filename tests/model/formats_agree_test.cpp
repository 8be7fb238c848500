// The same tiny model written as a Hugging Face directory (rotate-half RoPE), a GGUF file and a llama2.c
// file (both with llama.cpp's interleaved q/k permutation) must give the same logits: this ties the three
// loaders and both RoPE layouts together.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "support/tiny_checkpoint.h"
#include "model/llama.h"
#include "support/tiny_model.h"

namespace fs = std::filesystem;
using namespace sqz;

namespace {
std::vector<float> logits_of(const std::string& path) {
  auto m = load_model(path);
  const std::vector<int> toks = {1, 4, 8, 15, 16, 23, 42};
  KVCache cache(m->config(), (int64_t)toks.size());
  std::vector<float> out((size_t)m->config().vocab_size * toks.size());
  m->forward(toks.data(), (int64_t)toks.size(), cache, out.data(), true);
  return out;
}
}  // namespace

TEST(FormatsAgree, HfGgufAndLlama2cGiveTheSameLogits) {
  const fs::path d = fs::temp_directory_path() / ("sqz_fmt_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  for (bool tied : {false, true}) {
    ModelConfig c = tiny_config();
    c.tied_embeddings = tied;
    const std::string hf = (d / (tied ? "hf_t" : "hf")).string();
    const std::string gguf = (d / (tied ? "m_t.gguf" : "m.gguf")).string();
    const std::string l2c = (d / (tied ? "m_t.bin" : "m.bin")).string();
    write_tiny_hf_model(hf, c, 9, DType::F32);
    write_tiny_gguf(gguf, c, 9, "F32");
    write_tiny_llama2c(l2c, c, 9);
    const auto a = logits_of(hf), b = logits_of(gguf), e = logits_of(l2c);
    ASSERT_EQ(a.size(), b.size());
    ASSERT_EQ(a.size(), e.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_NEAR(a[i], b[i], 1e-4 * (1 + std::fabs(a[i]))) << i;
      EXPECT_NEAR(a[i], e[i], 1e-4 * (1 + std::fabs(a[i]))) << i;
    }
  }
  fs::remove_all(d);
}

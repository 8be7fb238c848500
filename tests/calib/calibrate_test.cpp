// Calibration statistics against slow references on a tiny random model.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <cstring>

#include "calib/calibrate.h"
#include "calib/stats.h"
#include "core/error.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "support/tiny_checkpoint.h"
#include "model/backward.h"
#include "support/tiny_model.h"

namespace fs = std::filesystem;
using namespace sqz;

namespace {

struct TempDir {
  fs::path p;
  TempDir() {
    p = fs::temp_directory_path() / ("sqz_calib_" + std::to_string(::getpid()) + "_" +
                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(p);
  }
  ~TempDir() { fs::remove_all(p); }
};

std::vector<int> corpus(int n, int vocab) {
  std::vector<int> t((size_t)n);
  for (int i = 0; i < n; ++i) t[(size_t)i] = (i * 7 + i / 3) % vocab;
  return t;
}

}  // namespace

TEST(Calibrate, WindowsAreDeterministicAndInRange) {
  auto a = sample_windows(1000, 64, 50, 7), b = sample_windows(1000, 64, 50, 7), c = sample_windows(1000, 64, 50, 8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  for (auto s : a) EXPECT_TRUE(s >= 0 && s <= 1000 - 64);
  EXPECT_THROW(sample_windows(10, 64, 1, 0), Error);
}

// Fisher = sum over windows of squared per-window gradients (computed here by the double-precision
// backward, itself checked against finite differences); Hessian = (2/N) sum x x^T of the hooked inputs;
// act statistics = per-channel max and mean |x|.
TEST(Calibrate, StatisticsMatchSlowReferences) {
  TempDir dir;
  ModelConfig c = tiny_config();
  auto model = make_random_model(c, 5);
  const std::vector<int> toks = corpus(300, c.vocab_size);
  CalibOptions o;
  o.nsamples = 3;
  o.ctx = 16;
  o.seed = 11;
  o.progress = false;
  const std::string path = (dir.p / "stats.safetensors").string();
  calibrate(*model, toks, o, path);
  CalibStats st(path);

  const auto starts = sample_windows((int64_t)toks.size(), o.ctx, o.nsamples, o.seed);
  auto wd = DenseWeights<double>::from_model(*model);
  Gradients<double> g(wd);
  std::vector<std::vector<double>> fisher_ref(kNumSlots);
  for (int s = 0; s < kNumSlots; ++s) fisher_ref[(size_t)s].assign(wd.layers[1].W[s].size(), 0);
  // Inputs captured through the hook for the Hessian reference.
  std::vector<float> attn_in;
  int64_t rows = 0;
  model->set_input_hook([&](int layer, LinearInput which, const float* X, int64_t n, int64_t d) {
    if (layer == 1 && which == LinearInput::Attn) {
      attn_in.insert(attn_in.end(), X, X + n * d);
      rows += n;
    }
  });
  for (auto s0 : starts) {
    loss_and_grad<double>(wd, toks.data() + s0, o.ctx, &g);
    for (int s = 0; s < kNumSlots; ++s)
      for (size_t k = 0; k < fisher_ref[(size_t)s].size(); ++k) fisher_ref[(size_t)s][k] += g.layers[1].W[s][k] * g.layers[1].W[s][k];
    KVCache cache(c, o.ctx);
    std::vector<float> logits((size_t)c.vocab_size);
    model->forward(toks.data() + s0, o.ctx, cache, logits.data(), false);
  }
  model->set_input_hook(nullptr);
  for (int s = 0; s < kNumSlots; ++s) {
    const TensorView* f = st.fisher(linear_name(1, s) + ".weight");
    ASSERT_NE(f, nullptr);
    const auto fv = to_f32(*f);
    double mx = 0;
    for (double v : fisher_ref[(size_t)s]) mx = std::max(mx, v);
    // fp32 gradients vs the double reference: relative 1e-3 of the largest entry is far above fp32
    // rounding through the network (~1e-6) and far below any real error (a wrong or missing term).
    for (size_t k = 0; k < fv.size(); ++k) EXPECT_NEAR(fv[k], fisher_ref[(size_t)s][k], 1e-3 * mx) << s << " " << k;
  }
  const TensorView* H = st.hessian(1, LinearInput::Attn);
  ASSERT_NE(H, nullptr);
  const int64_t d = c.dim;
  ASSERT_EQ(H->shape, (Shape{d, d}));
  const auto hv = to_f32(*H);
  for (int64_t a = 0; a < d; ++a)
    for (int64_t b = 0; b < d; ++b) {
      double ref = 0;
      for (int64_t t = 0; t < rows; ++t) ref += (double)attn_in[(size_t)(t * d + a)] * attn_in[(size_t)(t * d + b)];
      ref *= 2.0 / (double)rows;
      EXPECT_NEAR(hv[(size_t)(a * d + b)], ref, 1e-5 * (1 + std::fabs(ref)));
    }
  const auto amax = to_f32(*st.act_absmax(1, LinearInput::Attn)), amean = to_f32(*st.act_absmean(1, LinearInput::Attn));
  for (int64_t i = 0; i < d; ++i) {
    double m = 0, s = 0;
    for (int64_t t = 0; t < rows; ++t) {
      m = std::max(m, (double)std::fabs(attn_in[(size_t)(t * d + i)]));
      s += std::fabs(attn_in[(size_t)(t * d + i)]);
    }
    EXPECT_FLOAT_EQ(amax[(size_t)i], (float)m);
    EXPECT_NEAR(amean[(size_t)i], s / (double)rows, 1e-6);
  }
  // Same seed, same file contents, bit for bit.
  const std::string path2 = (dir.p / "stats2.safetensors").string();
  calibrate(*model, toks, o, path2);
  CalibStats st2(path2);
  SafetensorsFile first(path);
  for (const auto& [name, t] : first.tensors()) {
    const TensorView* t2 = st2.fisher(name);
    ASSERT_NE(t2, nullptr) << name;
    EXPECT_EQ(std::memcmp(t.data, t2->data, t.nbytes), 0) << name;
  }
}

TEST(Calibrate, BringYourOwnFisherIsValidated) {
  TempDir dir;
  ModelConfig c = tiny_config();
  write_tiny_hf_model(dir.p.string(), c, 3);
  auto ck = open_checkpoint(dir.p.string());
  auto write_fisher = [&](const std::string& skip, const std::string& bad_shape) {
    SafetensorsWriter w;
    for (int l = 0; l < c.n_layers; ++l)
      for (int s = 0; s < kNumSlots; ++s) {
        const std::string name = linear_name(l, s) + ".weight";
        if (name == skip) continue;
        Shape shape = ck->require(name).shape;
        if (name == bad_shape) shape[1] += 1;
        std::vector<float> v((size_t)shape_numel(shape), 1.0f);
        w.add_f32(name, shape, v);
      }
    const std::string p = (dir.p / "f.safetensors").string();
    w.write(p);
    return p;
  };
  const std::string q0 = "model.layers.0.self_attn.q_proj.weight";
  EXPECT_NO_THROW(CalibStats(write_fisher("", "")).validate_fisher(*ck));
  auto expect_msg = [&](const std::string& path, const std::string& what) {
    try {
      CalibStats(path).validate_fisher(*ck);
      ADD_FAILURE() << "no error for " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("f.safetensors"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(q0), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  expect_msg(write_fisher(q0, ""), "no Fisher tensor");
  expect_msg(write_fisher("", q0), "shape");
  {
    SafetensorsWriter w;
    for (int l = 0; l < c.n_layers; ++l)
      for (int s = 0; s < kNumSlots; ++s) {
        const std::string name = linear_name(l, s) + ".weight";
        std::vector<float> v((size_t)ck->require(name).numel(), 1.0f);
        if (name == q0) v[3] = NAN;
        w.add_f32(name, ck->require(name).shape, v);
      }
    w.write((dir.p / "f.safetensors").string());
    expect_msg((dir.p / "f.safetensors").string(), "finite");
  }
}

TEST(Calibrate, RefusesEvaluationText) {
  TempDir dir;
  const fs::path wiki = dir.p / "wiki.test.raw";
  { std::ofstream(wiki) << "hello"; }
  struct Echo : Tokenizer {
    std::vector<int> encode(const std::string& s, bool) const override { return std::vector<int>(s.size(), 3); }
    std::string decode_token(int, int) const override { return ""; }
    int vocab_size() const override { return 10; }
    int bos_id() const override { return 1; }
    int eos_id() const override { return 2; }
  } tok;
  CalibOptions o;
  o.data = {wiki.string()};
  EXPECT_THROW(load_calibration_tokens(tok, o), Error);
  const fs::path copy = dir.p / "notes.txt", eval = dir.p / "eval.txt";
  { std::ofstream(copy) << "same text"; }
  { std::ofstream(eval) << "same text"; }
  o.data = {copy.string()};
  o.eval_files = {eval.string()};
  EXPECT_THROW(load_calibration_tokens(tok, o), Error);
  o.eval_files = {};
  EXPECT_EQ(load_calibration_tokens(tok, o).size(), 9u);
}

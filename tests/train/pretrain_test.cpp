#include "train/pretrain.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/file_io.h"
#include "core/progress.h"
#include "model/llama.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;
using namespace sqz;

namespace {

// A few KB of varied, repetitive English (made here, so the tests need no data files).
std::string sample_text() {
  static const char* subj[] = {"The cat", "A dog", "The old man", "My sister", "The bird", "Our teacher"};
  static const char* verb[] = {"sees", "likes", "follows", "finds", "paints", "remembers"};
  static const char* obj[] = {"the red house.", "a small boat.", "the green field.", "her new book.",
                              "the quiet river.", "a bright star."};
  std::string t;
  for (int i = 0; i < 900; ++i) t += std::string(subj[i % 6]) + " " + verb[(i / 6) % 6] + " " + obj[(i / 36 + i) % 6] + "\n";
  return t;
}

struct TmpDir {
  fs::path p;
  TmpDir() : p(fs::temp_directory_path() / ("sqz_pretrain_test_" + std::to_string(getpid()) + "_" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    fs::remove_all(p);
    fs::create_directories(p);
  }
  ~TmpDir() { fs::remove_all(p); }
};

train::PretrainOptions tiny_options(const TmpDir& d) {
  const std::string data = (d.p / "text.txt").string();
  write_file_atomic(data, sample_text());
  train::PretrainOptions o;
  o.data = {data};
  o.out_dir = (d.p / "model").string();
  o.dim = 32;
  o.layers = 2;
  o.heads = 2;
  o.vocab = 320;
  o.ctx = 32;
  o.batch = 4;
  o.steps = 60;
  o.lr = 1e-2;
  o.val_windows = 8;
  o.progress = false;
  return o;
}

}  // namespace

TEST(Pretrain, LowersTheHeldOutLossAndWritesALoadableModel) {
  set_quiet(true);
  TmpDir d;
  const train::PretrainOptions o = tiny_options(d);
  const train::PretrainReport r = train::pretrain(o);
  EXPECT_EQ(r.steps, 60);
  EXPECT_LT(r.val_loss, r.initial_val_loss - 1.0) << r.initial_val_loss << " -> " << r.val_loss;
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.model", "tokenizer_config.json"})
    EXPECT_TRUE(fs::exists(fs::path(o.out_dir) / f)) << f;
  EXPECT_FALSE(fs::exists(o.out_dir + ".tmp-" + std::to_string(getpid())));

  // Loaded back through the ordinary loader, the model gives the held-out loss training reported.
  auto model = load_model(o.out_dir);
  EXPECT_EQ(model->config().arch, "llama");
  auto tok = load_tokenizer(*model->checkpoint());
  std::vector<int> ids = tok->encode(read_text_file(o.data[0]), true);
  const int64_t n_val = std::max<int64_t>((int64_t)(ids.size() * o.val_fraction), o.ctx);
  const std::vector<int> val(ids.end() - n_val, ids.end());
  const DenseWeights<float> w = DenseWeights<float>::from_model(*model);
  EXPECT_NEAR(train::mean_loss(w, val, o.ctx, o.val_windows), r.val_loss, 1e-5);

  // The inference forward pass agrees with the training pass on the first window.
  KVCache cache(model->config(), o.ctx);
  std::vector<float> logits((size_t)o.ctx * model->config().vocab_size);
  model->forward(val.data(), o.ctx, cache, logits.data(), true);
  double nll = 0;
  const int V = model->config().vocab_size;
  for (int t = 0; t + 1 < o.ctx; ++t) {
    const float* l = &logits[(size_t)t * V];
    double mx = *std::max_element(l, l + V), s = 0;
    for (int j = 0; j < V; ++j) s += std::exp(l[j] - mx);
    nll += mx + std::log(s) - l[val[(size_t)t + 1]];
  }
  EXPECT_NEAR(nll / (o.ctx - 1), loss_and_grad<float>(w, val.data(), o.ctx, nullptr), 1e-3);
}

TEST(Pretrain, IsDeterministic) {
  set_quiet(true);
  TmpDir d;
  train::PretrainOptions o = tiny_options(d);
  o.steps = 8;
  train::pretrain(o);
  const std::string a = read_text_file(o.out_dir + "/model.safetensors");
  const std::string ta = read_text_file(o.out_dir + "/tokenizer.model");
  o.out_dir = (d.p / "model2").string();
  train::pretrain(o);
  EXPECT_TRUE(a == read_text_file(o.out_dir + "/model.safetensors"));
  EXPECT_TRUE(ta == read_text_file(o.out_dir + "/tokenizer.model"));
  // Another seed, other weights.
  o.seed = 2;
  o.out_dir = (d.p / "model3").string();
  train::pretrain(o);
  EXPECT_FALSE(a == read_text_file(o.out_dir + "/model.safetensors"));
}

TEST(Pretrain, EmbeddingGradientMatchesFiniteDifferences) {
  const ModelConfig c{.dim = 8, .hidden_dim = 16, .n_layers = 1, .n_heads = 2, .n_kv_heads = 2, .head_dim = 4,
                      .vocab_size = 11};
  const DenseWeights<float> wf = train::init_weights(c, 3);
  DenseWeights<double> w;
  auto conv = [](const std::vector<float>& f) { return std::vector<double>(f.begin(), f.end()); };
  w.cfg = c;
  w.embed = conv(wf.embed);
  for (auto& L : wf.layers) {
    DenseWeights<double>::Layer l;
    l.attn_norm = conv(L.attn_norm);
    l.ffn_norm = conv(L.ffn_norm);
    for (int s = 0; s < kNumSlots; ++s) l.W[s] = conv(L.W[s]);
    for (int s = 0; s < kNumSlots; ++s)
      for (auto& x : l.W[s]) x *= 20;  // larger than the 0.02 init, so the loss depends visibly on them
    w.layers.push_back(l);
  }
  w.final_norm = conv(wf.final_norm);
  w.lm_head = conv(wf.lm_head);
  for (auto& x : w.lm_head) x *= 20;
  for (auto& x : w.embed) x *= 20;
  const std::vector<int> toks = {1, 5, 7, 5, 3, 9};
  Gradients<double> g(w);
  g.embed.assign(w.embed.size(), 0);
  loss_and_grad<double>(w, toks.data(), (int64_t)toks.size(), &g);
  for (size_t i : {size_t{5 * 8 + 1}, size_t{7 * 8 + 3}, size_t{1 * 8 + 0}, size_t{2 * 8 + 2}}) {
    DenseWeights<double> p = w, m = w;
    p.embed[i] += 1e-5;
    m.embed[i] -= 1e-5;
    const double fd = (loss_and_grad<double>(p, toks.data(), 6, nullptr) - loss_and_grad<double>(m, toks.data(), 6, nullptr)) / 2e-5;
    EXPECT_NEAR(g.embed[i], fd, 1e-7 + 1e-5 * std::abs(fd)) << i;
  }
}

TEST(Pretrain, BadInputsGiveClearErrors) {
  set_quiet(true);
  TmpDir d;
  train::PretrainOptions o = tiny_options(d);
  auto message = [](const train::PretrainOptions& opt) {
    try {
      train::pretrain(opt);
    } catch (const UsageError& e) {
      return std::string("usage: ") + e.what();
    } catch (const Error& e) {
      return std::string("error: ") + e.what();
    }
    return std::string("no error");
  };
  train::PretrainOptions b = o;
  b.data = {(d.p / "missing.txt").string()};
  EXPECT_NE(message(b).find("missing.txt: training text not found"), std::string::npos) << message(b);
  b = o;
  b.dim = 30;
  b.heads = 4;
  EXPECT_EQ(message(b).rfind("usage: ", 0), 0u);
  b = o;
  b.vocab = 100;
  EXPECT_NE(message(b).find("--vocab"), std::string::npos);
  b = o;
  write_file_atomic((d.p / "empty.txt").string(), "\n\n");
  b.data = {(d.p / "empty.txt").string()};
  EXPECT_NE(message(b).find("empty.txt: training text is empty"), std::string::npos) << message(b);
  b = o;
  fs::create_directories(d.p / "notamodel");
  write_file_atomic((d.p / "notamodel/keep.txt").string(), "x");
  b.out_dir = (d.p / "notamodel").string();
  EXPECT_NE(message(b).find("is not a model directory"), std::string::npos);
  EXPECT_TRUE(fs::exists(d.p / "notamodel/keep.txt"));
}

// Quantization-aware fine-tuning: the stored-parameter gradients (chain rule through each format's
// dequantization) and the distillation loss gradient against central finite differences in double; a
// short run lowers the held-out loss; the written directory reloads to exactly the model training ended
// with; bad inputs give errors naming the file.
#include "train/finetune.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "calib/calibrate.h"
#include "core/error.h"
#include "core/progress.h"
#include "io/checkpoint.h"
#include "support/tiny_checkpoint.h"
#include "model/llama.h"
#include "support/tiny_model.h"
#include "quant/quantizer.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;
using namespace sqz;
using namespace sqz::train;

namespace {

const std::vector<int> kTokens = {1, 7, 3, 60, 22, 9, 9, 41, 0, 17};

struct Fixture {
  fs::path dir;
  ModelConfig cfg;
  std::string model, text, short_text;
  std::map<std::string, std::string> quantized;  // case name -> directory
  Fixture() {
    set_quiet(true);  // the quantizer's per-layer lines
    dir = fs::temp_directory_path() / ("sqz_qat_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir / "model");
    cfg = tiny_config();
    cfg.vocab_size = 96;  // the char tokenizer covers lower-case ASCII
    cfg.tied_embeddings = false;
    model = (dir / "model").string();
    write_tiny_hf_model(model, cfg, 5, DType::F16);
    write_tiny_char_tokenizer((dir / "model" / "tokenizer.bin").string(), cfg.vocab_size);
    // Repetitive text, so a few steps visibly fit it; the held-out tail has the same statistics.
    text = (dir / "train.txt").string();
    std::ofstream t(text);
    for (int i = 0; i < 60; ++i) t << "the cat sat on the mat. a dog ran to the log! ";
    t.close();
    short_text = (dir / "short.txt").string();
    std::ofstream(short_text) << "too short";
    auto ck = std::shared_ptr<const Checkpoint>(open_checkpoint(model));
    LlamaModel m(ck);
    std::vector<int> toks(300);
    for (size_t i = 0; i < toks.size(); ++i) toks[i] = (int)((i * 13 + i / 5) % (size_t)cfg.vocab_size);
    CalibOptions co;
    co.nsamples = 4;
    co.ctx = 32;
    co.progress = false;
    const std::string stats = (dir / "stats.safetensors").string();
    calibrate(m, toks, co, stats);
    auto quantize = [&](const std::string& name, QuantOptions o) {
      o.stats_path = stats;
      o.lm_head = true;  // lm_head's parameters train too
      const std::string out = (dir / name).string();
      quantize_model(model, o, out);
      quantized[name] = out;
    };
    QuantOptions sq;
    sq.method = "squeezellm";
    sq.bits = 3;
    sq.sparsity = 2.0;  // a few sparse entries per matrix
    quantize("squeezellm3", sq);
    QuantOptions rtn;
    rtn.method = "rtn";
    rtn.bits = 3;
    rtn.group_size = 16;
    quantize("rtn3g16", rtn);
    QuantOptions nf4;
    nf4.method = "nf4";
    nf4.bits = 4;
    quantize("nf4", nf4);
    QuantOptions w8;
    w8.method = "smoothquant";
    w8.bits = 8;
    quantize("w8a8", w8);
  }
  ~Fixture() { fs::remove_all(dir); }
};

Fixture& fx() {
  static Fixture f;
  return f;
}

QatModel<float> load_qat(const std::string& path, std::shared_ptr<const Checkpoint>* keep = nullptr) {
  auto ck = std::shared_ptr<const Checkpoint>(open_checkpoint(path));
  LlamaModel m(ck);
  if (keep) *keep = ck;
  return QatModel<float>::load(*ck, m);
}

double loss_of(QatModel<double>& M) {
  M.refresh(false);
  return loss_and_grad<double>(M.dense, kTokens.data(), (int64_t)kTokens.size(), nullptr);
}

// Worst relative error of analytic vs central-difference gradient over a sample of a tensor's entries.
// h = 1e-5 in double: truncation ~h^2 f''' and rounding ~1e-16/h are both far below the 1e-4 tolerance.
double check_param(QatModel<double>& M, TrainTensor<double>& t) {
  const double h = 1e-5;
  double worst = 0;
  const size_t stride = std::max<size_t>(1, t.value.size() / 12);
  for (size_t i = 0; i < t.value.size(); i += stride) {
    const double keep = t.value[i];
    t.value[i] = keep + h;
    const double lp = loss_of(M);
    t.value[i] = keep - h;
    const double lm = loss_of(M);
    t.value[i] = keep;
    const double num = (lp - lm) / (2 * h);
    const double den = std::max({std::fabs(num), std::fabs(t.grad[i]), 1e-6});
    worst = std::max(worst, std::fabs(num - t.grad[i]) / den);
  }
  return worst;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A short training run on the fixture's text (2 held-out windows of 32 tokens).
FinetuneOptions short_run(int steps) {
  FinetuneOptions o;
  o.data = {fx().text};
  o.steps = steps;
  o.ctx = 32;
  o.batch = 2;
  o.lr = 2e-2;
  o.eval_windows = 2;
  o.progress = false;
  return o;
}

}  // namespace

TEST(Finetune, StoredParameterGradientsMatchFiniteDifferences) {
  for (const char* name : {"squeezellm3", "rtn3g16", "nf4"}) {
    QatModel<double> M = load_qat(fx().quantized.at(name)).cast<double>();
    ASSERT_EQ(M.linears.size(), 15u) << name;  // 2 layers x 7 + lm_head
    M.refresh(false);
    Gradients<double> G(M.dense);
    loss_and_grad<double>(M.dense, kTokens.data(), (int64_t)kTokens.size(), &G);
    M.zero_grad();
    M.accumulate_grad(G, 1.0, false);
    int checked = 0;
    for (TrainTensor<double>* t : M.params()) {
      EXPECT_LT(check_param(M, *t), 1e-4) << name << " " << t->name;
      ++checked;
    }
    EXPECT_GE(checked, 15 + 5) << name;
    if (std::string(name) == "squeezellm3") {
      bool has_sparse = false;
      for (auto& L : M.linears) has_sparse |= !L.sparse_values.value.empty();
      EXPECT_TRUE(has_sparse) << "the sparse values' gradient was not exercised";
    }
  }
}

TEST(Finetune, RoundedDequantizationEqualsTheInferencePath) {
  for (const char* name : {"squeezellm3", "rtn3g16", "nf4"}) {
    auto ck = std::shared_ptr<const Checkpoint>(open_checkpoint(fx().quantized.at(name)));
    LlamaModel m(ck);
    QatModel<float> M = QatModel<float>::load(*ck, m);
    const DenseWeights<float> ref = DenseWeights<float>::from_model(m);
    M.refresh(true);
    for (size_t l = 0; l < ref.layers.size(); ++l)
      for (int s = 0; s < kNumSlots; ++s) EXPECT_EQ(M.dense.layers[l].W[s], ref.layers[l].W[s]) << name << " " << l << " " << s;
    EXPECT_EQ(M.dense.lm_head, ref.lm_head) << name;
  }
}

TEST(Finetune, DistillationGradientMatchesFiniteDifferences) {
  ModelConfig c = tiny_config();
  c.tied_embeddings = false;
  auto student = make_random_model(c, 31);
  auto teacher = make_random_model(c, 32);
  auto w = DenseWeights<double>::from_model(*student);
  const int n = (int)kTokens.size(), V = c.vocab_size;
  std::vector<float> tl_f((size_t)n * V);
  KVCache cache(c, n);
  teacher->forward(kTokens.data(), n, cache, tl_f.data(), true);
  const std::vector<double> tl(tl_f.begin(), tl_f.end());
  Gradients<double> g(w);
  const double kl = kd_loss_and_grad<double>(w, kTokens.data(), n, tl.data(), &g);
  EXPECT_GT(kl, 0.0);
  auto check = [&](std::vector<double>& p, const std::vector<double>& a) {
    const double h = 1e-5;
    double worst = 0;
    for (size_t i = 0; i < p.size(); i += std::max<size_t>(1, p.size() / 24)) {
      const double keep = p[i];
      p[i] = keep + h;
      const double lp = kd_loss_and_grad<double>(w, kTokens.data(), n, tl.data(), nullptr);
      p[i] = keep - h;
      const double lm = kd_loss_and_grad<double>(w, kTokens.data(), n, tl.data(), nullptr);
      p[i] = keep;
      const double num = (lp - lm) / (2 * h);
      worst = std::max(worst, std::fabs(num - a[i]) / std::max({std::fabs(num), std::fabs(a[i]), 1e-6}));
    }
    return worst;
  };
  for (size_t l = 0; l < w.layers.size(); ++l) {
    for (int s = 0; s < kNumSlots; ++s) EXPECT_LT(check(w.layers[l].W[s], g.layers[l].W[s]), 1e-4) << l << " " << s;
    EXPECT_LT(check(w.layers[l].attn_norm, g.layers[l].attn_norm), 1e-4);
    EXPECT_LT(check(w.layers[l].ffn_norm, g.layers[l].ffn_norm), 1e-4);
  }
  EXPECT_LT(check(w.final_norm, g.final_norm), 1e-4);
  EXPECT_LT(check(w.lm_head, g.lm_head), 1e-4);

  // KL from one's own distribution is zero, and so is its gradient.
  std::vector<float> own_f((size_t)n * V);
  KVCache c2(c, n);
  student->forward(kTokens.data(), n, c2, own_f.data(), true);
  const std::vector<double> own(own_f.begin(), own_f.end());
  Gradients<double> g0(w);
  EXPECT_NEAR(kd_loss_and_grad<double>(w, kTokens.data(), n, own.data(), &g0), 0.0, 1e-6);
  double gmax = 0;
  for (double x : g0.lm_head) gmax = std::max(gmax, std::fabs(x));
  EXPECT_LT(gmax, 1e-6);
}

TEST(Finetune, ShortRunLowersLossAndTheOutputReloadsToTheTrainedModel) {
  for (const char* name : {"squeezellm3", "rtn3g16"}) {
    const FinetuneOptions o = short_run(40);
    const std::string out = (fx().dir / (std::string(name) + "_ft")).string();
    const FinetuneReport r = finetune_model(fx().quantized.at(name), o, out);
    EXPECT_LT(r.eval_after, r.eval_before - 0.05) << name;
    EXPECT_EQ(r.steps, 40);
    EXPECT_FALSE(fs::exists(out + ".tmp." + std::to_string(::getpid())));

    // The reloaded directory computes exactly the held-out loss training reported for its final,
    // rounded parameters.
    auto ck = std::shared_ptr<const Checkpoint>(open_checkpoint(out));
    ASSERT_TRUE(ck->quantization_config.contains("finetuned")) << name;
    EXPECT_EQ(ck->quantization_config["finetuned"]["steps"], 40);
    LlamaModel m(ck);
    auto tok = load_tokenizer(*ck);
    CalibOptions co;
    co.data = o.data;
    const std::vector<int> ids = load_calibration_tokens(*tok, co);
    const int64_t train_tokens = (int64_t)ids.size() - o.eval_windows * o.ctx;
    std::vector<int64_t> starts;
    for (int64_t w = 0; w < o.eval_windows; ++w) starts.push_back(train_tokens + w * o.ctx);
    const double reloaded = evaluate_loss(DenseWeights<float>::from_model(m), ids, starts, o.ctx, nullptr);
    EXPECT_NEAR(reloaded, r.eval_after, 1e-9 * std::fabs(r.eval_after)) << name;

    // Codes are untouched; the continuous parameters moved.
    auto src = open_checkpoint(fx().quantized.at(name));
    const std::string base = "model.layers.1.mlp.down_proj";
    const TensorView& qa = src->require(base + ".qweight");
    const TensorView& qb = ck->require(base + ".qweight");
    ASSERT_EQ(qa.nbytes, qb.nbytes);
    EXPECT_EQ(std::memcmp(qa.data, qb.data, qa.nbytes), 0);
    const std::string p = std::string(name) == "squeezellm3" ? ".lut" : ".scales";
    const TensorView& pa = src->require(base + p);
    const TensorView& pb = ck->require(base + p);
    EXPECT_EQ(pb.dtype, DType::F16);
    EXPECT_NE(std::memcmp(pa.data, pb.data, pa.nbytes), 0);
    EXPECT_EQ(ck->require("model.norm.weight").dtype, DType::F32);
  }
}

TEST(Finetune, DistillationRunLowersTheKlFromTheTeacher) {
  FinetuneOptions o = short_run(15);
  o.teacher = fx().model;
  const std::string out = (fx().dir / "sq_kd").string();
  const FinetuneReport r = finetune_model(fx().quantized.at("squeezellm3"), o, out);
  EXPECT_EQ(r.objective, "kd");
  EXPECT_GT(r.eval_before, 0.0);
  EXPECT_LT(r.eval_after, r.eval_before);
  auto ck = open_checkpoint(out);
  EXPECT_EQ(ck->quantization_config["finetuned"]["objective"], "kd");
}

TEST(Finetune, BadInputsNameTheFile) {
  FinetuneOptions o;
  o.data = {fx().text};
  o.steps = 1;
  o.ctx = 32;
  o.eval_windows = 1;
  o.progress = false;
  const std::string out = (fx().dir / "bad_out").string();
  // Not a quantized model.
  std::string e = error_of([&] { finetune_model(fx().model, o, out); });
  EXPECT_NE(e.find(fx().model), std::string::npos) << e;
  EXPECT_NE(e.find("not a quantized model"), std::string::npos) << e;
  // W8A8 is refused.
  e = error_of([&] { finetune_model(fx().quantized.at("w8a8"), o, out); });
  EXPECT_NE(e.find("W8A8"), std::string::npos) << e;
  EXPECT_NE(e.find(fx().quantized.at("w8a8")), std::string::npos) << e;
  // A data file that does not exist, and one too short for a window.
  o.data = {(fx().dir / "missing.txt").string()};
  e = error_of([&] { finetune_model(fx().quantized.at("rtn3g16"), o, out); });
  EXPECT_NE(e.find("missing.txt"), std::string::npos) << e;
  o.data = {fx().short_text};
  e = error_of([&] { finetune_model(fx().quantized.at("rtn3g16"), o, out); });
  EXPECT_NE(e.find("short.txt"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(out));
  // Usage problems are UsageErrors (exit code 2).
  o.data = {fx().text};
  o.steps = 0;
  EXPECT_THROW(finetune_model(fx().quantized.at("rtn3g16"), o, out), UsageError);
}

// Integration: sqz's Fisher (calibrate() with fisher only) against an independent PyTorch autograd
// implementation (tests/calib/reference/fisher_torch.py, float64) on the real checkpoints in ../shared,
// over the exact windows sqz's sampler chose. Skipped (with a message) when ../shared is absent or
// /usr/bin/python3 cannot import torch.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "calib/calibrate.h"
#include "calib/stats.h"
#include "core/file_io.h"
#include "io/checkpoint.h"
#include "model/backward.h"
#include "model/llama.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;
using namespace sqz;

namespace {

const fs::path kShared = fs::path(SQZ_SOURCE_DIR) / ".." / "shared";
const fs::path kScript = fs::path(SQZ_SOURCE_DIR) / "tests" / "calib" / "reference" / "fisher_torch.py";

bool python_has_torch() {
  return std::system("/usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1") == 0;
}

struct TempDir {
  fs::path p;
  explicit TempDir(const std::string& tag) {
    p = fs::temp_directory_path() / ("sqz_fisher_torch_" + std::to_string(::getpid()) + "_" + tag);
    fs::create_directories(p);
  }
  ~TempDir() { fs::remove_all(p); }
};

std::vector<double> read_f64(const fs::path& path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path << ": cannot open";
  std::vector<double> v(n);
  in.read(reinterpret_cast<char*>(v.data()), (std::streamsize)(n * sizeof(double)));
  EXPECT_EQ((size_t)in.gcount(), n * sizeof(double)) << path << ": short file";
  return v;
}

// Tolerances. sqz runs the forward and backward in fp32 (OpenBLAS sgemm, fp32 softmax/attention, double
// only in the norms' and the loss's reductions); the reference is float64 on the same (exactly converted)
// weights. Each gradient entry then carries a relative error of a few fp32 ulps times the depth of the
// sums it comes from, and squaring doubles it: the relative L2 error of a Fisher tensor should be ~1e-6
// (measured: at most 1.4e-6 on books-6m, 2.5e-6 on stories260K, 4 x 128 tokens). 1e-4 leaves almost two
// orders of margin (other BLAS kernels, more windows), and is still far below what any real defect gives (a
// wrong RoPE pairing, a missing GQA share, an off-by-one in the scored positions or the 1/(n-1) scale all
// change the gradients by O(1) relative).
constexpr double kFisherRelL2 = 1e-4;
// The loss is a mean over ctx-1 fp32 log-softmaxes: ~1e-6 relative; 1e-4 leaves margin.
constexpr double kLossRel = 1e-4;

void check_fisher(const char* model_rel, int64_t nsamples, int64_t ctx) {
  const fs::path model_path = kShared / "models" / model_rel;
  const fs::path data = kShared / "data" / "calib";
  if (!fs::exists(model_path) || !fs::exists(data))
    GTEST_SKIP() << model_path << " or " << data << " not found (integration data lives in ../shared)";
  if (!python_has_torch()) GTEST_SKIP() << "/usr/bin/python3 cannot import torch and numpy (apt-get install python3-torch python3-numpy)";

  TempDir dir(fs::path(model_rel).stem().string());
  auto ck = std::shared_ptr<const Checkpoint>(open_checkpoint(model_path.string()));
  LlamaModel model(ck);
  auto tok = load_tokenizer(*ck);
  CalibOptions o;
  for (const auto& e : fs::directory_iterator(data))
    if (e.path().extension() == ".txt") o.data.push_back(e.path().string());
  std::sort(o.data.begin(), o.data.end());
  ASSERT_FALSE(o.data.empty()) << data << " has no .txt files";
  o.data.resize(1);  // one novel is plenty for a few windows and keeps tokenization quick
  o.nsamples = nsamples;
  o.ctx = ctx;
  o.seed = 3;
  o.collect = {"fisher"};
  o.progress = false;
  const std::vector<int> tokens = load_calibration_tokens(*tok, o);
  const std::vector<int64_t> starts = sample_windows((int64_t)tokens.size(), ctx, nsamples, o.seed);

  // The windows, exactly as calibrate() will take them.
  const fs::path windows = dir.p / "windows.i32";
  {
    std::ofstream w(windows, std::ios::binary);
    const int32_t head[2] = {(int32_t)nsamples, (int32_t)ctx};
    w.write(reinterpret_cast<const char*>(head), sizeof head);
    for (int64_t s : starts)
      for (int64_t t = 0; t < ctx; ++t) {
        const int32_t id = tokens[(size_t)(s + t)];
        w.write(reinterpret_cast<const char*>(&id), sizeof id);
      }
  }
  const fs::path stats_path = dir.p / "stats.safetensors";
  calibrate(model, tokens, o, stats_path.string());

  const fs::path ref_dir = dir.p / "torch";
  const std::string cmd = "/usr/bin/python3 '" + kScript.string() + "' '" + model_path.string() + "' '" +
                          windows.string() + "' '" + ref_dir.string() + "' 2>'" + (dir.p / "torch.log").string() + "'";
  const int rc = std::system(cmd.c_str());
  ASSERT_EQ(rc, 0) << "reference failed: " << cmd << "\n" << read_text_file((dir.p / "torch.log").string());
  const auto manifest = nlohmann::json::parse(read_text_file((ref_dir / "manifest.json").string()));

  // Per-window losses: sqz's training loss (the one calibrate() differentiates) vs the reference.
  const auto ref_losses = manifest["losses"].get<std::vector<double>>();
  ASSERT_EQ((int64_t)ref_losses.size(), nsamples);
  const auto dw = DenseWeights<float>::from_model(model);
  for (int64_t i = 0; i < nsamples; ++i) {
    const double l = loss_and_grad<float>(dw, tokens.data() + starts[(size_t)i], ctx, nullptr);
    EXPECT_NEAR(l, ref_losses[(size_t)i], kLossRel * std::fabs(ref_losses[(size_t)i])) << "window " << i;
    std::cerr << std::setprecision(9) << "  window " << i << " loss sqz " << l << " torch " << ref_losses[(size_t)i] << "\n";
  }

  CalibStats st(stats_path.string());
  size_t compared = 0;
  double worst = 0;
  std::string worst_name;
  std::map<std::string, double> worst_by_kind;
  for (const auto& [name, info] : manifest["tensors"].items()) {
    const TensorView* f = st.fisher(name);
    ASSERT_NE(f, nullptr) << "sqz wrote no Fisher for " << name;
    const Shape shape = info["shape"].get<Shape>();
    ASSERT_EQ(f->shape, shape) << name;
    const std::vector<float> got = to_f32(*f);
    const std::vector<double> want = read_f64(ref_dir / info["file"].get<std::string>(), got.size());
    double diff2 = 0, ref2 = 0;
    for (size_t k = 0; k < got.size(); ++k) {
      diff2 += ((double)got[k] - want[k]) * ((double)got[k] - want[k]);
      ref2 += want[k] * want[k];
    }
    ASSERT_GT(ref2, 0) << name << ": the reference Fisher is all zero";
    const double rel = std::sqrt(diff2 / ref2);
    EXPECT_LT(rel, kFisherRelL2) << name << ": relative L2 error of the Fisher";
    if (rel > worst) worst = rel, worst_name = name;
    const std::string kind = name.substr(name.find_last_of('.', name.size() - 8) + 1);  // "q_proj.weight", ...
    worst_by_kind[kind] = std::max(worst_by_kind[kind], rel);
    ++compared;
  }
  // Every linear weight sqz wrote must have been checked (7 per layer, plus an untied head).
  const ModelConfig& c = ck->config;
  EXPECT_EQ(compared, (size_t)(7 * c.n_layers + (c.tied_embeddings ? 0 : 1)));
  EXPECT_EQ(st.metadata().at("stats"), "fisher");
  std::cerr << "  " << compared << " Fisher tensors vs torch: max relative L2 error " << worst << " (" << worst_name
            << ")\n";
  for (const auto& [kind, rel] : worst_by_kind) std::cerr << "    " << kind << ": max relative L2 error " << rel << "\n";
}

}  // namespace

// books-6m: HF directory, F16 safetensors, rotate-half RoPE, GQA 8/4, SwiGLU, untied head.
TEST(FisherTorch, BooksSixMillionMatchesAutograd) { check_fisher("books-6m", 4, 128); }

// stories260K: llama2.c v0, interleaved RoPE, GQA 8/4, tied head, vocab 512.
TEST(FisherTorch, Stories260KMatchesAutograd) { check_fisher("stories260K/stories260K.bin", 4, 128); }

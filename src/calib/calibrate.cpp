#include "calib/calibrate.h"

#include <cblas.h>
#include <fmt/format.h>

#include <array>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "calib/stats.h"
#include "core/error.h"
#include "core/mmap.h"
#include "core/progress.h"
#include "io/safetensors.h"
#include "model/backward.h"

namespace fs = std::filesystem;

namespace sqz {

namespace {

// Evaluation text must never be calibrated on: refuse WikiText's test split by name and any file given
// as an evaluation file (by path or by identical contents).
void refuse_eval_text(const std::string& path, const std::string& text, const CalibOptions& opt) {
  const std::string name = fs::path(path).filename().string();
  SQZ_CHECK(name != "wiki.test.raw", "{}: this is WikiText-2's test split, used for evaluation; refusing to calibrate on it",
            path);
  for (const auto& e : opt.eval_files) {
    std::error_code ec;
    if (fs::equivalent(path, e, ec) || (fs::exists(e) && read_text_file(e) == text))
      fail("{}: is the evaluation text {}; refusing to calibrate on it", path, e);
  }
}

std::string file_text(const std::string& path) {
  std::string s = read_text_file(path);
  if (fs::path(path).extension() != ".jsonl") return s;
  std::istringstream in(s);
  std::string line, out;
  int64_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception& e) {
      fail("{}:{}: not valid JSON: {}", path, lineno, e.what());
    }
    SQZ_CHECK(j.is_object() && j.contains("text") && j["text"].is_string(), "{}:{}: no string field \"text\"", path, lineno);
    out += j["text"].get<std::string>();
    out += "\n";
  }
  return out;
}

uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Running sums for one (layer, input): X^T X in double, max |x| and sum |x| per channel.
struct InputStats {
  int64_t dim = 0, rows = 0;
  std::vector<double> xtx;
  std::vector<float> absmax;
  std::vector<double> abssum;
};

}  // namespace

std::vector<int> load_calibration_tokens(const Tokenizer& tok, const CalibOptions& opt) {
  SQZ_CHECK(!opt.data.empty(), "calibration needs at least one --data file");
  std::vector<int> all;
  for (const auto& f : opt.data) {
    const std::string text = file_text(f);
    refuse_eval_text(f, text, opt);
    std::vector<int> ids = tok.encode(text, true);
    all.insert(all.end(), ids.begin(), ids.end());
  }
  return all;
}

std::vector<int64_t> sample_windows(int64_t n_tokens, int64_t ctx, int64_t nsamples, uint64_t seed) {
  SQZ_CHECK(n_tokens >= ctx, "the calibration text has {} tokens, fewer than one window of {}", n_tokens, ctx);
  uint64_t s = seed;
  std::vector<int64_t> starts((size_t)nsamples);
  const uint64_t span = (uint64_t)(n_tokens - ctx + 1);
  for (auto& st : starts) st = (int64_t)(splitmix64(s) % span);
  return starts;
}

CalibReport calibrate(const LlamaModel& model, const std::vector<int>& tokens, const CalibOptions& opt,
                      const std::string& out_path) {
  const ModelConfig& c = model.config();
  SQZ_CHECK(opt.ctx >= 2 && opt.ctx <= c.max_seq_len, "--ctx {} must be in [2, {}] (the model's context)", opt.ctx,
            c.max_seq_len);
  SQZ_CHECK(opt.nsamples >= 1, "--nsamples must be at least 1");
  SQZ_CHECK(opt.fisher || opt.hessian || opt.act, "no statistics requested");
  const std::vector<int64_t> starts = sample_windows((int64_t)tokens.size(), opt.ctx, opt.nsamples, opt.seed);

  // Hessian / activation statistics come from the inference forward pass's linear-input hook.
  std::vector<std::array<InputStats, kNumLinearInputs>> st((size_t)c.n_layers);
  std::vector<double> xd;
  LlamaModel& m = const_cast<LlamaModel&>(model);
  if (opt.hessian || opt.act)
    m.set_input_hook([&](int layer, LinearInput which, const float* X, int64_t n, int64_t d) {
      InputStats& s = st[(size_t)layer][(size_t)which];
      if (s.dim == 0) {
        s.dim = d;
        if (opt.hessian) s.xtx.assign((size_t)(d * d), 0.0);
        s.absmax.assign((size_t)d, 0.f);
        s.abssum.assign((size_t)d, 0.0);
      }
      s.rows += n;
      if (opt.hessian) {
        xd.assign(X, X + n * d);
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)n, 1.0, xd.data(), (int)d, 1.0, s.xtx.data(), (int)d);
      }
      for (int64_t t = 0; t < n; ++t)
        for (int64_t i = 0; i < d; ++i) {
          const float a = std::fabs(X[t * d + i]);
          s.absmax[(size_t)i] = std::max(s.absmax[(size_t)i], a);
          s.abssum[(size_t)i] += a;
        }
    });

  std::unique_ptr<DenseWeights<float>> dw;
  std::unique_ptr<Gradients<float>> grad, fisher;
  if (opt.fisher) {
    dw = std::make_unique<DenseWeights<float>>(DenseWeights<float>::from_model(model));
    grad = std::make_unique<Gradients<float>>(*dw);
    fisher = std::make_unique<Gradients<float>>(*dw);
  }

  CalibReport rep;
  Progress prog("calibrate sample", opt.nsamples, "samples");
  const double t0 = now_seconds();
  KVCache cache(c, opt.ctx);
  std::vector<float> logits((size_t)c.vocab_size);
  double loss_sum = 0;
  for (int64_t i = 0; i < opt.nsamples; ++i) {
    const int* win = tokens.data() + starts[(size_t)i];
    if (opt.hessian || opt.act) {
      cache.clear();
      model.forward(win, opt.ctx, cache, logits.data(), false);
    }
    if (opt.fisher) {
      loss_sum += loss_and_grad<float>(*dw, win, opt.ctx, grad.get());
      auto acc_sq = [](std::vector<float>& f, const std::vector<float>& g) {
        for (size_t k = 0; k < f.size(); ++k) f[k] += g[k] * g[k];
      };
      for (size_t l = 0; l < grad->layers.size(); ++l)
        for (int s = 0; s < 7; ++s) acc_sq(fisher->layers[l].W[s], grad->layers[l].W[s]);
      acc_sq(fisher->lm_head, grad->lm_head);
    }
    rep.tokens += opt.ctx;
    if (opt.progress)
      prog.update(i + 1, fmt::format("{:.0f} tokens/s{}", (double)rep.tokens / (now_seconds() - t0),
                                     opt.fisher ? fmt::format("  loss {:.3f}", loss_sum / (double)(i + 1)) : ""));
  }
  m.set_input_hook(nullptr);
  rep.samples = opt.nsamples;
  rep.corpus_tokens = (int64_t)tokens.size();

  SafetensorsWriter out;
  if (opt.fisher) {
    for (int l = 0; l < c.n_layers; ++l) {
      const LayerWeights& L = model.layers()[(size_t)l];
      const auto lins = L.linears();
      const auto names = layer_linear_names(l);
      for (int s = 0; s < 7; ++s)
        out.add_f32(names[(size_t)s] + ".weight", {lins[(size_t)s]->out_features(), lins[(size_t)s]->in_features()},
                    fisher->layers[(size_t)l].W[s]);
    }
    if (!c.tied_embeddings) out.add_f32("lm_head.weight", {c.vocab_size, c.dim}, fisher->lm_head);
  }
  for (int l = 0; l < c.n_layers; ++l)
    for (int k = 0; k < kNumLinearInputs; ++k) {
      const InputStats& s = st[(size_t)l][(size_t)k];
      if (s.dim == 0) continue;
      const std::string base = stats_input_name(l, (LinearInput)k);
      const int64_t d = s.dim;
      if (opt.hessian) {
        std::vector<float> H((size_t)(d * d));
        const double scale = 2.0 / (double)s.rows;
        for (int64_t a = 0; a < d; ++a)
          for (int64_t b = a; b < d; ++b)
            H[(size_t)(a * d + b)] = H[(size_t)(b * d + a)] = (float)(s.xtx[(size_t)(a * d + b)] * scale);
        out.add_f32(base + ".hessian", {d, d}, H);
      }
      if (opt.act) {
        std::vector<float> mean((size_t)d);
        for (int64_t i = 0; i < d; ++i) mean[(size_t)i] = (float)(s.abssum[(size_t)i] / (double)s.rows);
        out.add_f32(base + ".act_absmax", {d}, s.absmax);
        out.add_f32(base + ".act_absmean", {d}, mean);
      }
    }
  std::string files;
  for (const auto& f : opt.data) files += (files.empty() ? "" : ",") + f;
  std::string kinds = std::string(opt.fisher ? "fisher," : "") + (opt.hessian ? "hessian," : "") + (opt.act ? "act," : "");
  kinds.pop_back();
  out.set_metadata("model", opt.model_path);
  out.set_metadata("data", files);
  out.set_metadata("nsamples", std::to_string(opt.nsamples));
  out.set_metadata("ctx", std::to_string(opt.ctx));
  out.set_metadata("seed", std::to_string(opt.seed));
  out.set_metadata("stats", kinds);
  out.set_metadata("n_tokens", std::to_string(rep.tokens));
  out.set_metadata("sqz_version", SQZ_VERSION);
  out.write(out_path);
  rep.seconds = now_seconds() - t0;
  rep.tokens_per_s = (double)rep.tokens / rep.seconds;
  return rep;
}

}  // namespace sqz

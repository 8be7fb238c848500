#include "calib/calibrate.h"

#include <cblas.h>
#include <fmt/format.h>

#include <array>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "calib/stats.h"
#include "core/error.h"
#include "core/file_io.h"
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

// Running sums for one (layer, input): X^T X in double (in the mapped scratch file), max |x| and sum |x|
// per channel.
struct InputStats {
  int64_t dim = 0, rows = 0;
  double* xtx = nullptr;
  std::vector<float> absmax;
  std::vector<double> abssum;
};

}  // namespace

std::vector<int> load_calibration_tokens(const Tokenizer& tok, const CalibOptions& opt) {
  SQZ_CHECK(!opt.data.empty(), "calibration needs at least one --calib file");
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
  check_option_values(opt);
  const ModelConfig& c = model.config();
  SQZ_CHECK(opt.ctx >= 2 && opt.ctx <= c.max_seq_len, "--calib-ctx {} must be in [2, {}] (the model's context)", opt.ctx,
            c.max_seq_len);
  const bool want_fisher = opt.collects("fisher"), want_hessian = opt.collects("hessian"), want_act = opt.collects("act");
  if (!want_fisher && !want_hessian && !want_act) usage_fail("--collect: no statistics requested (fisher, hessian, act)");
  const std::vector<int64_t> starts = sample_windows((int64_t)tokens.size(), opt.ctx, opt.nsamples, opt.seed);

  // The output is laid out before the first window (every shape follows from the model) and mapped, so
  // the Fisher accumulates straight into the file and no whole-model statistic needs to be resident (see
  // FisherAccumulator). Tensor order, names and metadata are those SafetensorsWriter used to produce.
  auto input_dim = [&](int k) { return linear_input_dim(c, (LinearInput)k); };
  std::vector<SafetensorsMappedWriter::Spec> specs;
  if (want_fisher) {
    for (int l = 0; l < c.n_layers; ++l)
      for (int s = 0; s < kNumSlots; ++s) specs.push_back({linear_name(l, s) + ".weight", DType::F32, linear_shape(c, s)});
    if (!c.tied_embeddings) specs.push_back({"lm_head.weight", DType::F32, {c.vocab_size, c.dim}});
  }
  for (int l = 0; l < c.n_layers; ++l)
    for (int k = 0; k < kNumLinearInputs; ++k) {
      const std::string base = stats_input_name(l, (LinearInput)k);
      const int64_t d = input_dim(k);
      if (want_hessian) specs.push_back({base + ".hessian", DType::F32, {d, d}});
      if (want_act) {
        specs.push_back({base + ".act_absmax", DType::F32, {d}});
        specs.push_back({base + ".act_absmean", DType::F32, {d}});
      }
    }
  std::map<std::string, std::string> meta;
  std::string files;
  for (const auto& f : opt.data) files += (files.empty() ? "" : ",") + f;
  std::string kinds = std::string(want_fisher ? "fisher," : "") + (want_hessian ? "hessian," : "") + (want_act ? "act," : "");
  kinds.pop_back();
  meta["model"] = opt.model_path;
  meta["data"] = files;
  meta["nsamples"] = std::to_string(opt.nsamples);
  meta["ctx"] = std::to_string(opt.ctx);
  meta["seed"] = std::to_string(opt.seed);
  meta["stats"] = kinds;
  meta["n_tokens"] = std::to_string(opt.nsamples * opt.ctx);
  meta["sqz_version"] = SQZ_VERSION;
  SafetensorsMappedWriter out(out_path, specs, meta);
  // The X^T X sums are kept in double (fp32 would lose the small eigenvalues GPTQ's solve needs) in a scratch
  // file laid out the same way, never committed (its destructor removes it): for a 7B model they are
  // 44 GB, so like the Fisher they live in the page cache, one (layer, input) resident at a time.
  std::unique_ptr<SafetensorsMappedWriter> xtx_sums;
  if (want_hessian) {
    std::vector<SafetensorsMappedWriter::Spec> xtx_specs;
    for (int l = 0; l < c.n_layers; ++l)
      for (int k = 0; k < kNumLinearInputs; ++k)
        xtx_specs.push_back({stats_input_name(l, (LinearInput)k) + ".xtx", DType::F64, {input_dim(k), input_dim(k)}});
    xtx_sums = std::make_unique<SafetensorsMappedWriter>(out_path + ".xtx", xtx_specs, std::map<std::string, std::string>{});
  }

  // Hessian / activation statistics come from the inference forward pass's linear-input hook.
  std::vector<std::array<InputStats, kNumLinearInputs>> st((size_t)c.n_layers);
  std::vector<double> xd;
  LlamaModel& m = const_cast<LlamaModel&>(model);
  if (want_hessian || want_act)
    m.set_input_hook([&](int layer, LinearInput which, const float* X, int64_t n, int64_t d) {
      InputStats& s = st[(size_t)layer][(size_t)which];
      SQZ_CHECK(d == input_dim((int)which), "calibration: layer {} {} input has {} channels, expected {}", layer,
                linear_input_name(which), d, input_dim((int)which));
      if (s.dim == 0) {
        s.dim = d;
        if (want_hessian)  // starts as zeros (a fresh file)
          s.xtx = reinterpret_cast<double*>(xtx_sums->data(stats_input_name(layer, which) + ".xtx"));
        s.absmax.assign((size_t)d, 0.f);
        s.abssum.assign((size_t)d, 0.0);
      }
      s.rows += n;
      if (want_hessian) {
        xd.assign(X, X + n * d);
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)n, 1.0, xd.data(), (int)d, 1.0, s.xtx, (int)d);
        xtx_sums->release(s.xtx, (size_t)(d * d) * sizeof(double));
      }
      for (int64_t t = 0; t < n; ++t)
        for (int64_t i = 0; i < d; ++i) {
          const float a = std::fabs(X[t * d + i]);
          s.absmax[(size_t)i] = std::max(s.absmax[(size_t)i], a);
          s.abssum[(size_t)i] += a;
        }
    });

  // Fisher: each layer's squared gradients are added into its tensor in the mapped output as soon as the
  // backward pass has finished that layer, and the pages are released again, so neither a whole-model
  // gradient nor a resident whole-model accumulator exists. The sums are the same fp32 f += g*g, in the
  // same order, as accumulating a whole-model Gradients: results are bit-identical to that.
  struct FisherAccumulator final : GradientSink<float> {
    SafetensorsMappedWriter* out = nullptr;
    std::vector<std::array<float*, kNumSlots>> layer_fisher;
    float* lm_head_fisher = nullptr;  // null when tied (the head is the embedding, not a linear weight)
    void add_squares(float* f, const std::vector<float>& g) {
      for (size_t k = 0; k < g.size(); ++k) f[k] += g[k] * g[k];
      out->release(f, g.size() * sizeof(float));
    }
    void head(const std::vector<float>& lm_head, const std::vector<float>&) override {
      if (lm_head_fisher) add_squares(lm_head_fisher, lm_head);
    }
    void layer(int l, const Gradients<float>::Layer& g) override {
      for (int s = 0; s < kNumSlots; ++s) add_squares(layer_fisher[(size_t)l][(size_t)s], g.W[s]);
    }
  } fisher;
  std::unique_ptr<DenseWeights<float>> dw;
  if (want_fisher) {
    dw = std::make_unique<DenseWeights<float>>(DenseWeights<float>::from_model(model));
    fisher.out = &out;
    fisher.layer_fisher.resize((size_t)c.n_layers);
    for (int l = 0; l < c.n_layers; ++l)
      for (int s = 0; s < kNumSlots; ++s) fisher.layer_fisher[(size_t)l][(size_t)s] = out.f32(linear_name(l, s) + ".weight");
    if (!c.tied_embeddings) fisher.lm_head_fisher = out.f32("lm_head.weight");
  }

  CalibReport rep;
  Progress prog("calibrate sample", opt.nsamples, "samples");
  const double t0 = now_seconds();
  KVCache cache(c, opt.ctx);
  std::vector<float> logits((size_t)c.vocab_size);
  double loss_sum = 0;
  for (int64_t i = 0; i < opt.nsamples; ++i) {
    const int* win = tokens.data() + starts[(size_t)i];
    if (want_hessian || want_act) {
      cache.clear();
      model.forward(win, opt.ctx, cache, logits.data(), false);
    }
    if (want_fisher) loss_sum += loss_and_streamed_grad<float>(*dw, win, opt.ctx, fisher);
    rep.tokens += opt.ctx;
    if (opt.progress)
      prog.update(i + 1, fmt::format("{:.0f} tokens/s{}", (double)rep.tokens / (now_seconds() - t0),
                                     want_fisher ? fmt::format("  loss {:.3f}", loss_sum / (double)(i + 1)) : ""));
  }
  m.set_input_hook(nullptr);
  rep.samples = opt.nsamples;
  rep.corpus_tokens = (int64_t)tokens.size();

  for (int l = 0; l < c.n_layers; ++l)
    for (int k = 0; k < kNumLinearInputs; ++k) {
      InputStats& s = st[(size_t)l][(size_t)k];
      if (!want_hessian && !want_act) break;
      const std::string base = stats_input_name(l, (LinearInput)k);
      SQZ_CHECK(s.dim == input_dim(k), "calibration: layer {} {} input was never seen", l, linear_input_name((LinearInput)k));
      const int64_t d = s.dim;
      if (want_hessian) {
        float* H = out.f32(base + ".hessian");
        const double scale = 2.0 / (double)s.rows;
        for (int64_t a = 0; a < d; ++a)
          for (int64_t b = a; b < d; ++b)
            H[(size_t)(a * d + b)] = H[(size_t)(b * d + a)] = (float)(s.xtx[(size_t)(a * d + b)] * scale);
        out.release(H, (size_t)(d * d) * sizeof(float));
        xtx_sums->release(s.xtx, (size_t)(d * d) * sizeof(double));
      }
      if (want_act) {
        float* mean = out.f32(base + ".act_absmean");
        for (int64_t i = 0; i < d; ++i) mean[(size_t)i] = (float)(s.abssum[(size_t)i] / (double)s.rows);
        std::copy(s.absmax.begin(), s.absmax.end(), out.f32(base + ".act_absmax"));
      }
    }
  out.commit();
  rep.seconds = now_seconds() - t0;
  rep.tokens_per_s = (double)rep.tokens / rep.seconds;
  return rep;
}

}  // namespace sqz

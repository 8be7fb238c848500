// quantize_model: the loop every method shares. Loads the checkpoint, hands each decoder layer to the
// method, measures what the method did (weighted and unweighted error, sparse entries, time), and writes
// the quantized directory atomically.
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "calib/calibrate.h"
#include "calib/stats.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/progress.h"
#include "io/checkpoint.h"
#include "kernels/cpu/formats.h"
#include "io/safetensors.h"
#include "model/llama.h"
#include "model/quantized_linear.h"
#include "quant/quantizer.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;

namespace sqz {

std::string LayerJob::weight_name(int slot) const { return linear_name(layer, slot) + ".weight"; }

namespace {

struct LinearError {
  double weighted = 0, mse = 0;
  int64_t sparse = 0;
  size_t bytes = 0;
};

// Rebuilds the Linear from the tensors just made (the same code path inference uses) and compares its
// weight with the matrix the method was given.
LinearError measure(const QuantizedTensors& qt, const nlohmann::json& qcfg, const std::string& base,
                    const std::vector<float>& W, int64_t out, int64_t in, const TensorView* fisher) {
  std::map<std::string, TensorView> views;
  for (const auto& [suffix, t] : qt) views[base + suffix] = t.view();
  auto lin = make_quantized_linear(
      [&](const std::string& n) -> const TensorView* {
        auto it = views.find(n);
        return it == views.end() ? nullptr : &it->second;
      },
      qcfg, base, out, in, "<quantizer output>");
  SQZ_CHECK(lin, "quantizer produced no recognisable tensors for {}", base);
  std::vector<float> D = lin->dequantize();
  std::vector<float> F;
  if (fisher) F = to_f32(*fisher);
  LinearError e;
  for (size_t i = 0; i < W.size(); ++i) {
    const double d = (double)W[i] - D[i];
    e.mse += d * d;
    if (fisher) e.weighted += F[i] * d * d;
  }
  e.mse /= (double)W.size();
  if (auto it = views.find(base + ".sparse_values"); it != views.end()) e.sparse = it->second.numel();
  e.bytes = lin->weight_bytes();
  return e;
}

void copy_if_exists(const fs::path& from, const fs::path& to) {
  if (fs::exists(from)) fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

// The tokenizer files a quantized directory needs so every command can load it.
void copy_tokenizer_files(const Checkpoint& ck, const fs::path& dst) {
  const fs::path src = ck.dir;
  if (ck.format == CheckpointFormat::HfDir) {
    for (const char* f : {"tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                          "generation_config.json", "tokenizer.bin"})
      copy_if_exists(src / f, dst / f);
    return;
  }
  if (ck.format == CheckpointFormat::Llama2c) {
    if (fs::exists(src / "tokenizer.bin")) {
      fs::copy_file(src / "tokenizer.bin", dst / "tokenizer.bin");
      return;
    }
    for (const auto& e : fs::directory_iterator(src)) {
      const std::string n = e.path().filename().string();
      if (n.rfind("tok", 0) == 0 && e.path().extension() == ".bin") {
        fs::copy_file(e.path(), dst / "tokenizer.bin");
        return;
      }
    }
  }
  if (!quiet())
    fmt::print(stderr, "warning: no tokenizer file copied from {}; pass --tokenizer when using the output\n", ck.path);
}


std::vector<std::array<std::vector<float>, kNumLinearInputs>> capture_inputs(LlamaModel& model, const Checkpoint& ck,
                                                                            const QuantOptions& opt) {
  auto tok = load_tokenizer(ck);
  CalibOptions co;
  co.data = opt.calib;
  const std::vector<int> ids = load_calibration_tokens(*tok, co);
  const ModelConfig& c = model.config();
  const int64_t ctx = std::min<int64_t>(opt.calib_ctx, c.max_seq_len);
  std::vector<std::array<std::vector<float>, kNumLinearInputs>> X((size_t)c.n_layers);
  int64_t kept = 0;
  model.set_input_hook([&](int layer, LinearInput which, const float* x, int64_t n, int64_t d) {
    const int64_t take = std::min<int64_t>(n, opt.calib_tokens - kept);
    if (take > 0) X[(size_t)layer][(size_t)which].insert(X[(size_t)layer][(size_t)which].end(), x, x + take * d);
  });
  KVCache cache(c, ctx);
  std::vector<float> logits((size_t)c.vocab_size);
  for (int64_t start = 0; start + ctx <= (int64_t)ids.size() && kept < opt.calib_tokens; start += ctx) {
    cache.clear();
    model.forward(ids.data() + start, ctx, cache, logits.data(), false);
    kept += std::min<int64_t>(ctx, opt.calib_tokens - kept);
  }
  model.set_input_hook(nullptr);
  SQZ_CHECK(kept > 0, "the calibration text has fewer than {} tokens", ctx);
  return X;
}

}  // namespace

QuantizeReport quantize_model(const std::string& model_path, const QuantOptions& opt, const std::string& out_dir) {
  const double t_start = now_seconds();
  validate_quant_options(opt);  // usage errors before anything is read
  const Method& method = sqz::method(opt.method);
  // The statistics are checked for what the method reads before the model is: a missing kind is found
  // now, not after the first layers are quantized.
  std::unique_ptr<CalibStats> stats;
  if (!opt.stats_path.empty()) {
    stats = std::make_unique<CalibStats>(opt.stats_path);
    if (method.needs_input("hessian", opt))
      SQZ_CHECK(stats->hessian(0, LinearInput::Attn), "{}: has no layer-input Hessians, which --method {} needs (run `sqz calibrate --collect hessian`)",
                opt.stats_path, method.name);
    if (method.needs_input("act", opt))
      SQZ_CHECK(stats->act_absmax(0, LinearInput::Attn), "{}: has no activation statistics, which --method {} needs (run `sqz calibrate --collect act`)",
                opt.stats_path, method.name);
  }
  std::shared_ptr<const Checkpoint> ck = open_checkpoint(model_path);
  SQZ_CHECK(ck->quantization_config.is_null(), "{}: is already quantized (quantization_config {})", model_path,
            ck->quantization_config.dump());
  if (method.needs_input("fisher", opt)) stats->validate_fisher(*ck);
  std::unique_ptr<Quantizer> q = method.make(opt);
  nlohmann::json qcfg = quant_config(opt);
  qcfg["sqz_version"] = SQZ_VERSION;
  qcfg["index_packing"] = kernels::kIndexPacking;

  LlamaModel model(ck);
  const ModelConfig& cfg = model.config();
  // Methods that search on activations (AWQ) get each layer's linear inputs from the unquantized model
  // over the calibration text (not re-captured after earlier layers are quantized: a simplification).
  std::vector<std::array<std::vector<float>, kNumLinearInputs>> inputs;
  if (method.needs_input("inputs", opt)) inputs = capture_inputs(model, *ck, opt);
  SafetensorsWriter out;
  out.set_metadata("format", "pt");
  out.add(kEmbedding.hf, ck->require(kEmbedding.hf));

  QuantizeReport rep;
  Progress prog("quantize layer", cfg.n_layers, "layers");
  for (int l = 0; l < cfg.n_layers; ++l) {
    const double t0 = now_seconds();
    LayerWeights& L = model.layers()[(size_t)l];
    LayerJob job;
    job.layer = l;
    job.cfg = &cfg;
    for (int s = 0; s < kNumSlots; ++s) {
      job.W[s] = L.linear[s]->dequantize();
      job.out[s] = L.linear[s]->out_features();
      job.in[s] = L.linear[s]->in_features();
    }
    std::vector<float> attn_norm = L.attn_norm, ffn_norm = L.ffn_norm;
    job.attn_norm = &attn_norm;
    job.ffn_norm = &ffn_norm;
    job.stats = stats.get();
    if (!inputs.empty())
      for (int k = 0; k < kNumLinearInputs; ++k) {
        job.X[(size_t)k] = std::move(inputs[(size_t)l][(size_t)k]);
        job.x_rows[(size_t)k] = (int64_t)job.X[(size_t)k].size() / linear_input_dim(cfg, (LinearInput)k);
      }
    std::array<QuantizedTensors, kNumSlots> res;
    q->quantize_layer(job, res);

    nlohmann::json lj = {{"layer", l}};
    double lw = 0, lm = 0;
    int64_t lsp = 0;
    for (int s = 0; s < kNumSlots; ++s) {
      const std::string base = linear_name(l, s);
      const TensorView* fisher = stats ? stats->fisher(base + ".weight") : nullptr;
      LinearError e = measure(res[s], qcfg, base, job.W[s], job.out[s], job.in[s], fisher);
      lj[slot_name(s)] = {{"weighted_error", e.weighted}, {"mse", e.mse}, {"sparse", e.sparse}};
      lw += e.weighted;
      lm += e.mse / kNumSlots;
      lsp += e.sparse;
      rep.sparse_entries += e.sparse;
      rep.linear_bytes += e.bytes;
      rep.linear_params += job.out[s] * job.in[s];
      for (auto& [suffix, t] : res[s]) out.add(base + suffix, t.dtype, t.shape, t.bytes.data(), t.bytes.size());
      if (!L.linear[s]->bias().empty()) out.add_f32(base + ".bias", {job.out[s]}, L.linear[s]->bias());
    }
    // Norms: unchanged ones are copied as stored; rescaled ones (smoothing) are written in fp32.
    auto put_norm = [&](const std::string& name, const std::vector<float>& now, const std::vector<float>& before) {
      if (now == before)
        out.add(name, ck->require(name));
      else
        out.add_f32(name, {(int64_t)now.size()}, now);
    };
    put_norm(norm_name(l, kAttnNorm), attn_norm, L.attn_norm);
    put_norm(norm_name(l, kFfnNorm), ffn_norm, L.ffn_norm);
    lj["seconds"] = now_seconds() - t0;
    rep.layers.push_back(lj);
    if (!quiet())
      fmt::print(stderr, "layer {}/{}: weighted error {:.4g}  mse {:.4g}  sparse {}  {:.2f}s\n", l + 1, cfg.n_layers,
                 lw, lm, lsp, now_seconds() - t0);
    prog.update(l + 1);
  }
  out.add(kFinalNorm.hf, ck->require(kFinalNorm.hf));
  if (!cfg.tied_embeddings) {
    if (opt.lm_head) {
      std::vector<float> W = model.lm_head().dequantize();
      const TensorView* fisher = stats ? stats->fisher("lm_head.weight") : nullptr;
      QuantizedTensors t = q->quantize_matrix("lm_head.weight", W, cfg.vocab_size, cfg.dim, fisher);
      LinearError e = measure(t, qcfg, "lm_head", W, cfg.vocab_size, cfg.dim, fisher);
      rep.sparse_entries += e.sparse;
      for (auto& [suffix, tt] : t) out.add("lm_head" + suffix, tt.dtype, tt.shape, tt.bytes.data(), tt.bytes.size());
    } else {
      out.add("lm_head.weight", ck->require("lm_head.weight"));
    }
  }

  rep.total_bytes = out.data_bytes();
  rep.bpw_linear = 8.0 * (double)rep.linear_bytes / (double)rep.linear_params;
  rep.bpw_total = 8.0 * (double)rep.total_bytes / (double)model.n_params();
  qcfg["bpw_linear"] = rep.bpw_linear;
  qcfg["sparse_entries"] = rep.sparse_entries;

  nlohmann::json config = ck->format == CheckpointFormat::HfDir ? ck->hf_config : to_hf_config(cfg);
  config["quantization_config"] = qcfg;

  AtomicDir dir(out_dir);
  const fs::path tmp(dir.path());
  out.write((tmp / "model.safetensors").string());
  write_file_atomic((tmp / "config.json").string(), config.dump(2) + "\n");
  copy_tokenizer_files(*ck, tmp);
  dir.commit();
  rep.seconds = now_seconds() - t_start;
  return rep;
}

}  // namespace sqz

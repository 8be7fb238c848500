#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "core/progress.h"
#include "quant/quantizer.h"

namespace sqz::cli {

Action add_quantize(CLI::App& app) {
  struct Opts {
    std::string model, out;
    QuantOptions q;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("quantize", "Quantize a checkpoint into an sqz directory");
  c->add_option("model", o->model, "Checkpoint: HF directory, .gguf or llama2.c .bin")->required();
  c->add_option("-o,--output", o->out, "Output directory (written atomically)")->required();
  c->add_option("--method", o->q.method, "rtn | squeezellm | gptq | awq | nf4 | smoothquant")
      ->capture_default_str()
      ->check(CLI::IsMember({"rtn", "squeezellm", "gptq", "awq", "nf4", "smoothquant"}));
  c->add_option("--bits", o->q.bits, "Bits per weight index (2, 3, 4; 8 for rtn)")->capture_default_str();
  c->add_option("--group", o->q.group, "Uniform methods: columns per group (0: per output channel)")->capture_default_str();
  c->add_option("--stats", o->q.stats_path, "Calibration statistics from `sqz calibrate` (or a Fisher file)");
  c->add_option("--sparsity", o->q.sparsity, "squeezellm: percent of weights kept in fp16 (dense-and-sparse)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 50.0));
  c->add_option("--sensitive-share", o->q.sensitive_share,
                "squeezellm: fraction of the sparse budget for high-Fisher weights (rest: largest magnitudes)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  c->add_option("--solver", o->q.solver, "squeezellm: exact (1-D DP, optimal) | lloyd (weighted k-means++)")
      ->capture_default_str()
      ->check(CLI::IsMember({"exact", "lloyd"}));
  c->add_option("--sensitivity", o->q.sensitivity, "squeezellm: fisher | hessian-diag | none")
      ->capture_default_str()
      ->check(CLI::IsMember({"fisher", "hessian-diag", "none"}));
  c->add_flag("--error-feedback", o->q.error_feedback, "squeezellm: GPTQ-style compensation with the layer Hessian");
  c->add_flag("--clip-search", o->q.clip_search, "rtn: search shrink ratios minimising weight MSE");
  c->add_flag("--act-order", o->q.act_order, "gptq: quantize columns by decreasing Hessian diagonal");
  c->add_option("--percdamp", o->q.percdamp, "gptq: dampening as a fraction of the mean diagonal")->capture_default_str();
  c->add_option("--alpha", o->q.alpha, "smoothquant: migration strength")->capture_default_str();
  c->add_flag("!--no-smooth", o->q.smooth, "smoothquant: plain W8A8 without smoothing");
  c->add_option("--act-quant", o->q.act_quant, "smoothquant: per_token (O1) | per_tensor_dynamic (O2) | per_tensor_static (O3)")
      ->capture_default_str()
      ->check(CLI::IsMember({"per_token", "per_tensor_dynamic", "per_tensor_static"}));
  c->add_flag("--double-quant", o->q.double_quant, "nf4: quantize the block scales too");
  c->add_option("--calib", o->q.calib_data, "awq: calibration text files for the scale search")->check(CLI::ExistingFile);
  c->add_option("--calib-tokens", o->q.calib_tokens, "awq: tokens of layer inputs used by the search")->capture_default_str();
  c->add_flag("--lm-head", o->q.quantize_lm_head, "Quantize lm_head too");
  c->add_option("--seed", o->q.seed, "Seed (lloyd init)")->capture_default_str();
  c->add_flag("--json", o->json, "Print the report as one JSON object");
  return [o]() {
    QuantizeReport r = quantize_model(o->model, o->q, o->out);
    if (o->json) {
      nlohmann::json j = {{"output", o->out},
                          {"method", o->q.method},
                          {"bits", o->q.bits},
                          {"seconds", r.seconds},
                          {"bpw_linear", r.bpw_linear},
                          {"bpw_total", r.bpw_total},
                          {"linear_bytes", r.linear_bytes},
                          {"total_bytes", r.total_bytes},
                          {"sparse_entries", r.sparse_entries},
                          {"peak_rss_bytes", peak_rss_bytes()},
                          {"layers", r.layers}};
      fmt::print("{}\n", j.dump());
      return 0;
    }
    fmt::print("wrote {}: {} {}-bit, {:.3f} bits/weight in linear layers ({:.3f} over all weights), {} sparse entries, {:.1f}s\n",
               o->out, o->q.method, o->q.bits, r.bpw_linear, r.bpw_total, r.sparse_entries, r.seconds);
    return 0;
  };
}

}  // namespace sqz::cli

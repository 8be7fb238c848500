#include <nlohmann/json.hpp>

#include "calib/calibrate.h"
#include "cli/common.h"
#include "cli/options.h"
#include "core/error.h"
#include "core/progress.h"

namespace sqz::cli {

Action add_calibrate(CLI::App& app) {
  struct Opts {
    std::string model, out, tokenizer;
    CalibOptions c;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("calibrate", "Fisher information, layer-input Hessians and activation statistics");
  c->add_option("model", o->model, "Checkpoint")->required();
  c->add_option("-o,--output", o->out, "Output statistics file (.safetensors)")->required();
  add_options(c, o->c);
  c->add_option("--tokenizer", o->tokenizer, "Tokenizer file");
  c->add_flag("--json", o->json, "Print the summary as one JSON object");
  return [o]() {
    check_option_values(o->c);
    o->c.model_path = o->model;
    o->c.progress = !quiet();
    LoadedModel m = load_model_and_tokenizer(o->model, o->tokenizer);
    std::vector<int> tokens = load_calibration_tokens(*m.tokenizer, o->c);
    CalibReport r = calibrate(*m.model, tokens, o->c, o->out);
    const size_t rss = peak_rss_bytes();
    if (o->json) {
      nlohmann::json j = {{"output", o->out},       {"samples", r.samples},         {"ctx", o->c.ctx},
                          {"tokens", r.tokens},     {"corpus_tokens", r.corpus_tokens}, {"seconds", r.seconds},
                          {"tokens_per_s", r.tokens_per_s}, {"peak_rss_bytes", rss}, {"collect", o->c.collect}};
      fmt::print("{}\n", j.dump());
    } else {
      fmt::print("wrote {}: {} samples x {} tokens (from {} calibration tokens), {:.1f}s, {:.0f} tokens/s, peak RSS {:.0f} MiB\n",
                 o->out, r.samples, o->c.ctx, r.corpus_tokens, r.seconds, r.tokens_per_s, (double)rss / (1 << 20));
    }
    return 0;
  };
}

}  // namespace sqz::cli

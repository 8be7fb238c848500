// `sqz finetune QMODEL --calib FILE... -o OUT`: quantization-aware fine-tuning of a directory `sqz quantize`
// wrote (library: train/finetune.h).
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "cli/options.h"
#include "core/error.h"
#include "core/progress.h"
#include "train/finetune.h"

namespace sqz::cli {

Action add_finetune(CLI::App& app) {
  struct Opts {
    std::string model, out;
    train::FinetuneOptions f;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("finetune",
                               "Quantization-aware fine-tuning: trains the LUT centroids / scales / zero points and norms "
                               "of a quantized directory, codes fixed");
  c->add_option("model", o->model, "Directory written by `sqz quantize`")->required();
  c->add_option("-o,--output", o->out, "Output directory (written atomically)")->required();
  add_options(c, o->f);
  c->add_flag("--json", o->json, "Print the report as one JSON object");
  return [o]() {
    o->f.progress = !quiet();
    train::FinetuneReport r = train::finetune_model(o->model, o->f, o->out);
    const size_t rss = peak_rss_bytes();
    if (o->json) {
      nlohmann::json j = r.to_json();
      j["output"] = o->out;
      j["peak_rss_bytes"] = rss;
      fmt::print("{}\n", j.dump());
      return 0;
    }
    const char* what = r.objective == "kd" ? "KL from the teacher" : "loss";
    fmt::print("wrote {}: {} steps, {} tokens, {} trainable parameters; held-out {} {:.4f} -> {:.4f}; {:.1f}s, "
               "{:.0f} tokens/s, peak RSS {:.0f} MiB\n",
               o->out, r.steps, r.tokens, r.trainable_params, what, r.eval_before, r.eval_after, r.seconds,
               r.tokens_per_s, (double)rss / (1 << 20));
    return 0;
  };
}

}  // namespace sqz::cli

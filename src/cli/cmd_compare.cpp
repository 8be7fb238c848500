#include "cli/common.h"
#include "core/file_io.h"
#include "eval/compare.h"

namespace sqz::cli {

Action add_compare(CLI::App& app) {
  auto o = std::make_shared<CompareOptions>();
  auto* c = app.add_subcommand("compare", "Quantize with every method and bit width; one table of ppl, KL, size, speed");
  c->add_option("model", o->model, "Checkpoint")->required();
  c->add_option("--data", o->data, "Evaluation text")->required()->check(CLI::ExistingFile);
  c->add_option("--calib", o->calib, "Calibration text files")->required()->check(CLI::ExistingFile);
  c->add_option("-o,--output", o->out_dir, "Report directory (re-running reuses finished rows)")->required();
  c->add_option("--methods", o->methods, "rtn,gptq,awq,nf4,smoothquant,squeezellm")->delimiter(',')->capture_default_str();
  c->add_option("--bits", o->bits, "Bit widths")->delimiter(',')->capture_default_str();
  c->add_option("--ctx", o->ctx, "Evaluation window")->capture_default_str();
  c->add_option("--max-windows", o->max_windows, "Evaluate only the first K windows");
  c->add_option("--max-chars", o->max_chars, "Use only the first N characters of the evaluation text");
  c->add_option("--nsamples", o->nsamples, "Calibration windows")->capture_default_str();
  c->add_option("--calib-ctx", o->calib_ctx, "Calibration window length")->capture_default_str();
  c->add_option("--group", o->group, "Group size of the uniform methods")->capture_default_str();
  c->add_option("--tokenizer", o->tokenizer, "Tokenizer file");
  return [o]() {
    run_compare(*o);
    fmt::print("{}", read_text_file(o->out_dir + "/results.md"));
    return 0;
  };
}

}  // namespace sqz::cli

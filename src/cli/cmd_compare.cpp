#include "cli/common.h"
#include "cli/options.h"
#include "core/file_io.h"
#include "core/mmap.h"
#include "eval/compare.h"

namespace sqz::cli {

Action add_compare(CLI::App& app) {
  auto o = std::make_shared<CompareOptions>();
  auto* c = app.add_subcommand("compare", "Quantize with every method and bit width; one table of ppl, KL, size, speed");
  c->add_option("model", o->model, "Checkpoint")->required();
  c->add_option("-o,--output", o->out_dir, "Report directory (re-running reuses finished rows)")->required();
  add_options(c, *o);
  // The calibration run (its text and window also feed awq), then what is passed on to each method; the
  // schedule sets method and bits, and the statistics are the calibration run's.
  add_options(c, o->calib, {"seed", "collect", "eval-file"});
  add_options(c, o->quant, {"method", "bits", "stats", "calib", "calib-ctx"});
  c->footer(method_table_help());
  return [o]() {
    run_compare(*o);
    fmt::print("{}", read_text_file(o->out_dir + "/results.md"));
    return 0;
  };
}

}  // namespace sqz::cli

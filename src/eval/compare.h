// `sqz compare`: one model, every method and bit width, one table. Calibrates once, quantizes each
// combination, measures perplexity, KL divergence to the original and decode speed, and writes
// results.csv / results.json / results.md and ppl_vs_bpw.png. Each finished row is saved as its own JSON
// file in the report directory and reused when the command is run again.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "calib/calibrate.h"
#include "core/options.h"
#include "quant/quantizer.h"

namespace sqz {

struct CompareOptions {
  std::string model, data, out_dir, tokenizer;
  std::vector<std::string> methods = {method_names().begin(), method_names().end()};
  std::vector<int> bits = {3, 4, 8};
  int64_t ctx = 256, max_windows = 0, max_chars = 0;
  // The calibration run; its text (and window) also feeds AWQ's search.
  CalibOptions calib = [] {
    CalibOptions c;
    c.nsamples = 32;
    c.ctx = 512;
    return c;
  }();
  // Passed on to every variant, each option only to the methods it applies to (method, bits and stats are
  // the schedule's).
  QuantOptions quant = [] {
    QuantOptions q;
    q.group_size = 128;
    return q;
  }();

  // compare's own options (the calibration and quantization ones are CalibOptions' and QuantOptions').
  template <class V>
  static void declare(V&& v) {
    using C = CompareOptions;
    v(&C::data, {.name = "data", .help = "Evaluation text", .recorded = false, .files = true, .required = true});
    v(&C::methods, {.name = "methods", .help = "Methods to run", .choices = method_names(), .comma_list = true});
    v(&C::bits, {.name = "bits", .help = "Bit widths; each method runs at those it takes", .comma_list = true});
    v(&C::ctx, {.name = "ctx", .help = "Evaluation window", .min = 1});
    v(&C::max_windows, {.name = "max-windows", .help = "Evaluate only the first K windows (0: all)", .min = 0});
    v(&C::max_chars, {.name = "max-chars", .help = "Use only the first N characters of the evaluation text (0: all)", .min = 0});
    v(&C::tokenizer, {.name = "tokenizer", .help = "Tokenizer file", .recorded = false, .files = true});
  }
};

// One quantization of the schedule: its row name (and output directory) and options.
struct CompareVariant {
  std::string name;
  QuantOptions q;
};

// The schedule: each method at each requested width it takes (squeezellm also dense and with error
// feedback, smoothquant also without smoothing), every variant already validated; `stats` is the
// statistics file the calibration step writes. Throws UsageError for an unknown method or option, or a
// width no requested method takes.
std::vector<CompareVariant> compare_variants(const CompareOptions& opt, const std::string& stats);

// Returns the rows as JSON text (also written to out_dir/results.json).
std::string run_compare(const CompareOptions& opt);

}  // namespace sqz

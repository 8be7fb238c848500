// `sqz calibrate`: Fisher information (sum over samples of squared per-sample gradients, one backward pass
// per window, batch 1, as SqueezeLLM does), layer-input Hessians H = (2/N) sum x x^T (GPTQ) and per-channel
// activation magnitudes (AWQ, SmoothQuant), written to one safetensors file (names: calib/stats.h).
// Memory: the output is preallocated at OUT.tmp.<pid> and mapped; each layer's squared gradients are added
// into it as soon as the backward pass finishes that layer (loss_and_streamed_grad) and the X^T X sums live
// in a mapped scratch file (OUT.xtx.tmp.<pid>, removed at the end), so the statistics resident in memory are
// one layer's; the whole-model accumulators are page cache backed by the files. Still whole-model: the fp32
// copy of the weights the backward pass reads (DenseWeights) and its saved activations.
#pragma once
#include <cstdint>
#include <algorithm>
#include <string>
#include <vector>

#include "core/options.h"
#include "model/llama.h"
#include "tokenizer/tokenizer.h"

namespace sqz {

struct CalibOptions {
  std::vector<std::string> data;  // plain text files, or .jsonl with a "text" field per line
  int64_t nsamples = 128;
  int64_t ctx = 512;
  uint64_t seed = 0;
  std::vector<std::string> collect = {"fisher", "hessian", "act"};
  std::vector<std::string> eval_files;  // refused as calibration data (besides any wiki.test.raw)
  std::string model_path;  // recorded in the metadata
  bool progress = true;

  bool collects(const std::string& kind) const { return std::find(collect.begin(), collect.end(), kind) != collect.end(); }

  template <class V>
  static void declare(V&& v) {
    using C = CalibOptions;
    v(&C::data, text_files_option("calib", "Calibration text files (.txt, or .jsonl with a \"text\" field)", "data"));
    v(&C::nsamples, {.name = "nsamples", .help = "Windows drawn from the text", .min = 1});
    v(&C::ctx, {.name = "calib-ctx", .help = "Tokens per window", .aliases = "ctx", .min = 2});
    v(&C::seed, {.name = "seed", .help = "Seed of the window sampler"});
    v(&C::collect, {.name = "collect",
                    .help = "Statistics to collect",
                    .aliases = "stats",
                    .choices = {"fisher", "hessian", "act"},
                    .comma_list = true});
    v(&C::eval_files, {.name = "eval-file", .help = "Evaluation texts that must not be calibrated on", .recorded = false});
  }
};

struct CalibReport {
  int64_t samples = 0, tokens = 0, corpus_tokens = 0;
  double seconds = 0, tokens_per_s = 0;
};

// Tokenizes the calibration files ([BOS] + encode(text) per file, concatenated). Refuses evaluation text.
std::vector<int> load_calibration_tokens(const Tokenizer& tok, const CalibOptions& opt);

// Start offsets of the windows: uniform over [0, n - ctx] from a splitmix64 stream seeded by `seed`, so
// the same seed gives the same windows on every machine.
std::vector<int64_t> sample_windows(int64_t n_tokens, int64_t ctx, int64_t nsamples, uint64_t seed);

CalibReport calibrate(const LlamaModel& model, const std::vector<int>& tokens, const CalibOptions& opt,
                      const std::string& out_path);

}  // namespace sqz

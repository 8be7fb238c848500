// `sqz compare`: one model, every method and bit width, one table. Calibrates once, quantizes each
// combination, measures perplexity, KL divergence to the original and decode speed, and writes
// results.csv / results.json / results.md and ppl_vs_bpw.png. Each finished row is saved as its own JSON
// file in the report directory and reused when the command is run again.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace sqz {

struct CompareOptions {
  std::string model, data, out_dir, tokenizer;
  std::vector<std::string> calib;
  std::vector<std::string> methods = {"rtn", "gptq", "awq", "nf4", "smoothquant", "squeezellm"};
  std::vector<int> bits = {3, 4, 8};
  int64_t ctx = 256, max_windows = 0, max_chars = 0;
  int64_t nsamples = 32, calib_ctx = 512;
  int64_t group = 128;  // uniform methods
};

// Returns the rows as JSON text (also written to out_dir/results.json).
std::string run_compare(const CompareOptions& opt);

}  // namespace sqz

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/file_io.h"
#include "core/progress.h"
#include "eval/compare.h"
#include "support/tiny_checkpoint.h"
#include "support/tiny_model.h"

namespace fs = std::filesystem;
using namespace sqz;

// A tiny checkpoint with a single-character llama2.c tokenizer, compared with two methods: the report
// files exist with the required columns, and a second run reuses every finished row.
TEST(Compare, WritesTheReportAndReusesRows) {
  const fs::path d = fs::temp_directory_path() / ("sqz_cmp_" + std::to_string(::getpid()));
  fs::remove_all(d);
  ModelConfig c = tiny_config();
  c.vocab_size = 96;
  c.max_seq_len = 128;
  write_tiny_hf_model((d / "m").string(), c, 4, DType::F16);
  write_tiny_char_tokenizer((d / "m" / "tokenizer.bin").string(), c.vocab_size);
  std::string text;
  for (int i = 0; i < 40; ++i) text += "the quick brown fox jumps over the lazy dog " + std::to_string(i) + "\n";
  std::ofstream(d / "eval.txt") << text;
  std::ofstream(d / "calib.txt") << text.substr(100) << "pack my box with five dozen liquor jugs\n";
  CompareOptions o;
  o.model = (d / "m").string();
  o.data = (d / "eval.txt").string();
  o.calib = {(d / "calib.txt").string()};
  o.out_dir = (d / "report").string();
  o.methods = {"rtn", "squeezellm"};
  o.bits = {4};
  o.ctx = 32;
  o.nsamples = 2;
  o.calib_ctx = 32;
  set_quiet(true);
  auto rows = nlohmann::json::parse(run_compare(o));
  // fp16 + rtn-4bit + squeezellm (sparse, dense, error feedback).
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0]["method"], "fp16");
  EXPECT_DOUBLE_EQ(rows[0]["kl"].get<double>(), 0.0);
  for (size_t i = 1; i < rows.size(); ++i) {
    EXPECT_GT(rows[i]["kl"].get<double>(), 0.0);
    EXPECT_LT(rows[i]["bpw"].get<double>(), 16.0);
  }
  const std::string csv = read_text_file((d / "report" / "results.csv").string());
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "method,bits,bpw,size_bytes,ppl,delta_ppl,kl,quantize_s,decode_tokens_per_s,variant");
  EXPECT_TRUE(fs::exists(d / "report" / "results.md"));
  EXPECT_TRUE(fs::exists(d / "report" / "results.json"));
  const auto stamp = fs::last_write_time(d / "report" / "rtn-4bit.json");
  fs::remove_all(d / "report" / "rtn-4bit");  // a reused row needs only its JSON
  auto again = nlohmann::json::parse(run_compare(o));
  EXPECT_EQ(again, rows);
  EXPECT_EQ(fs::last_write_time(d / "report" / "rtn-4bit.json"), stamp);
  set_quiet(false);
  fs::remove_all(d);
}

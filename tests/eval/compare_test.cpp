#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_io.h"
#include "core/mmap.h"
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
  o.calib.data = {(d / "calib.txt").string()};
  o.out_dir = (d / "report").string();
  o.methods = {"rtn", "squeezellm"};
  o.bits = {4};
  o.ctx = 32;
  o.calib.nsamples = 2;
  o.calib.ctx = 32;
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

// The schedule runs each method at exactly the requested widths its format stores (the method table's),
// passes each option on only to the methods it applies to, and refuses what nothing would run.
TEST(Compare, ScheduleEqualsTheMethodTableWidths) {
  CompareOptions o;
  o.calib.data = {"calib.txt"};  // not read: the schedule is built before anything is opened
  o.bits = {2, 3, 4, 8};  // every width some method takes (1, 5, 6, 7, 9: none, refused below)
  o.quant.sparsity = 1.0;
  const std::vector<CompareVariant> vs = compare_variants(o, "stats.safetensors");
  ASSERT_EQ(o.methods.size(), method_table().size());
  for (const Method& m : method_table()) {
    std::vector<int> scheduled;
    for (const CompareVariant& v : vs)
      if (v.name == fmt::format("{}-{}bit", m.name, v.q.bits)) {
        EXPECT_EQ(v.q.method, m.name);
        scheduled.push_back(v.q.bits);
      }
    EXPECT_EQ(scheduled, m.bits()) << m.name;
  }
  int sparse = 0, dense = 0;
  for (const CompareVariant& v : vs) {
    EXPECT_NO_THROW(validate_quant_options(v.q)) << v.name;
    EXPECT_EQ(v.q.stats_path, "stats.safetensors");
    const bool group = v.q.method == "rtn" || v.q.method == "gptq" || v.q.method == "awq";
    EXPECT_EQ(v.q.group_size, group ? 128 : QuantOptions{}.group_size) << v.name;  // compare's default
    EXPECT_EQ(v.q.calib, v.q.method == "awq" ? o.calib.data : std::vector<std::string>{}) << v.name;
    if (v.q.method == "squeezellm") (v.q.sparsity == 1.0 ? sparse : dense) += 1;
    else EXPECT_EQ(v.q.sparsity, QuantOptions{}.sparsity) << v.name;
  }
  EXPECT_EQ(sparse, 2 * 3);  // plain and error feedback at 2, 3, 4 bits
  EXPECT_EQ(dense, 3);
  // Each extra variant of squeezellm and smoothquant is there at each of their widths.
  for (int b : {2, 3, 4}) {
    EXPECT_TRUE(std::any_of(vs.begin(), vs.end(), [&](const CompareVariant& v) { return v.name == fmt::format("squeezellm-ef-{}bit", b) && v.q.error_feedback; }));
    EXPECT_TRUE(std::any_of(vs.begin(), vs.end(), [&](const CompareVariant& v) { return v.name == fmt::format("squeezellm-dense-{}bit", b) && v.q.sparsity == 0; }));
  }
  EXPECT_TRUE(std::any_of(vs.begin(), vs.end(), [](const CompareVariant& v) { return v.name == "w8a8-nosmooth-8bit" && !v.q.smooth; }));

  CompareOptions bad = o;
  for (int b : {1, 5, 6, 7, 9}) {
    bad.bits = {3, b};
    EXPECT_THROW(compare_variants(bad, "s"), UsageError) << b;  // no method takes b bits
  }
  bad = o;
  bad.methods = {"rtn", "squeezellm"};
  bad.bits = {3, 8};  // 8: rtn only, fine
  EXPECT_NO_THROW(compare_variants(bad, "s"));
  bad.methods = {"squeezellm", "nf4"};
  EXPECT_THROW(compare_variants(bad, "s"), UsageError);  // neither takes 8
  bad = o;
  bad.methods = {"bogus"};
  EXPECT_THROW(compare_variants(bad, "s"), UsageError);
  bad = o;
  bad.quant.group_size = -2;
  EXPECT_THROW(compare_variants(bad, "s"), UsageError);
  bad = o;
  bad.calib.data.clear();  // awq has no text to search on
  EXPECT_THROW(compare_variants(bad, "s"), UsageError);
}

// The sqz binary end to end: exit codes (0 ok, 1 runtime error, 2 usage error), one-line errors naming the
// file, no half-written outputs.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <set>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "kernels/format.h"
#include "quant/quantizer.h"
#include "support/tiny_checkpoint.h"
#include "support/tiny_model.h"

namespace fs = std::filesystem;
using namespace sqz;

namespace {

struct CmdResult {
  int code;
  std::string out;  // stdout and stderr together
};

CmdResult run(const std::string& args) {
  const std::string cmd = std::string(SQZ_BINARY_DIR) + "/sqz " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

struct Dir {
  fs::path p;
  explicit Dir(const std::string& name) {
    p = fs::temp_directory_path() / ("sqz_cli_" + std::to_string(::getpid()) + "_" + name);
    fs::remove_all(p);
    fs::create_directories(p);
  }
  ~Dir() { fs::remove_all(p); }
};

}  // namespace

TEST(Cli, UsageErrorsExitWith2) {
  EXPECT_EQ(run("").code, 2);
  EXPECT_EQ(run("ppl").code, 2);                                   // missing arguments
  EXPECT_EQ(run("quantize x -o y --method bogus").code, 2);        // not a method
  EXPECT_EQ(run("--version").code, 0);
}

TEST(Cli, BadCheckpointsGiveOneLineErrorsAndExit1) {
  Dir d("bad");
  ModelConfig c = tiny_config();
  const fs::path model = d.p / "m";
  write_tiny_hf_model(model.string(), c, 1);
  // Truncate the weights file.
  const fs::path st = model / "model.safetensors";
  fs::resize_file(st, fs::file_size(st) / 2);
  CmdResult r = run("inspect " + model.string());
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("model.safetensors"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sqz: error:"), std::string::npos) << r.out;
  // A directory without a checkpoint, and a missing tokenizer for ppl.
  r = run("inspect " + d.p.string());
  EXPECT_EQ(r.code, 1) << r.out;
  const fs::path good = d.p / "good";
  write_tiny_hf_model(good.string(), c, 1);
  std::ofstream(d.p / "text.txt") << "hello world";
  r = run("ppl " + good.string() + " --data " + (d.p / "text.txt").string());
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("no tokenizer found"), std::string::npos) << r.out;
}

TEST(Cli, InspectQuantizeAndBenchWork) {
  Dir d("ok");
  ModelConfig c = tiny_config();
  c.max_seq_len = 256;
  const fs::path model = d.p / "m";
  write_tiny_hf_model(model.string(), c, 2, DType::F16);
  CmdResult r = run("-q inspect --json " + model.string());
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["config"]["n_layers"], c.n_layers);
  EXPECT_DOUBLE_EQ(j["linear_bpw"].get<double>(), 16.0);
  const fs::path q = d.p / "q";
  r = run("-q quantize " + model.string() + " -o " + q.string() + " --method rtn --bits 4 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(q / "config.json"));
  for (const auto& e : fs::directory_iterator(d.p)) EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos);
  r = run("-q bench " + q.string() + " --prompt-tokens 8 --gen-tokens 4 --repeats 1 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["decode_tokens_per_s"].get<double>(), 0);
  EXPECT_LT(j["model_bytes"].get<double>(), 0.5 * (double)fs::file_size(model / "model.safetensors"));
}

namespace {

bool has(const std::string& out, const std::string& what) { return out.find(what) != std::string::npos; }

// Files the checks below need to exist (CLI11 refuses a missing --stats or --calib file at parse time);
// their contents are never read when the options are refused.
struct UsageFixture {
  Dir d{"usage"};
  std::string stats, calib, model, out;
  UsageFixture() {
    stats = (d.p / "stats.safetensors").string();
    calib = (d.p / "calib.txt").string();
    std::ofstream(stats) << "not read";
    std::ofstream(calib) << "calibration text";
    model = (d.p / "no-such-model").string();  // refused before any checkpoint is opened
    out = (d.p / "out").string();
  }
  // quantize with the inputs `method` needs by default, plus `extra`.
  CmdResult quantize(const std::string& method, const std::string& extra) const {
    std::string needs;
    if (method == "awq") needs = " --calib " + calib;
    if (method == "gptq" || method == "squeezellm" || method == "smoothquant") needs = " --stats " + stats;
    return run("-q quantize " + model + " -o " + out + " --method " + method + needs + " " + extra);
  }
};

}  // namespace

// Every width a method's format does not store is a usage error naming the widths it does, found before
// the checkpoint is opened (the model path does not exist: a later check would exit 1).
TEST(CliOptions, EachInvalidBitWidthOfEachMethodExitsWith2) {
  UsageFixture f;
  for (const Method& m : method_table()) {
    const std::string valid = m.storage().bits_list();
    for (int b : {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16}) {
      const CmdResult r = f.quantize(m.name, "--bits " + std::to_string(b));
      if (m.storage().allows_bits(b)) {
        // Valid: the run gets as far as opening a file (the statistics, or the missing model): exit 1.
        EXPECT_EQ(r.code, 1) << m.name << " " << b << ": " << r.out;
        continue;
      }
      EXPECT_EQ(r.code, 2) << m.name << " " << b << ": " << r.out;
      EXPECT_TRUE(has(r.out, "--bits " + std::to_string(b))) << r.out;
      EXPECT_TRUE(has(r.out, "takes " + valid + " bits")) << r.out;
    }
  }
  EXPECT_FALSE(fs::exists(f.out));
}

TEST(CliOptions, InvalidGroupAndBlockSizesExitWith2) {
  UsageFixture f;
  for (const char* m : {"rtn", "gptq", "awq"}) {
    for (const char* g : {"-2", "-100", "1073741825", "2147483648"}) {
      CmdResult r = f.quantize(m, std::string("--bits 4 --group-size ") + g);
      EXPECT_EQ(r.code, 2) << m << " " << g << ": " << r.out;
      EXPECT_TRUE(has(r.out, "--group-size")) << r.out;
      EXPECT_TRUE(has(r.out, "-1 or 0 (one group per row) or 1 to 1073741824")) << r.out;
      r = f.quantize(m, std::string("--bits 4 --group ") + g);  // the older spelling
      EXPECT_EQ(r.code, 2) << m << " " << g << ": " << r.out;
    }
    for (const char* g : {"-1", "0", "1", "128", "1073741824"})
      EXPECT_EQ(f.quantize(m, std::string("--bits 4 --group-size ") + g).code, 1) << m << " " << g;
  }
  for (const char* b : {"0", "-1", "2147483648"}) {
    const CmdResult r = f.quantize("nf4", std::string("--bits 4 --block-size ") + b);
    EXPECT_EQ(r.code, 2) << b << ": " << r.out;
    EXPECT_TRUE(has(r.out, "--block-size")) << r.out;
    EXPECT_TRUE(has(r.out, "1 to 1073741824")) << r.out;
  }
  // A group size means nothing to the other formats.
  for (const char* m : {"nf4", "squeezellm", "smoothquant"}) {
    const CmdResult r = f.quantize(m, fmt::format("--bits {} --group-size 64", method(m).bits().back()));
    EXPECT_EQ(r.code, 2) << m << ": " << r.out;
    EXPECT_TRUE(has(r.out, "--group-size does not apply to --method")) << r.out;
    EXPECT_TRUE(has(r.out, "only to rtn, gptq, awq")) << r.out;
  }
}

TEST(CliOptions, InvalidSparsityExitsWith2) {
  UsageFixture f;
  for (const char* s : {"-1", "-0.01", "50.5", "51", "100", "nan", "inf", "-inf"}) {
    const CmdResult r = f.quantize("squeezellm", std::string("--bits 3 --sparsity ") + s);
    EXPECT_EQ(r.code, 2) << s << ": " << r.out;
    EXPECT_TRUE(has(r.out, "--sparsity")) << r.out;
    EXPECT_TRUE(has(r.out, "a number from 0 to 50")) << r.out;
  }
  for (const char* s : {"0", "0.45", "50"}) EXPECT_EQ(f.quantize("squeezellm", std::string("--bits 3 --sparsity ") + s).code, 1) << s;
  for (const Method& m : method_table()) {
    if (std::string(m.name) == "squeezellm") continue;
    const CmdResult r = f.quantize(m.name, fmt::format("--bits {} --sparsity 1", m.bits().back()));
    EXPECT_EQ(r.code, 2) << m.name << ": " << r.out;
    EXPECT_TRUE(has(r.out, "--sparsity does not apply to --method " + std::string(m.name))) << r.out;
  }
}

TEST(CliOptions, ImpossibleCombinationsExitWith2BeforeAnyWork) {
  UsageFixture f;
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"--method squeezellm --bits 8 --stats " + f.stats, "takes 2, 3, 4 bits"},
      {"--method gptq --bits 4", "--method gptq needs --stats FILE"},
      {"--method smoothquant --bits 8", "--method smoothquant needs --stats FILE"},
      {"--method squeezellm --bits 3", "--method squeezellm needs --stats FILE"},
      {"--method squeezellm --bits 3 --sensitivity none --error-feedback", "--method squeezellm needs --stats FILE"},
      {"--method awq --bits 4", "--method awq needs --calib FILE"},
      {"--method gptq --bits 4 --stats " + f.stats + " --lm-head", "--lm-head does not apply to --method gptq"},
      {"--method smoothquant --bits 8 --stats " + f.stats + " --lm-head --act-quant per_tensor_static", "--lm-head with --act-quant per_tensor_static"},
      {"--method smoothquant --bits 8 --stats " + f.stats + " --act-quant per_channel", "one of per_token, per_tensor_dynamic, per_tensor_static"},
      {"--method rtn --bits 4 --no-smooth", "--smooth does not apply to --method rtn"},
      {"--method squeezellm --bits 3 --stats " + f.stats + " --solver kmeans", "--solver \"kmeans\" is not valid: one of exact, lloyd"},
      {"--method squeezellm --bits 3 --stats " + f.stats + " --sensitive-share 2", "--sensitive-share 2 is not valid: a number from 0 to 1"},
      {"--method gptq --bits 4 --stats " + f.stats + " --damp-percent -1", "--damp-percent -1 is not valid"},
      {"--method awq --bits 4 --calib " + f.calib + " --calib-tokens 0", "--calib-tokens 0 is not valid: an integer of at least 1"},
      {"--method bogus", "--method bogus is not valid: one of rtn, gptq, awq, nf4, smoothquant, squeezellm"},
  };
  for (const Case& c : cases) {
    const CmdResult r = run("quantize " + f.model + " -o " + f.out + " " + c.args);
    EXPECT_EQ(r.code, 2) << c.args << ": " << r.out;
    EXPECT_TRUE(has(r.out, c.message)) << c.args << ": " << r.out;
    EXPECT_TRUE(has(r.out, "sqz: usage error: ")) << r.out;
  }
  // A method whose format stores one width takes it without --bits; a width given must be that one.
  EXPECT_EQ(run("-q quantize " + f.model + " -o " + f.out + " --method nf4").code, 1);
  EXPECT_EQ(run("-q quantize " + f.model + " -o " + f.out + " --method smoothquant --stats " + f.stats).code, 1);
  EXPECT_EQ(run("-q quantize " + f.model + " -o " + f.out + " --method nf4 --bits 3").code, 2);
  // Without a Fisher weighting squeezellm needs no statistics: it gets as far as the missing model.
  EXPECT_EQ(run("-q quantize " + f.model + " -o " + f.out + " --method squeezellm --sensitivity none").code, 1);
  EXPECT_FALSE(fs::exists(f.out));

  // With a real checkpoint: refused before its first layer is quantized, nothing written (the issue's
  // --bits 5 used to quantize layer 0 and then fail inside the packing code with exit 1).
  const fs::path model = f.d.p / "m";
  write_tiny_hf_model(model.string(), tiny_config(), 1);
  for (const std::string args : {"--method rtn --bits 5", "--method gptq --bits 4", "--method awq --bits 8"}) {
    const CmdResult r = run("quantize " + model.string() + " -o " + f.out + " " + args);
    EXPECT_EQ(r.code, 2) << args << ": " << r.out;
    EXPECT_FALSE(has(r.out, "layer 1/")) << r.out;
    EXPECT_FALSE(fs::exists(f.out));
  }
}

// quantization_config holds quant_method, the recorded options that apply to the method (under their flag
// names), the format's keys, and the fields the driver measures; nothing else.
TEST(CliOptions, QuantizationConfigHasTheDeclaredKeys) {
  Dir d("qcfg");
  const fs::path model = d.p / "m";
  write_tiny_hf_model(model.string(), tiny_config(), 2);
  struct Case {
    std::string method, args;
  };
  for (const Case& c : {Case{"rtn", "--bits 4 --group-size 16 --clip-search"}, Case{"nf4", "--bits 4 --block-size 32 --double-quant"}}) {
    const fs::path out = d.p / c.method;
    const CmdResult r = run("-q quantize " + model.string() + " -o " + out.string() + " --method " + c.method + " " + c.args);
    ASSERT_EQ(r.code, 0) << r.out;
    nlohmann::json cfg;
    std::ifstream(out / "config.json") >> cfg;
    const nlohmann::json& q = cfg["quantization_config"];
    std::set<std::string> expected = {"quant_method", "sqz_version", "index_packing", "bpw_linear", "sparse_entries"};
    for (const std::string& k : option_json_keys<QuantOptions>(c.method)) expected.insert(k);
    QuantOptions o;
    o.method = c.method;
    o.bits = 4;
    o.double_quant = true;
    nlohmann::json format_keys;
    kernels::params_to_json(method(c.method).storage(), method(c.method).params(o), format_keys);
    for (const auto& [k, v] : format_keys.items()) expected.insert(k);
    std::set<std::string> got;
    for (const auto& [k, v] : q.items()) got.insert(k);
    EXPECT_EQ(got, expected) << q.dump();
    EXPECT_EQ(q["method"], c.method);
    EXPECT_EQ(q["quant_method"], c.method);
    EXPECT_EQ(q["bits"], 4);
    if (c.method == "rtn") {
      EXPECT_EQ(q["group_size"], 16);
      EXPECT_EQ(q["clip_search"], true);
      EXPECT_EQ(q["lm_head"], false);
      EXPECT_EQ(q["format"], "group");
    } else {
      EXPECT_EQ(q["block_size"], 32);
      EXPECT_EQ(q["double_quant"], true);
      EXPECT_EQ(q["format"], "nf4");
    }
  }
}

// The help lists each method with the widths its format stores, and the flags under their declared names
// with the older spellings.
TEST(CliOptions, HelpReadsTheMethodTableAndTheDeclarations) {
  const CmdResult r = run("quantize --help");
  EXPECT_EQ(r.code, 0) << r.out;
  for (const Method& m : method_table()) {
    const size_t at = r.out.find(std::string("  ") + m.name + " ");
    ASSERT_NE(at, std::string::npos) << m.name << ": " << r.out;
    EXPECT_EQ(r.out.find(m.storage().bits_list(), at), r.out.find_first_of("0123456789", at)) << m.name;
  }
  for (const char* flag : {"--group-size,--group", "--damp-percent,--percdamp", "--no-smooth ", "--error-feedback ", "--block-size", "--sparsity"})
    EXPECT_TRUE(has(r.out, flag)) << flag << ": " << r.out;
  EXPECT_TRUE(has(run("calibrate --help").out, "--calib,--data"));
  EXPECT_TRUE(has(run("calibrate --help").out, "--collect,--stats"));
  EXPECT_TRUE(has(run("finetune --help").out, "--calib,--data"));
  EXPECT_TRUE(has(run("train --help").out, "--text,--data"));
  const CmdResult cmp = run("compare --help");
  EXPECT_TRUE(has(cmp.out, "--calib ")) << cmp.out;  // compare's --data is the evaluation text: no alias
  EXPECT_FALSE(has(cmp.out, "--calib,--data")) << cmp.out;
  EXPECT_TRUE(has(cmp.out, "--group-size,--group")) << cmp.out;
}

TEST(CliOptions, CompareRefusesWidthsNoMethodTakesBeforeAnyWork) {
  UsageFixture f;
  const std::string base = "compare " + f.model + " --data " + f.calib + " --calib " + f.calib + " -o " + f.out;
  CmdResult r = run(base + " --methods rtn,gptq,awq --bits 4,5");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r.out, "--bits 5 is not valid: none of the methods takes it (rtn: 2, 3, 4, 8; gptq: 2, 3, 4, 8; awq: 2, 3, 4, 8)")) << r.out;
  r = run(base + " --methods rtn,bogus");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r.out, "--methods \"bogus\" is not valid")) << r.out;
  r = run(base + " --sparsity nan");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r.out, "a number from 0 to 50")) << r.out;
  EXPECT_FALSE(fs::exists(f.out));
}

// calibrate's older spellings (--data, --stats LIST, --ctx) and the new ones give the same statistics
// kinds; a statistics file without what a method reads is refused before the model is quantized.
TEST(CliOptions, CalibrateSpellingsAndMissingStatistics) {
  Dir d("calib");
  ModelConfig c = tiny_config();
  c.vocab_size = 96;
  c.max_seq_len = 64;
  const fs::path model = d.p / "m";
  write_tiny_hf_model(model.string(), c, 3);
  write_tiny_char_tokenizer((model / "tokenizer.bin").string(), c.vocab_size);
  std::string text;
  for (int i = 0; i < 20; ++i) text += "the quick brown fox jumps over the lazy dog " + std::to_string(i) + "\n";
  std::ofstream(d.p / "calib.txt") << text;
  const std::string calib = (d.p / "calib.txt").string(), hess = (d.p / "h.safetensors").string(),
                    act = (d.p / "a.safetensors").string();
  CmdResult r = run("-q calibrate " + model.string() + " --data " + calib + " --stats hessian --ctx 16 --nsamples 2 -o " + hess);
  ASSERT_EQ(r.code, 0) << r.out;
  r = run("-q calibrate " + model.string() + " --calib " + calib + " --collect act --calib-ctx 16 --nsamples 2 -o " + act);
  ASSERT_EQ(r.code, 0) << r.out;
  r = run("-q calibrate " + model.string() + " --calib " + calib + " --collect fisher,bogus -o " + act);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r.out, "--collect \"bogus\" is not valid: one of fisher, hessian, act")) << r.out;

  const fs::path out = d.p / "q";
  r = run("-q quantize " + model.string() + " -o " + out.string() + " --method smoothquant --bits 8 --stats " + hess);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_TRUE(has(r.out, "h.safetensors: has no activation statistics")) << r.out;
  r = run("-q quantize " + model.string() + " -o " + out.string() + " --method gptq --bits 4 --stats " + act);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_TRUE(has(r.out, "a.safetensors: has no layer-input Hessians")) << r.out;
  EXPECT_FALSE(fs::exists(out));
  r = run("-q quantize " + model.string() + " -o " + out.string() + " --method gptq --bits 4 --group 16 --percdamp 0.02 --stats " + hess);
  ASSERT_EQ(r.code, 0) << r.out;
  nlohmann::json cfg;
  std::ifstream(out / "config.json") >> cfg;
  EXPECT_EQ(cfg["quantization_config"]["group_size"], 16);
  EXPECT_DOUBLE_EQ(cfg["quantization_config"]["damp_percent"].get<double>(), 0.02);
}

TEST(Cli, FormatsListsEveryRowOfTheFormatTable) {
  const CmdResult r = run("formats --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  const auto rows = kernels::format_table();
  ASSERT_EQ(j.at("formats").size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const nlohmann::json& f = j["formats"][i];
    EXPECT_EQ(f.at("name"), rows[i].name);
    EXPECT_EQ(f.at("bits").get<std::vector<int>>(), rows[i].bits) << rows[i].name;
    EXPECT_EQ(f.at("doc"), rows[i].doc);
    ASSERT_FALSE(f.at("examples").empty()) << rows[i].name;
    // The example's size is the row's own byte count (a 4096 x 4096 matrix).
    const double bpw = f["examples"][0].at("bpw_4096x4096");
    EXPECT_GT(bpw, 1.0) << rows[i].name;
    EXPECT_LT(bpw, 10.0) << rows[i].name;
    EXPECT_EQ(f.at("kernels")[0], "scalar") << rows[i].name;  // every row has its reference
  }
  const CmdResult t = run("formats");
  EXPECT_EQ(t.code, 0);
  for (const auto& f : rows) EXPECT_TRUE(has(t.out, std::string(f.name) + " ")) << f.name;
}

// The sqz binary end to end: exit codes (0 ok, 1 runtime error, 2 usage error), one-line errors naming the
// file, no half-written outputs.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

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

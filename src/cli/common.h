// Shared pieces of the command-line front end: every command registers itself on the CLI11 app and
// returns the action to run after parsing.
#pragma once
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <functional>
#include <memory>
#include <string>

#include "model/llama.h"
#include "tokenizer/tokenizer.h"

namespace sqz::cli {

using Action = std::function<int()>;

struct GlobalOptions {
  int threads = 0;
  bool quiet = false;
};
GlobalOptions& globals();

// The subcommands, each in its own file.
Action add_ppl(CLI::App& app);
Action add_generate(CLI::App& app);
Action add_inspect(CLI::App& app);
Action add_bench(CLI::App& app);
Action add_quantize(CLI::App& app);
Action add_calibrate(CLI::App& app);
Action add_compare(CLI::App& app);
Action add_train(CLI::App& app);     // cmd_train.cpp
Action add_finetune(CLI::App& app);  // cmd_finetune.cpp
Action add_demo(CLI::App& app);      // cmd_demo.cpp
Action add_formats(CLI::App& app);   // cmd_formats.cpp

// The method table as --help text (cmd_quantize.cpp).
std::string method_table_help();

// Loads a model and its tokenizer, with a one-line note on stderr.
struct LoadedModel {
  std::unique_ptr<LlamaModel> model;
  std::unique_ptr<Tokenizer> tokenizer;
};
LoadedModel load_model_and_tokenizer(const std::string& path, const std::string& tokenizer_override,
                                     bool need_tokenizer = true);

}  // namespace sqz::cli

// sqz command line: parse, call, print. Exit codes: 0 ok, 1 runtime error, 2 usage error.
#include <fmt/format.h>

#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "cli/common.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/threads.h"

// OpenMP threads that spin-wait long after a parallel region steal the cores OpenBLAS's own threads need
// in the next GEMM (measured: 7x slower prefill of a small model on 2 cores). libgomp reads its spin
// count once, when it loads, so the only way to set it for ourselves is to restart with it in the
// environment; a user's own OMP_WAIT_POLICY / GOMP_SPINCOUNT is left alone.
static void limit_openmp_spinning(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
  setenv("GOMP_SPINCOUNT", "10000", 1);
  execv("/proc/self/exe", argv);  // returns only on failure: then run on as we are
}

int main(int argc, char** argv) {
  using namespace sqz;
  limit_openmp_spinning(argv);
  CLI::App app{"sqz: post-training quantization for LLaMA-family models (SqueezeLLM, GPTQ, AWQ, NF4, SmoothQuant)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("sqz ") + SQZ_VERSION);
  auto& g = cli::globals();
  app.add_option("--threads,-t", g.threads, "Threads (default: all cores)");
  app.add_flag("--quiet,-q", g.quiet, "No progress output on stderr");

  std::vector<std::pair<CLI::App*, cli::Action>> actions;
  auto reg = [&](cli::Action (*add)(CLI::App&)) {
    const size_t before = app.get_subcommands({}).size();
    cli::Action a = add(app);
    actions.emplace_back(app.get_subcommands({})[before], std::move(a));
  };
  reg(cli::add_inspect);
  reg(cli::add_formats);
  reg(cli::add_ppl);
  reg(cli::add_generate);
  reg(cli::add_bench);
  reg(cli::add_calibrate);
  reg(cli::add_quantize);
  reg(cli::add_compare);
  reg(cli::add_train);
  reg(cli::add_finetune);
  reg(cli::add_demo);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    set_quiet(g.quiet);
    set_num_threads(g.threads);
    for (auto& [sub, act] : actions)
      if (sub->parsed()) return act();
  } catch (const UsageError& e) {
    fmt::print(stderr, "sqz: usage error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "sqz: error: {}\n", e.what());
    return 1;
  }
  return 0;
}

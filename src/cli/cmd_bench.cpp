#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "core/threads.h"
#include "eval/bench.h"

namespace sqz::cli {

Action add_bench(CLI::App& app) {
  struct Opts {
    std::string model;
    BenchOptions b;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("bench", "Prefill and decode speed of a model (tokens/s, bytes/s)");
  c->add_option("model", o->model, "Checkpoint (fp16/fp32 or a quantized sqz directory)")->required();
  c->add_option("--prompt-tokens", o->b.prompt_tokens, "Prompt length for the prefill measurement")->capture_default_str();
  c->add_option("--gen-tokens", o->b.gen_tokens, "Tokens decoded one at a time")->capture_default_str();
  c->add_option("--repeats", o->b.repeats, "Runs; the best is reported")->capture_default_str();
  c->add_flag("--json", o->json, "Print one JSON object");
  return [o]() {
    LoadedModel m = load_model_and_tokenizer(o->model, "", false);
    BenchResult r = bench_model(*m.model, o->b);
    if (o->json) {
      nlohmann::json j = {{"model", o->model},
                          {"threads", num_threads()},
                          {"prompt_tokens", o->b.prompt_tokens},
                          {"gen_tokens", o->b.gen_tokens},
                          {"prefill_tokens_per_s", r.prefill_tokens_per_s},
                          {"decode_tokens_per_s", r.decode_tokens_per_s},
                          {"model_bytes", r.model_bytes},
                          {"decode_bytes_per_token", r.decode_bytes_per_token},
                          {"decode_bytes_per_s", r.decode_bytes_per_s}};
      fmt::print("{}\n", j.dump());
      return 0;
    }
    fmt::print("{}: {} threads\n", o->model, num_threads());
    fmt::print("  prefill {:>10.1f} tokens/s  ({} tokens)\n", r.prefill_tokens_per_s, o->b.prompt_tokens);
    fmt::print("  decode  {:>10.1f} tokens/s  ({} tokens)\n", r.decode_tokens_per_s, o->b.gen_tokens);
    fmt::print("  weights {:>10.2f} MiB, {:.2f} MiB read per decoded token, {:.2f} GB/s\n",
               (double)r.model_bytes / (1 << 20), (double)r.decode_bytes_per_token / (1 << 20), r.decode_bytes_per_s / 1e9);
    return 0;
  };
}

}  // namespace sqz::cli

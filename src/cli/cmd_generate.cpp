#include <cstdio>

#include "cli/common.h"
#include "eval/generate.h"

namespace sqz::cli {

Action add_generate(CLI::App& app) {
  struct Opts {
    std::string model, prompt, tokenizer;
    GenerateOptions g;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("generate", "Generate text from a prompt (streams to stdout)");
  c->add_option("model", o->model, "Checkpoint")->required();
  c->add_option("--prompt,-p", o->prompt, "Prompt text")->required();
  c->add_option("-n", o->g.max_new_tokens, "Tokens to generate")->capture_default_str();
  c->add_option("--temp", o->g.temperature, "Temperature (0: greedy)")->capture_default_str();
  c->add_option("--top-p", o->g.top_p, "Nucleus sampling mass")->capture_default_str();
  c->add_option("--seed", o->g.seed, "Sampling seed")->capture_default_str();
  c->add_option("--tokenizer", o->tokenizer, "Tokenizer file");
  return [o]() {
    LoadedModel m = load_model_and_tokenizer(o->model, o->tokenizer);
    std::vector<int> ids = m.tokenizer->encode(o->prompt, true);
    fmt::print("{}", o->prompt);
    std::fflush(stdout);
    GenerateResult r = generate(*m.model, ids, o->g, [&](int prev, int id) {
      if (id == m.tokenizer->eos_id()) return;
      fmt::print("{}", m.tokenizer->decode_token(prev, id));
      std::fflush(stdout);
    });
    fmt::print("\n");
    fmt::print(stderr, "prompt {} tokens in {:.3f}s ({:.1f} tokens/s); generated {} tokens in {:.3f}s ({:.1f} tokens/s)\n",
               r.prompt_tokens, r.prefill_seconds, r.prompt_tokens / std::max(r.prefill_seconds, 1e-9),
               r.tokens.size(), r.decode_seconds, r.tokens.size() / std::max(r.decode_seconds, 1e-9));
    return 0;
  };
}

}  // namespace sqz::cli

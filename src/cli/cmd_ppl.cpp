#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "core/progress.h"
#include "eval/perplexity.h"

namespace sqz::cli {

Action add_ppl(CLI::App& app) {
  struct Opts {
    std::string model, data, tokenizer, kl_ref;
    int64_t ctx = 0, max_windows = 0, max_chars = 0;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("ppl", "Perplexity on a text file (GPTQ/SqueezeLLM protocol)");
  c->add_option("model", o->model, "Checkpoint: HF directory, .gguf or llama2.c .bin")->required();
  c->add_option("--data", o->data, "Evaluation text file (e.g. wiki.test.raw)")->required()->check(CLI::ExistingFile);
  c->add_option("--ctx", o->ctx, "Window length in tokens (default: min(2048, model context))");
  c->add_option("--max-windows", o->max_windows, "Score only the first K windows");
  c->add_option("--max-chars", o->max_chars, "Use only the first N characters of the file");
  c->add_option("--tokenizer", o->tokenizer, "Tokenizer file (overrides the one found beside the model)");
  c->add_option("--kl-ref", o->kl_ref, "Also report the mean KL divergence from this model's predictions (e.g. the fp16 original)");
  c->add_flag("--json", o->json, "Print the result as one JSON object");
  return [o]() {
    LoadedModel m = load_model_and_tokenizer(o->model, o->tokenizer);
    const std::string text = read_eval_text(o->data, o->max_chars);
    const double t0 = now_seconds();
    std::vector<int> ids = m.tokenizer->encode(text, true);
    const double tok_s = now_seconds() - t0;
    PplOptions po;
    po.ctx = o->ctx > 0 ? o->ctx : std::min<int64_t>(2048, m.model->config().max_seq_len);
    po.max_windows = o->max_windows;
    po.progress = !quiet();
    PplResult r;
    double kl = -1;
    if (!o->kl_ref.empty()) {
      LoadedModel ref = load_model_and_tokenizer(o->kl_ref, "", false);
      KlResult k = perplexity_and_kl(*m.model, *ref.model, ids, po);
      r = k.ppl;
      kl = k.kl;
    } else {
      r = perplexity(*m.model, ids, po);
    }
    if (o->json) {
      nlohmann::json j = {{"model", o->model},       {"data", o->data},         {"ppl", r.ppl},
                          {"mean_nll", r.mean_nll},  {"ctx", r.ctx},            {"n_tokens", r.n_tokens},
                          {"windows", r.windows},    {"scored", r.scored},      {"seconds", r.seconds},
                          {"tokenize_seconds", tok_s}, {"tokens_per_s", r.tokens_per_s},
                          {"peak_rss_bytes", peak_rss_bytes()}};
      if (kl >= 0) j["kl"] = kl;
      fmt::print("{}\n", j.dump());
    } else {
      fmt::print("perplexity {:.4f}  (ctx {}, {} windows, {} scored of {} tokens)  {:.1f}s, {:.0f} tokens/s, peak RSS {:.0f} MiB\n",
                 r.ppl, r.ctx, r.windows, r.scored, r.n_tokens, r.seconds, r.tokens_per_s,
                 (double)peak_rss_bytes() / (1 << 20));
      if (kl >= 0) fmt::print("KL divergence from {}: {:.6f} nats/token\n", o->kl_ref, kl);
    }
    return 0;
  };
}

}  // namespace sqz::cli

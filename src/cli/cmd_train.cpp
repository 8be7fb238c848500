// `sqz train`: pretrain a small LLaMA model from scratch (tokenizer included) on text files.
#include <cmath>

#include "cli/common.h"
#include "cli/options.h"
#include "train/pretrain.h"

namespace sqz::cli {

Action add_train(CLI::App& app) {
  auto o = std::make_shared<train::PretrainOptions>();
  auto* c = app.add_subcommand("train", "Pretrain a small LLaMA model from scratch (SentencePiece tokenizer included)");
  c->add_option("-o,--output", o->out_dir, "Output Hugging Face directory")->required();
  add_options(c, *o);
  return [o]() {
    const train::PretrainReport r = train::pretrain(*o);
    fmt::print("wrote {}: {:.2f}M params, vocab {}, {} steps, held-out loss {:.4f} (ppl {:.2f}), {:.0f} tokens/s, {:.1f}s\n",
               o->out_dir, r.n_params / 1e6, r.vocab_size, r.steps, r.val_loss, std::exp(r.val_loss), r.tokens_per_s,
               r.seconds);
    return 0;
  };
}

}  // namespace sqz::cli

// `sqz train`: pretrain a small LLaMA model from scratch (tokenizer included) on text files.
#include <cmath>

#include "cli/common.h"
#include "train/pretrain.h"

namespace sqz::cli {

Action add_train(CLI::App& app) {
  auto o = std::make_shared<train::PretrainOptions>();
  auto* c = app.add_subcommand("train", "Pretrain a small LLaMA model from scratch (SentencePiece tokenizer included)");
  c->add_option("--data", o->data, "Training text files (UTF-8); the last 5% of the tokens are held out")
      ->required()->check(CLI::ExistingFile);
  c->add_option("-o,--output", o->out_dir, "Output Hugging Face directory")->required();
  c->add_option("--dim", o->dim, "Hidden size")->capture_default_str();
  c->add_option("--layers", o->layers, "Transformer blocks")->capture_default_str();
  c->add_option("--heads", o->heads, "Attention heads")->capture_default_str();
  c->add_option("--kv-heads", o->kv_heads, "Key/value heads (0: as many as --heads)")->capture_default_str();
  c->add_option("--hidden", o->hidden, "MLP size (0: about 8/3 dim)")->capture_default_str();
  c->add_option("--vocab", o->vocab, "Tokenizer vocabulary size")->capture_default_str();
  c->add_option("--ctx", o->ctx, "Tokens per training sequence (also the model's context)")->capture_default_str();
  c->add_option("--batch", o->batch, "Sequences per step")->capture_default_str();
  c->add_option("--steps", o->steps, "Optimizer steps")->capture_default_str();
  c->add_option("--lr", o->lr, "Peak learning rate (warmup, then cosine decay)")->capture_default_str();
  c->add_option("--seed", o->seed, "Seed of the initialisation and the batch sampler")->capture_default_str();
  c->add_option("--minutes", o->minutes, "Fit the run into this many minutes (fewer steps; not deterministic)");
  return [o]() {
    const train::PretrainReport r = train::pretrain(*o);
    fmt::print("wrote {}: {:.2f}M params, vocab {}, {} steps, held-out loss {:.4f} (ppl {:.2f}), {:.0f} tokens/s, {:.1f}s\n",
               o->out_dir, r.n_params / 1e6, r.vocab_size, r.steps, r.val_loss, std::exp(r.val_loss), r.tokens_per_s,
               r.seconds);
    return 0;
  };
}

}  // namespace sqz::cli

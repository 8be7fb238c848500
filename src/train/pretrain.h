// `sqz train`: pretraining a small LLaMA-architecture model from scratch on plain text. A SentencePiece BPE
// tokenizer (byte fallback) is trained on the text first; the model is then trained with the exact
// backward pass of model/backward.h and AdamW (train/optim.h), and written as a Hugging Face LLaMA
// directory (config.json, model.safetensors, tokenizer.model, tokenizer_config.json) that every sqz
// command loads. Deterministic for a given seed and thread count (unless `minutes` caps the run).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/options.h"
#include "model/backward.h"

namespace sqz::train {

struct PretrainOptions {
  std::vector<std::string> data;  // UTF-8 text files
  std::string out_dir;
  int dim = 128, layers = 4, heads = 4, kv_heads = 0 /* 0: = heads */, hidden = 0 /* 0: ~8/3 dim, multiple of 32 */;
  int vocab = 1024;   // requested; the tokenizer may end smaller on little text (the config says the real size)
  int ctx = 128;      // tokens per training sequence
  int batch = 8;      // sequences per step (gradients averaged)
  int64_t steps = 200;
  double lr = 3e-3, weight_decay = 0.1, warmup_fraction = 0.05;
  uint64_t seed = 1;
  double minutes = 0;         // > 0: fewer steps so that training fits in this time (not deterministic)
  double val_fraction = 0.05; // last share of the token stream, held out
  int64_t val_windows = 32;   // validation windows of ctx tokens
  bool progress = true;

  template <class V>
  static void declare(V&& v) {
    using P = PretrainOptions;
    v(&P::data, text_files_option("text", "Training text files (UTF-8); the last 5% of the tokens are held out", "data"));
    v(&P::dim, {.name = "dim", .help = "Hidden size"});
    v(&P::layers, {.name = "layers", .help = "Transformer blocks"});
    v(&P::heads, {.name = "heads", .help = "Attention heads"});
    v(&P::kv_heads, {.name = "kv-heads", .help = "Key/value heads (0: as many as --heads)"});
    v(&P::hidden, {.name = "hidden", .help = "MLP size (0: about 8/3 dim)"});
    v(&P::vocab, {.name = "vocab", .help = "Tokenizer vocabulary size"});
    v(&P::ctx, {.name = "ctx", .help = "Tokens per training sequence (also the model's context)"});
    v(&P::batch, {.name = "batch", .help = "Sequences per step"});
    v(&P::steps, {.name = "steps", .help = "Optimizer steps"});
    v(&P::lr, {.name = "lr", .help = "Peak learning rate (warmup, then cosine decay)"});
    v(&P::seed, {.name = "seed", .help = "Seed of the initialisation and the batch sampler"});
    v(&P::minutes, {.name = "minutes", .help = "Fit the run into this many minutes (fewer steps; not deterministic)"});
  }
};

struct PretrainReport {
  int64_t steps = 0, n_params = 0, train_tokens = 0, val_tokens = 0;
  int vocab_size = 0;
  double initial_val_loss = 0, val_loss = 0, last_train_loss = 0, seconds = 0, tokens_per_s = 0;
};

// Trains and writes opt.out_dir (atomically: a temporary directory renamed into place; an existing model
// directory there is replaced). Throws UsageError for bad options, Error for unreadable data.
PretrainReport pretrain(const PretrainOptions& opt);

// ---- the pieces, exposed for tests ----

// Trains a SentencePiece BPE model on `lines` and writes it to model_path (tokenizer.model).
void train_sentencepiece(const std::vector<std::string>& lines, int vocab_size, const std::string& model_path);

// LLaMA's initialisation: every matrix ~ N(0, 0.02^2), the residual projections (o, down) scaled by
// 1/sqrt(2 * layers) (GPT-2), norms 1. Untied head. Deterministic in seed on every platform.
DenseWeights<float> init_weights(const ModelConfig& cfg, uint64_t seed);

// Mean next-token loss over up to max_windows consecutive windows of ctx tokens.
double mean_loss(const DenseWeights<float>& w, const std::vector<int>& tokens, int ctx, int64_t max_windows);

// Writes config.json, model.safetensors (F32, HF names), tokenizer.model, tokenizer_config.json into dir.
void write_hf_llama(const DenseWeights<float>& w, const std::string& tokenizer_model, const std::string& dir);

}  // namespace sqz::train

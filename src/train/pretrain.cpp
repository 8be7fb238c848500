#include "train/pretrain.h"

#include <fmt/format.h>
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
#include "core/file_io.h"
#include "core/rng.h"
#include "core/progress.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "io/tensor_names.h"
#include "tokenizer/tokenizer.h"
#include "train/optim.h"

namespace fs = std::filesystem;

namespace sqz::train {

namespace {

// Feeds the trainer our lines directly (no temporary input file, no shell-quoting of paths).
class LineIterator : public sentencepiece::SentenceIterator {
 public:
  explicit LineIterator(const std::vector<std::string>& lines) : lines_(lines) {}
  bool done() const override { return i_ >= lines_.size(); }
  void Next() override { ++i_; }
  const std::string& value() const override { return lines_[i_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  const std::vector<std::string>& lines_;
  size_t i_ = 0;
};

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  size_t b = 0;
  while (b < text.size()) {
    size_t e = text.find('\n', b);
    if (e == std::string::npos) e = text.size();
    if (e > b) out.push_back(text.substr(b, e - b));
    b = e + 1;
  }
  return out;
}

// Every trainable array with its HF name and shape and the gradient array AdamW reads.
template <typename Fn>
void for_each_param(DenseWeights<float>& w, Gradients<float>& g, Fn&& fn) {
  const ModelConfig& c = w.cfg;
  const Shape table = {c.vocab_size, c.dim}, norm = {c.dim};
  fn(kEmbedding.hf, table, w.embed, g.embed, true);
  for (size_t l = 0; l < w.layers.size(); ++l) {
    fn(norm_name((int)l, kAttnNorm), norm, w.layers[l].attn_norm, g.layers[l].attn_norm, false);
    fn(norm_name((int)l, kFfnNorm), norm, w.layers[l].ffn_norm, g.layers[l].ffn_norm, false);
    for (int s = 0; s < kNumSlots; ++s)
      fn(linear_name((int)l, s) + ".weight", linear_shape(c, s), w.layers[l].W[s], g.layers[l].W[s], true);
  }
  fn(kFinalNorm.hf, norm, w.final_norm, g.final_norm, false);
  fn(kLmHead.hf, table, w.lm_head, g.lm_head, true);
}

void check_options(const PretrainOptions& o) {
  if (o.data.empty()) usage_fail("train: no --text files given");
  if (o.out_dir.empty()) usage_fail("train: no output directory (-o) given");
  if (o.dim <= 0 || o.layers <= 0 || o.heads <= 0) usage_fail("train: --dim, --layers and --heads must be positive");
  if (o.dim % o.heads != 0) usage_fail("train: --dim {} is not a multiple of --heads {}", o.dim, o.heads);
  if ((o.dim / o.heads) % 2 != 0) usage_fail("train: head size {} (dim / heads) must be even for RoPE", o.dim / o.heads);
  const int kv = o.kv_heads > 0 ? o.kv_heads : o.heads;
  if (o.heads % kv != 0) usage_fail("train: --heads {} is not a multiple of --kv-heads {}", o.heads, kv);
  if (o.vocab < 300) usage_fail("train: --vocab {} is too small (the 256 byte-fallback tokens and 3 specials need room)", o.vocab);
  if (o.ctx < 8) usage_fail("train: --ctx {} is too short (at least 8)", o.ctx);
  if (o.batch <= 0 || o.steps <= 0) usage_fail("train: --batch and --steps must be positive");
  if (!(o.lr > 0) || !std::isfinite(o.lr)) usage_fail("train: --lr must be a positive number");
  if (o.minutes < 0) usage_fail("train: --minutes must not be negative");
}

}  // namespace

void train_sentencepiece(const std::vector<std::string>& lines, int vocab_size, const std::string& model_path) {
  if (lines.empty()) fail("train: no text to train the tokenizer on");
  // LLaMA's tokenizer settings: BPE, byte fallback (no unknown text), digits split, text kept as is.
  // One thread and unshuffled input make the result depend on the text alone.
  const std::unordered_map<std::string, std::string> args = {
      {"model_type", "bpe"},
      {"vocab_size", std::to_string(vocab_size)},
      {"byte_fallback", "true"},
      {"split_digits", "true"},
      {"character_coverage", "1.0"},
      {"normalization_rule_name", "identity"},
      {"remove_extra_whitespaces", "false"},
      {"add_dummy_prefix", "true"},
      {"allow_whitespace_only_pieces", "true"},
      {"unk_id", "0"},
      {"bos_id", "1"},
      {"eos_id", "2"},
      {"pad_id", "-1"},
      {"num_threads", "1"},
      {"shuffle_input_sentence", "false"},
      {"input_sentence_size", "0"},
      {"max_sentence_length", "65536"},
      {"hard_vocab_limit", "false"},
      {"minloglevel", "2"},
      {"model_prefix", ""},
  };
  sentencepiece::SetRandomGeneratorSeed(1);
  LineIterator it(lines);
  std::string proto;
  const auto st = sentencepiece::SentencePieceTrainer::Train(args, &it, &proto);
  if (!st.ok()) fail("train: SentencePiece training failed: {}", st.ToString());
  write_file_atomic(model_path, proto);
}

DenseWeights<float> init_weights(const ModelConfig& c, uint64_t seed) {
  DenseWeights<float> w;
  w.cfg = c;
  uint64_t stream = seed * 1000003ull;
  auto normal = [&](size_t n, float scale) { return random_normal(n, ++stream, scale); };
  const float std0 = 0.02f, std_resid = 0.02f / std::sqrt(2.0f * (float)c.n_layers);
  w.embed = normal((size_t)c.vocab_size * c.dim, std0);
  for (int l = 0; l < c.n_layers; ++l) {
    DenseWeights<float>::Layer L;
    L.attn_norm.assign((size_t)c.dim, 1.f);
    L.ffn_norm.assign((size_t)c.dim, 1.f);
    for (int s = 0; s < kNumSlots; ++s)
      L.W[s] = normal((size_t)shape_numel(linear_shape(c, s)), s == kO || s == kDown ? std_resid : std0);
    w.layers.push_back(std::move(L));
  }
  w.final_norm.assign((size_t)c.dim, 1.f);
  w.lm_head = normal((size_t)c.vocab_size * c.dim, std0);
  return w;
}

double mean_loss(const DenseWeights<float>& w, const std::vector<int>& tokens, int ctx, int64_t max_windows) {
  double sum = 0;
  int64_t k = 0;
  for (size_t b = 0; b + (size_t)ctx <= tokens.size() && (max_windows <= 0 || k < max_windows); b += (size_t)ctx, ++k)
    sum += loss_and_grad<float>(w, tokens.data() + b, ctx, nullptr);
  if (k == 0) fail("train: the held-out text has fewer than {} tokens; give more text", ctx);
  return sum / (double)k;
}

void write_hf_llama(const DenseWeights<float>& w, const std::string& tokenizer_model, const std::string& dir) {
  const ModelConfig& c = w.cfg;
  fs::create_directories(dir);
  nlohmann::json cfg = to_hf_config(c);
  cfg["torch_dtype"] = "float32";
  write_file_atomic(dir + "/config.json", cfg.dump(2) + "\n");
  SafetensorsWriter st;
  Gradients<float> unused(w);  // for_each_param wants a gradient too; only the names and weights are read
  DenseWeights<float>& mw = const_cast<DenseWeights<float>&>(w);
  for_each_param(mw, unused, [&](const std::string& name, const Shape& shape, std::vector<float>& p,
                                  std::vector<float>&, bool) { st.add_f32(name, shape, p); });
  st.set_metadata("format", "pt");
  st.write(dir + "/model.safetensors");
  write_file_atomic(dir + "/tokenizer.model", read_text_file(tokenizer_model));
  const nlohmann::json tc = {{"tokenizer_class", "LlamaTokenizer"}, {"bos_token", "<s>"}, {"eos_token", "</s>"},
                             {"unk_token", "<unk>"}, {"add_bos_token", true}, {"add_eos_token", false},
                             {"model_max_length", c.max_seq_len}, {"legacy", false}};
  write_file_atomic(dir + "/tokenizer_config.json", tc.dump(2) + "\n");
}

PretrainReport pretrain(const PretrainOptions& opt) {
  check_options(opt);
  const double t0 = now_seconds();
  PretrainReport rep;
  // Text: every file, line by line for the tokenizer; whole files for the token stream (as `sqz ppl`
  // encodes its evaluation text: one encode with BOS).
  std::vector<std::string> texts, lines;
  for (const auto& f : opt.data) {
    if (!fs::is_regular_file(f)) fail("{}: training text not found", f);
    std::string t = read_text_file(f);
    if (t.find_first_not_of(" \t\r\n") == std::string::npos) fail("{}: training text is empty", f);
    for (auto& l : split_lines(t)) lines.push_back(std::move(l));
    texts.push_back(std::move(t));
  }

  const fs::path out(opt.out_dir);
  if (fs::exists(out) && (!fs::is_directory(out) || (!fs::is_empty(out) && !fs::exists(out / "config.json"))))
    fail("{}: exists and is not a model directory; not overwriting it", out.string());
  AtomicDir dir(out.string());  // removed again if training fails
  const fs::path tmp(dir.path());
  const std::string spm_path = (tmp / "tokenizer.model").string();
  if (opt.progress && !quiet()) fmt::print(stderr, "train: tokenizer (BPE, {} pieces) on {} lines\n", opt.vocab, lines.size());
  train_sentencepiece(lines, opt.vocab, spm_path);
  const auto tok = load_sentencepiece(spm_path);
  std::vector<int> stream;
  for (const auto& t : texts) {
    const std::vector<int> ids = tok->encode(t, true);
    stream.insert(stream.end(), ids.begin(), ids.end());
  }
  const int64_t n_val = std::max<int64_t>((int64_t)(stream.size() * opt.val_fraction), opt.ctx);
  if ((int64_t)stream.size() < n_val + 2 * opt.ctx)
    fail("train: the text gives only {} tokens; need at least {} (more text or a smaller --ctx)", stream.size(),
         n_val + 2 * opt.ctx);
  const std::vector<int> train_ids(stream.begin(), stream.end() - n_val), val_ids(stream.end() - n_val, stream.end());
  rep.train_tokens = (int64_t)train_ids.size();
  rep.val_tokens = (int64_t)val_ids.size();

  ModelConfig c;
  c.arch = "llama";
  c.dim = opt.dim;
  c.n_layers = opt.layers;
  c.n_heads = opt.heads;
  c.n_kv_heads = opt.kv_heads > 0 ? opt.kv_heads : opt.heads;
  c.head_dim = opt.dim / opt.heads;
  c.hidden_dim = opt.hidden > 0 ? opt.hidden : (8 * opt.dim / 3 + 31) / 32 * 32;
  c.vocab_size = tok->vocab_size();
  c.max_seq_len = opt.ctx;
  c.bos_id = tok->bos_id();
  c.eos_id = tok->eos_id();
  c.validate(opt.out_dir);
  rep.vocab_size = c.vocab_size;

  DenseWeights<float> w = init_weights(c, opt.seed);
  Gradients<float> acc(w), one(w);
  acc.embed.assign(w.embed.size(), 0.f);
  one.embed.assign(w.embed.size(), 0.f);
  for_each_param(w, acc, [&](const std::string&, const Shape&, std::vector<float>& p, std::vector<float>&, bool) {
    rep.n_params += (int64_t)p.size();
  });

  std::mt19937_64 rng(opt.seed);
  const int64_t max_start = (int64_t)train_ids.size() - opt.ctx;
  auto train_batch = [&]() {
    acc.zero();
    double loss = 0;
    for (int b = 0; b < opt.batch; ++b) {
      const int64_t start = (int64_t)(rng() % (uint64_t)(max_start + 1));
      loss += loss_and_grad<float>(w, train_ids.data() + start, opt.ctx, &one);
      // acc += one / batch, array by array in a fixed order (deterministic).
      const float s = 1.f / (float)opt.batch;
      auto add = [s](std::vector<float>& a, const std::vector<float>& g) {
        for (size_t i = 0; i < a.size(); ++i) a[i] += s * g[i];
      };
      add(acc.embed, one.embed);
      for (size_t l = 0; l < acc.layers.size(); ++l) {
        add(acc.layers[l].attn_norm, one.layers[l].attn_norm);
        add(acc.layers[l].ffn_norm, one.layers[l].ffn_norm);
        for (int k = 0; k < kNumSlots; ++k) add(acc.layers[l].W[k], one.layers[l].W[k]);
      }
      add(acc.final_norm, one.final_norm);
      add(acc.lm_head, one.lm_head);
    }
    return loss / opt.batch;
  };

  int64_t total = opt.steps;
  const std::mt19937_64 rng_start = rng;
  // With a time budget the schedule's length is a running estimate: first from two timed batches (their
  // updates discarded, the sampler rewound), then re-estimated from the measured rate every 10 steps, so
  // the cosine decay ends when the time does, whatever else shares the CPU.
  const double deadline = t0 + opt.minutes * 60.0;
  auto steps_that_fit = [&](int64_t done, double per_step) {
    return std::clamp<int64_t>(done + (int64_t)((deadline - now_seconds()) / per_step), std::max<int64_t>(done, 1), opt.steps);
  };
  if (opt.minutes > 0) {
    const double ts = now_seconds();
    train_batch();
    train_batch();
    total = steps_that_fit(0, (now_seconds() - ts) / 2);
    rng = rng_start;
  }
  const int64_t val_windows = opt.val_windows;
  rep.initial_val_loss = mean_loss(w, val_ids, opt.ctx, val_windows);
  if (opt.progress && !quiet())
    fmt::print(stderr, "train: {:.2f}M params, {} train / {} held-out tokens, {} steps x {} x {} tokens, initial held-out loss {:.3f}\n",
               rep.n_params / 1e6, rep.train_tokens, rep.val_tokens, total, opt.batch, opt.ctx, rep.initial_val_loss);

  AdamWConfig ac;
  ac.lr = opt.lr;
  ac.weight_decay = opt.weight_decay;
  ac.total_steps = total;
  ac.warmup_steps = std::max<int64_t>(1, (int64_t)(opt.warmup_fraction * (double)total));
  AdamW adam(ac);
  for_each_param(w, acc, [&](const std::string& name, const Shape&, std::vector<float>& p, std::vector<float>& g,
                            bool decay) {
    adam.add(name, p.data(), g.data(), (int64_t)p.size(), decay);
  });
  double last_print = -1e9;
  const double t_train = now_seconds();
  double ema = 0;
  for (int64_t s = 0; s < total; ++s) {
    const double loss = train_batch();
    adam.step();
    if (opt.minutes > 0 && (s + 1) % 10 == 0) {
      total = steps_that_fit(s + 1, (now_seconds() - t_train) / (double)(s + 1));
      adam.set_total_steps(total);
    }
    ema = s == 0 ? loss : 0.9 * ema + 0.1 * loss;
    rep.last_train_loss = loss;
    const double now = now_seconds(), el = now - t_train;
    // Own progress line (not core/Progress): the total can move when the run is time-bounded.
    if (opt.progress && !quiet() && (now - last_print >= 2.0 || s + 1 == total)) {
      last_print = now;
      fmt::print(stderr, "train step {}/{}  loss {:.3f} (avg {:.3f})  lr {:.2e}  {:.0f} tok/s  elapsed {:.0f}s  ETA {:.0f}s\n",
                 s + 1, total, loss, ema, adam.current_lr(), (double)(s + 1) * opt.batch * opt.ctx / std::max(el, 1e-9),
                 el, el / (double)(s + 1) * (double)(total - s - 1));
    }
  }
  rep.steps = total;
  const double train_s = now_seconds() - t_train;
  rep.tokens_per_s = (double)total * opt.batch * opt.ctx / std::max(train_s, 1e-9);
  rep.val_loss = mean_loss(w, val_ids, opt.ctx, val_windows);

  write_hf_llama(w, spm_path, tmp.string());
  rep.seconds = now_seconds() - t0;
  const nlohmann::json info = {
      {"steps", rep.steps}, {"batch", opt.batch}, {"ctx", opt.ctx}, {"lr", opt.lr}, {"seed", opt.seed},
      {"n_params", rep.n_params}, {"vocab_size", rep.vocab_size}, {"train_tokens", rep.train_tokens},
      {"val_tokens", rep.val_tokens}, {"initial_val_loss", rep.initial_val_loss}, {"val_loss", rep.val_loss},
      {"last_train_loss", rep.last_train_loss}, {"tokens_per_s", rep.tokens_per_s}, {"data", opt.data}};
  write_file_atomic((tmp / "sqz_train.json").string(), info.dump(2) + "\n");
  // Into place: an existing model directory (or an empty one) is replaced, anything else is refused.
  if (fs::exists(out) && (!fs::is_directory(out) || (!fs::is_empty(out) && !fs::exists(out / "config.json"))))
    fail("{}: exists and is not a model directory; not overwriting it", out.string());
  dir.commit();
  if (opt.progress && !quiet())
    fmt::print(stderr, "train: held-out loss {:.3f} -> {:.3f} (ppl {:.2f}); wrote {} in {:.1f}s\n", rep.initial_val_loss,
               rep.val_loss, std::exp(rep.val_loss), out.string(), rep.seconds);
  return rep;
}

}  // namespace sqz::train

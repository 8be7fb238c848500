#include "cli/common.h"

#include "core/progress.h"

namespace sqz::cli {

GlobalOptions& globals() {
  static GlobalOptions g;
  return g;
}

LoadedModel load_model_and_tokenizer(const std::string& path, const std::string& tokenizer_override,
                                     bool need_tokenizer) {
  const double t0 = now_seconds();
  LoadedModel m;
  std::shared_ptr<const Checkpoint> ck = open_checkpoint(path);
  m.model = std::make_unique<LlamaModel>(ck);
  if (need_tokenizer) m.tokenizer = load_tokenizer(*ck, tokenizer_override);
  if (!quiet())
    fmt::print(stderr, "loaded {} ({} layers, dim {}, {:.2f}M params) in {:.2f}s\n", path, ck->config.n_layers,
               ck->config.dim, (double)m.model->n_params() / 1e6, now_seconds() - t0);
  return m;
}

}  // namespace sqz::cli

#include <nlohmann/json.hpp>

#include "cli/common.h"

namespace sqz::cli {

Action add_inspect(CLI::App& app) {
  struct Opts {
    std::string model;
    bool json = false, tensors = true;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("inspect", "Architecture, parameters, tensors and bits per weight of a checkpoint");
  c->add_option("model", o->model, "Checkpoint")->required();
  c->add_flag("--json", o->json, "Print one JSON object");
  return [o]() {
    LoadedModel m = load_model_and_tokenizer(o->model, "", false);
    const Checkpoint& ck = *m.model->checkpoint();
    const ModelConfig& cf = m.model->config();
    int64_t lin_params = 0;
    size_t lin_bytes = 0;
    std::map<std::string, int> formats;
    for (const auto& L : m.model->layers())
      for (const Linear* l : L.linears()) {
        lin_params += l->in_features() * l->out_features();
        lin_bytes += l->weight_bytes();
        formats[l->format()]++;
      }
    size_t tensor_bytes = 0;
    for (const auto& [n, t] : ck.tensors()) tensor_bytes += t.nbytes;
    const int64_t params = m.model->n_params();
    const double bpw_all = 8.0 * (double)tensor_bytes / (double)params;
    const double bpw_lin = 8.0 * (double)lin_bytes / (double)lin_params;
    const char* fmt_name = ck.format == CheckpointFormat::HfDir ? "hf" : ck.format == CheckpointFormat::Gguf ? "gguf" : "llama2c";
    if (o->json) {
      nlohmann::json j;
      j["path"] = o->model;
      j["format"] = fmt_name;
      j["arch"] = cf.arch;
      j["config"] = {{"dim", cf.dim},           {"hidden_dim", cf.hidden_dim}, {"n_layers", cf.n_layers},
                     {"n_heads", cf.n_heads},   {"n_kv_heads", cf.n_kv_heads}, {"head_dim", cf.head_dim},
                     {"vocab_size", cf.vocab_size}, {"max_seq_len", cf.max_seq_len}, {"rope_theta", cf.rope_theta},
                     {"norm_eps", cf.norm_eps}, {"tied_embeddings", cf.tied_embeddings},
                     {"rope_layout", cf.rope_layout == RopeLayout::RotateHalf ? "rotate_half" : "interleaved"}};
      j["n_params"] = params;
      j["tensor_bytes"] = tensor_bytes;
      j["file_bytes"] = ck.file_bytes();
      j["bpw"] = bpw_all;
      j["linear_bpw"] = bpw_lin;
      j["linear_formats"] = formats;
      if (!ck.quantization_config.is_null()) j["quantization_config"] = ck.quantization_config;
      nlohmann::json ts = nlohmann::json::array();
      for (const auto& [n, t] : ck.tensors())
        ts.push_back({{"name", n}, {"shape", t.shape}, {"dtype", dtype_name(t.dtype)}, {"bytes", t.nbytes}});
      j["tensors"] = ts;
      fmt::print("{}\n", j.dump(1));
      return 0;
    }
    fmt::print("{} ({} checkpoint, arch {})\n", o->model, fmt_name, cf.arch);
    fmt::print("  dim {}  hidden {}  layers {}  heads {} (kv {}, head_dim {})  vocab {}  ctx {}\n", cf.dim, cf.hidden_dim,
               cf.n_layers, cf.n_heads, cf.n_kv_heads, cf.head_dim, cf.vocab_size, cf.max_seq_len);
    fmt::print("  rope theta {} ({})  rms eps {}  tied head {}\n", cf.rope_theta,
               cf.rope_layout == RopeLayout::RotateHalf ? "rotate-half" : "interleaved", cf.norm_eps, cf.tied_embeddings);
    fmt::print("  parameters {} ({:.2f}M)\n", params, (double)params / 1e6);
    if (!ck.quantization_config.is_null()) fmt::print("  quantization_config {}\n", ck.quantization_config.dump());
    std::string fl;
    for (const auto& [f, n] : formats) fl += fmt::format(" {}x{}", n, f);
    fmt::print("  linear layers:{}  ({:.3f} bits/weight)\n", fl, bpw_lin);
    fmt::print("  tensors: {} bytes  ({:.3f} bits/weight over all parameters); files {} bytes\n", tensor_bytes, bpw_all,
               ck.file_bytes());
    fmt::print("  {:<56} {:>16} {:>6} {:>12}\n", "tensor", "shape", "dtype", "bytes");
    for (const auto& [n, t] : ck.tensors())
      fmt::print("  {:<56} {:>16} {:>6} {:>12}\n", n, shape_str(t.shape), t.packed_format.empty() ? std::string(dtype_name(t.dtype)) : t.packed_format, t.nbytes);
    return 0;
  };
}

}  // namespace sqz::cli

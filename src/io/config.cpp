#include "io/config.h"

#include "core/error.h"
#include "core/file_io.h"

namespace sqz {

namespace {

using json = nlohmann::json;

// A required positive-or-any integer field; the error names the file and the key.
int get_int(const json& j, const char* key, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) fail("{}: missing \"{}\"", source, key);
  if (!it->is_number_integer()) fail("{}: \"{}\" must be an integer, got {}", source, key, it->dump());
  const int64_t v = it->get<int64_t>();
  if (v < INT32_MIN || v > INT32_MAX) fail("{}: \"{}\" = {} is out of range", source, key, v);
  return (int)v;
}

int get_int_or(const json& j, const char* key, int def, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  return get_int(j, key, source);
}

float get_float_or(const json& j, const char* key, float def, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_number()) fail("{}: \"{}\" must be a number, got {}", source, key, it->dump());
  return it->get<float>();
}

bool get_bool_or(const json& j, const char* key, bool def, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_boolean()) fail("{}: \"{}\" must be true or false, got {}", source, key, it->dump());
  return it->get<bool>();
}

// bos/eos ids: an integer, or a list whose first entry is used (HF allows several eos ids). Absent or
// null keeps the default.
int get_token_id_or(const json& j, const char* key, int def, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  const json& v = it->is_array() ? (it->empty() ? json() : it->front()) : *it;
  if (v.is_null()) return def;
  if (!v.is_number_integer()) fail("{}: \"{}\" must be a token id, got {}", source, key, it->dump());
  return v.get<int>();
}

// Anything other than plain RoPE would silently change every logit, so refuse it.
void check_rope_scaling(const json& j, const std::string& source) {
  auto it = j.find("rope_scaling");
  if (it == j.end() || it->is_null()) return;
  std::string type = "?";
  if (it->is_object()) {
    auto t = it->contains("rope_type") ? it->find("rope_type") : it->find("type");
    if (t != it->end() && t->is_string()) type = t->get<std::string>();
  }
  if (type == "default") return;
  fail("{}: rope_scaling of type \"{}\" is not supported", source, type);
}

// HF checkpoints use rotate-half pairing. sqz's own conversions of GGUF/llama2.c files keep their q/k rows
// and say so with a non-standard "rope_layout": "interleaved" (see to_hf_config).
RopeLayout parse_rope_layout(const json& j, const std::string& source) {
  auto it = j.find("rope_layout");
  if (it == j.end() || it->is_null()) return RopeLayout::RotateHalf;
  if (*it == "interleaved") return RopeLayout::Interleaved;
  if (*it == "rotate_half") return RopeLayout::RotateHalf;
  fail("{}: rope_layout {} is not \"interleaved\" or \"rotate_half\"", source, it->dump());
}

void check_activation(const json& j, const std::string& source) {
  auto it = j.find("hidden_act");
  if (it == j.end() || it->is_null()) return;
  if (!it->is_string() || (*it != "silu" && *it != "swish"))
    fail("{}: hidden_act {} is not supported (only silu)", source, it->dump());
}

}  // namespace

void ModelConfig::validate(const std::string& source) const {
  auto positive = [&](const char* what, int64_t v) {
    if (v <= 0) fail("{}: {} must be positive, got {}", source, what, v);
  };
  positive("hidden size (dim)", dim);
  positive("intermediate size", hidden_dim);
  positive("number of layers", n_layers);
  positive("number of attention heads", n_heads);
  positive("number of key/value heads", n_kv_heads);
  positive("head dim", head_dim);
  positive("vocab size", vocab_size);
  positive("max sequence length", max_seq_len);
  if (n_heads % n_kv_heads != 0)
    fail("{}: {} attention heads are not a multiple of {} key/value heads", source, n_heads, n_kv_heads);
  // RoPE rotates pairs of dimensions, so a head must have an even number of them.
  if (head_dim % 2 != 0) fail("{}: head dim {} must be even (RoPE rotates pairs)", source, head_dim);
  if (!(norm_eps > 0.0f)) fail("{}: rms norm epsilon must be positive, got {}", source, norm_eps);
  if (!(rope_theta > 0.0f)) fail("{}: rope theta must be positive, got {}", source, rope_theta);
  if (bos_id >= vocab_size) fail("{}: bos token id {} is outside the vocabulary ({})", source, bos_id, vocab_size);
  if (eos_id >= vocab_size) fail("{}: eos token id {} is outside the vocabulary ({})", source, eos_id, vocab_size);
}

ModelConfig parse_hf_config(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) fail("{}: expected a JSON object", source);
  auto mt = j.find("model_type");
  if (mt == j.end() || !mt->is_string()) fail("{}: missing \"model_type\" (expected llama, mistral or qwen2)", source);
  const std::string type = mt->get<std::string>();
  if (type != "llama" && type != "mistral" && type != "qwen2")
    fail("{}: unsupported model_type \"{}\" (expected llama, mistral or qwen2)", source, type);

  ModelConfig c;
  c.arch = type;
  c.dim = get_int(j, "hidden_size", source);
  c.hidden_dim = get_int(j, "intermediate_size", source);
  c.n_layers = get_int(j, "num_hidden_layers", source);
  c.n_heads = get_int(j, "num_attention_heads", source);
  c.n_kv_heads = get_int_or(j, "num_key_value_heads", c.n_heads, source);
  c.vocab_size = get_int(j, "vocab_size", source);
  if (c.n_heads > 0 && j.value("head_dim", json()).is_null() && c.dim % c.n_heads != 0)
    fail("{}: hidden_size {} is not a multiple of num_attention_heads {} (and no head_dim)", source, c.dim, c.n_heads);
  c.head_dim = get_int_or(j, "head_dim", c.n_heads > 0 ? c.dim / c.n_heads : 0, source);
  c.max_seq_len = get_int_or(j, "max_position_embeddings", c.max_seq_len, source);
  // transformers' defaults for these three families, used when the file leaves the key out.
  c.norm_eps = get_float_or(j, "rms_norm_eps", 1e-6f, source);
  c.rope_theta = get_float_or(j, "rope_theta", 10000.0f, source);
  c.tied_embeddings = get_bool_or(j, "tie_word_embeddings", false, source);
  if (type == "qwen2") {
    // Qwen2 always has q/k/v biases and never an o_proj bias, whatever the config says.
    c.attn_bias = true;
    c.attn_out_bias = false;
  } else if (type == "llama") {
    // LlamaAttention puts attention_bias on all four projections.
    c.attn_bias = c.attn_out_bias = get_bool_or(j, "attention_bias", false, source);
    c.mlp_bias = get_bool_or(j, "mlp_bias", false, source);
  }
  c.bos_id = get_token_id_or(j, "bos_token_id", c.bos_id, source);
  c.eos_id = get_token_id_or(j, "eos_token_id", c.eos_id, source);
  c.rope_layout = parse_rope_layout(j, source);
  check_rope_scaling(j, source);
  check_activation(j, source);
  c.validate(source);
  return c;
}

ModelConfig load_hf_config(const std::string& path) {
  const std::string text = read_text_file(path);
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) fail("{}: invalid JSON", path);
  return parse_hf_config(j, path);
}

}  // namespace sqz

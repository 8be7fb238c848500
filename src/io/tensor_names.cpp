#include "io/tensor_names.h"

#include <fmt/format.h>

namespace sqz {

int64_t width(const ModelConfig& c, Width w) {
  switch (w) {
    case Width::Model: return c.dim;
    case Width::Q: return c.q_dim();
    case Width::KV: return c.kv_dim();
    case Width::Hidden: return c.hidden_dim;
  }
  return 0;
}

std::string layer_prefix(int layer) { return fmt::format("model.layers.{}.", layer); }
std::string linear_name(int layer, int slot) { return layer_prefix(layer) + slot_name(slot); }
std::string norm_name(int layer, int norm) { return layer_prefix(layer) + kLayerNorms[(size_t)norm].hf + ".weight"; }

namespace {

constexpr TensorNames kGlobals[] = {kEmbedding, kFinalNorm, kLmHead};

// Per-layer name parts: blk.{i}.{gguf}{suffix} <-> model.layers.{i}.{hf}{suffix}.
std::vector<TensorNames> layer_parts() {
  std::vector<TensorNames> p(kLayerNorms.begin(), kLayerNorms.end());
  for (const LinearSpec& l : kLinears) p.push_back({l.hf, l.gguf});
  return p;
}

// Splits "PREFIX{digits}.REST" into (digits, REST).
std::optional<std::pair<std::string, std::string>> split_layer(const std::string& name, const std::string& prefix) {
  if (name.rfind(prefix, 0) != 0) return std::nullopt;
  const size_t dot = name.find('.', prefix.size());
  if (dot == std::string::npos || dot == prefix.size()) return std::nullopt;
  std::string layer = name.substr(prefix.size(), dot - prefix.size());
  if (layer.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::pair{std::move(layer), name.substr(dot + 1)};
}

// Maps a name one way: `from` and `to` pick the side (TensorNames::hf or ::gguf) of the table.
std::optional<std::string> rename(const std::string& name, const char* TensorNames::*from, const char* TensorNames::*to,
                                  const std::string& from_prefix, const std::string& to_prefix) {
  for (const TensorNames& g : kGlobals)
    if (name == g.*from) return std::string(g.*to);
  const auto split = split_layer(name, from_prefix);
  if (!split) return std::nullopt;
  const auto& [layer, rest] = *split;
  static const std::vector<TensorNames> parts = layer_parts();
  for (const TensorNames& p : parts)
    for (const char* suffix : {".weight", ".bias"})
      if (rest == std::string(p.*from) + suffix) return to_prefix + layer + "." + p.*to + suffix;
  return std::nullopt;
}

}  // namespace

std::optional<std::string> hf_name_of_gguf(const std::string& gguf) {
  return rename(gguf, &TensorNames::gguf, &TensorNames::hf, "blk.", "model.layers.");
}

std::optional<std::string> gguf_name_of_hf(const std::string& hf) {
  return rename(hf, &TensorNames::hf, &TensorNames::gguf, "model.layers.", "blk.");
}

}  // namespace sqz

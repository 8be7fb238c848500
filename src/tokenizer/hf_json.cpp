// Hugging Face tokenizer.json with a byte-level BPE model (GPT-2, LLaMA-3, Qwen2). Only the parts that
// change the ids are read: model.vocab/merges/ignore_merges, added_tokens, pre_tokenizer, and where BOS
// and EOS come from (post_processor, else tokenizer_config.json beside the file, else well-known names).
#include <cctype>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "core/error.h"
#include "core/file_io.h"
#include "tokenizer/vocab.h"

namespace sqz {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

bool get_bool(const json& j, const char* key, bool def) {
  auto it = j.find(key);
  return it == j.end() || !it->is_boolean() ? def : it->get<bool>();
}

std::string get_str(const json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || !it->is_string() ? "" : it->get<std::string>();
}

// A literal string as a PCRE2 pattern (Split pre-tokenizers may give {"String": " "}).
std::string regex_escape(const std::string& s) {
  std::string r;
  for (char c : s) {
    const unsigned char u = (unsigned char)c;
    if (u < 0x80 && !std::isalnum(u)) r += '\\';
    r += c;
  }
  return r;
}

// Appends the regexes of a pre_tokenizer (nested Sequences included) to spec.split_patterns.
void parse_pre_tokenizer(const json& p, ByteBpeSpec& spec, bool& byte_level) {
  if (p.is_null()) return;
  const std::string type = get_str(p, "type");
  if (type == "Sequence") {
    for (const auto& q : p.value("pretokenizers", json::array())) parse_pre_tokenizer(q, spec, byte_level);
  } else if (type == "ByteLevel") {
    byte_level = true;
    // use_regex: ByteLevel splits with the GPT-2 pattern itself (off when a Split step precedes it).
    if (get_bool(p, "use_regex", true)) spec.split_patterns.push_back(kGpt2Pattern);
    spec.add_prefix_space = get_bool(p, "add_prefix_space", false);
  } else if (type == "Split") {
    const json& pat = p.value("pattern", json::object());
    std::string re;
    if (pat.contains("Regex")) re = pat["Regex"].get<std::string>();
    else if (pat.contains("String")) re = regex_escape(pat["String"].get<std::string>());
    else fail("{}: Split pre-tokenizer without a pattern", spec.source);
    const std::string behavior = get_str(p, "behavior");
    if (behavior != "Isolated" || get_bool(p, "invert", false))
      fail("{}: Split pre-tokenizer with behavior {}{} is not supported (only Isolated)", spec.source, behavior,
           get_bool(p, "invert", false) ? " (inverted)" : "");
    spec.split_patterns.push_back(re);
  } else if (type == "Digits") {
    // HF's Digits splits on numeric characters (Rust's char::is_numeric, Unicode N*, so "½" and "٣" too):
    // each one alone, or runs of them.
    spec.split_patterns.push_back(get_bool(p, "individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)");
  } else {
    fail("{}: pre_tokenizer type {} is not supported (byte-level BPE only)", spec.source, type);
  }
}

void check_normalizer(const json& n, const std::string& source) {
  if (n.is_null()) return;
  const std::string type = get_str(n, "type");
  if (type == "Sequence") {
    for (const auto& m : n.value("normalizers", json::array())) check_normalizer(m, source);
  } else if (type != "NFC") {
    // NFC (Qwen2) is accepted without being applied: it only changes text that is not already NFC.
    fail("{}: normalizer {} is not supported (byte-level BPE tokenizers have none, or NFC)", source, type);
  }
}

// The special token a TemplateProcessing puts first in "single", if any (how LLaMA-3 adds its BOS).
std::string template_bos(const json& pp) {
  if (pp.is_null() || !pp.is_object()) return "";
  const std::string type = get_str(pp, "type");
  if (type == "Sequence") {
    for (const auto& q : pp.value("processors", json::array()))
      if (auto s = template_bos(q); !s.empty()) return s;
  } else if (type == "TemplateProcessing") {
    const json& single = pp.value("single", json::array());
    if (!single.empty() && single[0].contains("SpecialToken")) return get_str(single[0]["SpecialToken"], "id");
  }
  return "";
}

// tokenizer_config.json writes tokens either as "<s>" or as {"content": "<s>", ...}.
std::string config_token(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object()) return get_str(v, "content");
  return "";
}

}  // namespace

std::unique_ptr<Tokenizer> load_hf_bpe(const std::string& path) {
  json j;
  try {
    j = json::parse(read_text_file(path));
  } catch (const json::exception& e) {
    fail("{}: invalid JSON: {}", path, e.what());
  }
  ByteBpeSpec spec;
  spec.source = path;
  try {
    const json& model = j.at("model");
    const std::string type = get_str(model, "type");
    if (type != "BPE") fail("{}: tokenizer model type {} is not supported (BPE only)", path, type);

    // Ids: the vocab, plus added tokens (which may lie beyond it).
    std::unordered_map<std::string, int> to_id;
    const auto put = [&](const std::string& tok, int id) {
      if (id < 0) fail("{}: negative token id {} for {}", path, id, tok);
      if ((size_t)id >= spec.tokens.size()) spec.tokens.resize(id + 1);
      spec.tokens[id] = tok;
      to_id.emplace(tok, id);
    };
    for (const auto& [tok, id] : model.at("vocab").items()) put(tok, id.get<int>());
    for (const auto& a : j.value("added_tokens", json::array())) {
      const std::string content = a.at("content").get<std::string>();
      const int id = a.at("id").get<int>();
      put(content, id);
      spec.added.push_back(id);
    }

    // Merges: "a b" strings (older files) or ["a", "b"] pairs (newer ones, which allow spaces in tokens).
    for (const auto& m : model.value("merges", json::array())) {
      if (m.is_array() && m.size() == 2) {
        spec.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      } else if (m.is_string()) {
        const std::string s = m.get<std::string>();
        const size_t sp = s.find(' ', 1);
        if (sp == std::string::npos) fail("{}: merge \"{}\" is not two tokens", path, s);
        spec.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
      } else {
        fail("{}: bad merge entry {}", path, m.dump());
      }
    }
    spec.ignore_merges = get_bool(model, "ignore_merges", false);

    check_normalizer(j.value("normalizer", json()), path);
    bool byte_level = false;
    parse_pre_tokenizer(j.value("pre_tokenizer", json()), spec, byte_level);
    if (get_str(j.value("decoder", json::object()), "type") == "ByteLevel") byte_level = true;
    if (!byte_level)
      fail("{}: only byte-level BPE tokenizer.json files are supported (no ByteLevel pre-tokenizer or decoder); "
           "pass a tokenizer.model instead",
           path);

    const auto lookup = [&](const std::string& name) {
      auto it = to_id.find(name);
      return it == to_id.end() ? -1 : it->second;
    };
    const auto first_known = [&](std::initializer_list<const char*> names) {
      for (const char* n : names)
        if (int id = lookup(n); id >= 0) return id;
      return -1;
    };

    // BOS: the post_processor's template says it outright; else tokenizer_config.json; else a known name.
    bool bos_known = false, eos_known = false;
    if (auto name = template_bos(j.value("post_processor", json())); !name.empty()) {
      spec.bos = lookup(name);
      bos_known = spec.bos >= 0;
    }
    const fs::path cfg_path = fs::path(path).parent_path() / "tokenizer_config.json";
    if (fs::exists(cfg_path)) {
      json cfg;
      try {
        cfg = json::parse(read_text_file(cfg_path.string()));
      } catch (const json::exception& e) {
        fail("{}: invalid JSON: {}", cfg_path.string(), e.what());
      }
      if (!bos_known && cfg.contains("bos_token")) {
        spec.bos = lookup(config_token(cfg["bos_token"]));  // null (Qwen2): no BOS
        bos_known = true;
      }
      if (!get_bool(cfg, "add_bos_token", true)) {  // the model is not trained with a BOS
        spec.bos = -1;
        bos_known = true;
      }
      if (cfg.contains("eos_token")) {
        spec.eos = lookup(config_token(cfg["eos_token"]));
        eos_known = spec.eos >= 0;
      }
    }
    if (!bos_known) spec.bos = first_known({"<|begin_of_text|>", "<s>", "<|startoftext|>", "<bos>"});
    if (!eos_known) spec.eos = first_known({"<|end_of_text|>", "<|endoftext|>", "</s>", "<eos>", "<|im_end|>"});
  } catch (const json::exception& e) {
    fail("{}: unexpected tokenizer.json layout: {}", path, e.what());
  }
  return make_byte_bpe(std::move(spec));
}

}  // namespace sqz

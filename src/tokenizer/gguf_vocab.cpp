// Vocabularies embedded in GGUF metadata (tokenizer.ggml.*): "llama" (SentencePiece-style tokens with
// scores) and "gpt2" (byte-level BPE with merges and a pre-tokenizer named by tokenizer.ggml.pre).
#include "core/error.h"
#include "io/gguf.h"
#include "tokenizer/vocab.h"

namespace sqz {

namespace {

std::vector<std::string> str_array(const GgufFile& g, const std::string& key, bool required) {
  std::vector<std::string> out;
  const GgufValue* v = g.find_meta(key);
  if (!v) {
    if (required) fail("{}: GGUF has no {} (needed for its tokenizer)", g.path(), key);
    return out;
  }
  for (const auto& e : v->as_array()) out.push_back(e.as_string());
  return out;
}

int opt_int(const GgufFile& g, const std::string& key, int def) {
  const GgufValue* v = g.find_meta(key);
  return v ? (int)v->as_int() : def;
}

bool opt_bool(const GgufFile& g, const std::string& key, bool def) {
  const GgufValue* v = g.find_meta(key);
  if (!v) return def;
  if (const bool* b = std::get_if<bool>(&v->v)) return *b;
  return v->as_int() != 0;
}

// llama.cpp's names for pre-tokenizers; anything else (or none) uses the GPT-2 pattern.
const char* pre_pattern(const std::string& pre) {
  if (pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3" || pre == "smaug-bpe") return kLlama3Pattern;
  if (pre == "qwen2" || pre == "deepseek-r1-qwen") return kQwen2Pattern;
  return kGpt2Pattern;
}

}  // namespace

std::unique_ptr<Tokenizer> load_gguf_tokenizer(const GgufFile& g) {
  const GgufValue* model = g.find_meta("tokenizer.ggml.model");
  if (!model) fail("{}: no tokenizer in the GGUF metadata (tokenizer.ggml.model); pass --tokenizer PATH", g.path());
  const std::string kind = model->as_string();
  std::vector<std::string> tokens = str_array(g, "tokenizer.ggml.tokens", true);
  std::vector<int> types;
  if (const GgufValue* t = g.find_meta("tokenizer.ggml.token_type"))
    for (const auto& e : t->as_array()) types.push_back((int)e.as_int());
  const int bos = opt_int(g, "tokenizer.ggml.bos_token_id", -1);
  const int eos = opt_int(g, "tokenizer.ggml.eos_token_id", -1);

  if (kind == "llama") {
    SpmVocabSpec s;
    s.source = g.path();
    s.tokens = std::move(tokens);
    if (const GgufValue* sc = g.find_meta("tokenizer.ggml.scores"))
      for (const auto& e : sc->as_array()) s.scores.push_back((float)e.as_float());
    s.types = std::move(types);
    s.bos = opt_bool(g, "tokenizer.ggml.add_bos_token", true) ? bos : -1;
    s.eos = eos;
    s.unk = opt_int(g, "tokenizer.ggml.unknown_token_id", -1);
    s.add_space_prefix = opt_bool(g, "tokenizer.ggml.add_space_prefix", true);
    return make_spm_vocab(std::move(s));
  }
  if (kind == "gpt2") {
    ByteBpeSpec s;
    s.source = g.path();
    // Merges are "a b"; search for the space from index 1 as llama.cpp does, so "a" may itself be " ".
    for (const auto& m : str_array(g, "tokenizer.ggml.merges", true)) {
      const size_t sp = m.find(' ', 1);
      if (sp == std::string::npos) fail("{}: merge \"{}\" is not two tokens", g.path(), m);
      s.merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
    }
    // Control and user-defined tokens are matched verbatim, as tokenizer.json's added_tokens are.
    for (int id = 0; id < (int)types.size() && id < (int)tokens.size(); ++id)
      if (types[id] == kTokControl || types[id] == kTokUserDefined) s.added.push_back(id);
    s.tokens = std::move(tokens);
    std::string pre;
    if (const GgufValue* p = g.find_meta("tokenizer.ggml.pre")) pre = p->as_string();
    const char* pattern = pre_pattern(pre);
    const bool llama3 = pattern == kLlama3Pattern;
    s.split_patterns = {pattern};
    s.ignore_merges = llama3;  // as LLaMA-3's tokenizer.json sets it
    // BPE vocabularies add BOS only when told to (LLaMA-3 does; GPT-2 and Qwen2 do not).
    const bool add_bos = opt_bool(g, "tokenizer.ggml.add_bos_token", llama3);
    s.bos = add_bos ? bos : -1;
    s.eos = eos;
    return make_byte_bpe(std::move(s));
  }
  fail("{}: GGUF tokenizer model \"{}\" is not supported (llama or gpt2); pass --tokenizer PATH", g.path(), kind);
}

}  // namespace sqz

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

// Pre-tokenizers by tokenizer.ggml.pre value. The names, regexes and flags are those llama.cpp
// (src/llama-vocab.cpp) uses for each value; regexes it runs through its own hand-written matchers (the
// GPT-2, LLaMA-3 and Qwen2 ones) are written out in full, and the ones it runs through std::regex are
// taken as they are (their \p{..} classes mean the same in PCRE2). Contractions are spelled '[sS] rather
// than (?i:'s) because under Unicode case folding PCRE2's (?i:s) would also match U+017F.
namespace pre {

constexpr const char* kContractions = R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]))";

std::string llama3() {
  return std::string(kContractions) +
         R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
}
std::string qwen2() {
  return std::string(kContractions) +
         R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
}
std::string qwen35() {
  return std::string(kContractions) +
         R"(|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
}
std::string jais2() {
  return std::string(kContractions) +
         R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+)"
         R"(|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S)|\s{8}(?!\S))"
         R"(|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1})";
}
std::string seed_coder() {
  return std::string(kContractions) +
         R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+)";
}
std::string minicpm5() {
  return std::string(kContractions) +
         R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
}
// Upper-then-lower letter runs (Tekken, GPT-4o): (?=[\p{L}])([^a-z]) is "a letter that is not a-z".
constexpr const char* kUpperRun = R"(((?=[\p{L}])([^a-z])))";
constexpr const char* kLowerRun = R"(((?=[\p{L}])([^A-Z])))";
std::string tekken() {
  return std::string(R"([^\r\n\p{L}\p{N}]?)") + kUpperRun + "*" + kLowerRun + R"(+|[^\r\n\p{L}\p{N}]?)" +
         kUpperRun + "+" + kLowerRun + "*" + R"(|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
}
std::string gpt4o() {
  const std::string c = std::string(kContractions) + "?";
  return std::string(R"([^\r\n\p{L}\p{N}]?)") + kUpperRun + "*" + kLowerRun + "+" + c +
         R"(|[^\r\n\p{L}\p{N}]?)" + kUpperRun + "+" + kLowerRun + "*" + c +
         R"(|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
}
// DeepSeek's CJK runs, [一-龥ࠀ-一가-퟿]+. llama.cpp matches this one (it has no \p{..}) against the text with
// every non-ASCII whitespace character replaced by U+000B, so those (U+1680, U+2000-U+200A, U+2028,
// U+2029, U+202F, U+205F, U+3000 lie in the ranges) never match it: they are excluded here.
constexpr const char* kDeepseekCjk =
    R"((?:(?![\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}])[一-龥ࠀ-一가-퟿])+)";
constexpr const char* kBloom = R"( ?[^(\s|.,!?…。，、।۔،)]+)";

struct Entry {
  std::vector<std::string> names;
  GgufPreTokenizer pre;
};

const std::vector<Entry>& table() {
  static const std::vector<Entry> t = [] {
    const std::string gpt2 = kGpt2Pattern;
    std::vector<Entry> e;
    e.push_back({{"default"}, {{R"([\p{P}\$\+<=>\^~\|]+)", gpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"}}});
    // "gpt2" is not a name llama.cpp knows; accepted as GPT-2's own.
    e.push_back({{"gpt-2", "gpt2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de",
                  "a.x-4.0", "mellum", "modern-bert", "mpt", "olmo", "jais", "trillion", "granite-docling",
                  "exaone4"},
                 {{gpt2}}});
    e.push_back({{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
                  "jina-v5-nano"},
                 {{llama3()}, /*ignore_merges=*/true, /*add_bos=*/true}});
    e.push_back({{"dbrx", "smaug-bpe"}, {{llama3()}}});
    e.push_back({{"glm4", "chatglm-bpe"}, {{llama3()}, false, false, /*has_bos=*/false}});
    e.push_back({{"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "hunyuan",
                  "solar-open", "grok-2"},
                 {{qwen2()}}});
    e.push_back({{"qwen35"}, {{qwen35()}}});
    e.push_back({{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2"},
                 {{R"(\p{N})", gpt2}}});
    e.push_back({{"falcon"}, {{R"([\p{P}\$\+<=>\^~\|`]+)", gpt2, "[0-9][0-9][0-9]"}}});
    e.push_back({{"deepseek-coder"}, {{R"([\r\n])", R"(\s?\p{L}+)", R"(\s?\p{P}+)", kDeepseekCjk, R"(\p{N})"}}});
    e.push_back({{"tekken"}, {{tekken()}, true, true}});
    e.push_back({{"bloom", "gpt3-finnish", "poro-chat"}, {{kBloom}}});
    e.push_back({{"viking"}, {{kBloom, R"(\p{N})"}}});
    e.push_back({{"seed-coder"}, {{seed_coder()}}});
    e.push_back({{"bailingmoe", "bailingmoe2", "llada-moe"},
                 {{R"('(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N})"
                   R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)"}}});
    e.push_back({{"minicpm5"}, {{R"(\p{N}{1,3})", minicpm5()}, true}});
    e.push_back({{"gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"}, {{gpt4o()}}});
    e.push_back({{"jais-2"}, {{jais2()}}});
    return e;
  }();
  return t;
}

}  // namespace pre

}  // namespace

const GgufPreTokenizer& gguf_pre_tokenizer(const std::string& name, const std::string& source) {
  const std::string key = name.empty() ? "default" : name;
  for (const auto& e : pre::table())
    for (const auto& n : e.names)
      if (n == key) return e.pre;
  std::string known;
  for (const auto& n : gguf_pre_tokenizer_names()) known += (known.empty() ? "" : ", ") + n;
  fail("{}: tokenizer.ggml.pre \"{}\" is not a pre-tokenizer sqz knows (known: {}); pass --tokenizer PATH", source,
       name, known);
}

std::vector<std::string> gguf_pre_tokenizer_names() {
  std::vector<std::string> out;
  for (const auto& e : pre::table()) out.insert(out.end(), e.names.begin(), e.names.end());
  return out;
}

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
    // No tokenizer.ggml.pre: llama.cpp's "default" (it warns that the file is too old to say).
    std::string pre_name;
    if (const GgufValue* p = g.find_meta("tokenizer.ggml.pre")) pre_name = p->as_string();
    const GgufPreTokenizer& pre = gguf_pre_tokenizer(pre_name, g.path());
    s.split_patterns = pre.patterns;
    s.ignore_merges = pre.ignore_merges;
    // BPE vocabularies add BOS only when told to, or when their pre-tokenizer's models do (LLaMA-3).
    const bool add_bos = pre.has_bos && opt_bool(g, "tokenizer.ggml.add_bos_token", pre.add_bos);
    s.bos = add_bos ? bos : -1;
    s.eos = eos;
    return make_byte_bpe(std::move(s));
  }
  fail("{}: GGUF tokenizer model \"{}\" is not supported (llama or gpt2); pass --tokenizer PATH", g.path(), kind);
}

}  // namespace sqz

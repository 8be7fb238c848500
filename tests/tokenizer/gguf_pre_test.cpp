// The pre-tokenizers of GGUF "gpt2" vocabularies (tokenizer.ggml.pre) against llama.cpp. The expected pieces
// in data/llama_cpp_pre_splits.json are how llama.cpp's llama-tokenize cuts some tricky texts
// (reference/llama_cpp_pre_splits.py wrote them). Both sides use a vocabulary whose tokens are all short
// substrings of the texts, with a merge for every way of cutting each in two: BPE then turns every
// pre-tokenizer piece into exactly one token, so the tokens spell out the pieces.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "bpe_fixture.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/mmap.h"
#include "io/gguf.h"
#include "tokenizer_test_util.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace sqz {
namespace {

using json = nlohmann::json;

json load_splits() {
  return json::parse(read_text_file(SQZ_SOURCE_DIR "/tests/tokenizer/data/llama_cpp_pre_splits.json"));
}

// Tokens: the 256 bytes, then every substring of 2..max_len bytes of the texts (first occurrence order),
// in GPT-2's byte alphabet; merges: every cut of each of those substrings. Same order as the script's.
struct SubstringVocab {
  std::vector<std::string> tokens;
  std::vector<std::string> merges;
};
SubstringVocab substring_vocab(const std::vector<std::string>& texts, size_t max_len) {
  SubstringVocab v;
  std::set<std::string> seen;
  const auto spell = [](const std::string& bytes) {
    std::string s;
    for (unsigned char c : bytes) s += test::byte_char(c);
    return s;
  };
  for (int b = 0; b < 256; ++b) seen.insert(v.tokens.emplace_back(test::byte_char(b)));
  for (const auto& text : texts)
    for (size_t start = 0; start < text.size(); ++start)
      for (size_t len = 2; len <= max_len && start + len <= text.size(); ++len) {
        const std::string sub = text.substr(start, len);
        const std::string tok = spell(sub);
        if (!seen.insert(tok).second) continue;
        v.tokens.push_back(tok);
        for (size_t k = 1; k < len; ++k) v.merges.push_back(spell(sub.substr(0, k)) + " " + spell(sub.substr(k)));
      }
  return v;
}

std::unique_ptr<Tokenizer> gguf_tokenizer(const test::ScratchDir& dir, const SubstringVocab& v, const std::string& pre,
                                          int add_bos = -1) {
  GgufWriter w;
  w.set_str("tokenizer.ggml.model", "gpt2");
  if (!pre.empty()) w.set_str("tokenizer.ggml.pre", pre);
  w.set_arr_str("tokenizer.ggml.tokens", v.tokens);
  w.set_arr_i32("tokenizer.ggml.token_type", std::vector<int32_t>(v.tokens.size(), kTokNormal));
  w.set_arr_str("tokenizer.ggml.merges", v.merges);
  w.set_u32("tokenizer.ggml.bos_token_id", 'B');
  w.set_u32("tokenizer.ggml.eos_token_id", 'E');
  if (add_bos >= 0) w.set_typed("tokenizer.ggml.add_bos_token", GgufValue{add_bos == 1}, kGgufBool);
  const std::string path = dir.file("v.gguf");
  w.write(path);
  GgufFile g(path);
  return load_gguf_tokenizer(g);
}

TEST(GgufPre, SplitsLikeLlamaCpp) {
  const json ref = load_splits();
  const auto texts = ref["texts"].get<std::vector<std::string>>();
  const SubstringVocab v = substring_vocab(texts, ref["max_len"].get<size_t>());
  test::ScratchDir dir;
  ASSERT_GE(ref["splits"].size(), 19u);
  for (const auto& [pre, splits] : ref["splits"].items()) {
    auto t = gguf_tokenizer(dir, v, pre);
    for (size_t i = 0; i < texts.size(); ++i) {
      std::vector<std::string> pieces;
      for (int id : t->encode(texts[i], false)) pieces.push_back(t->decode_token(-1, id));
      EXPECT_EQ(pieces, splits[i].get<std::vector<std::string>>()) << "pre \"" << pre << "\", text " << i;
    }
  }
}

// Names that share a pre-tokenizer split alike; every name in the table loads.
TEST(GgufPre, EveryNameLoads) {
  const json ref = load_splits();
  const auto texts = ref["texts"].get<std::vector<std::string>>();
  const SubstringVocab v = substring_vocab(texts, ref["max_len"].get<size_t>());
  test::ScratchDir dir;
  const auto names = gguf_pre_tokenizer_names();
  EXPECT_GE(names.size(), 60u);
  for (const std::string name : {"llama-bpe", "llama3", "smollm", "qwen2", "gpt-2", "gpt2", "starcoder", "refact",
                                 "command-r", "deepseek-coder", "falcon", "tekken", "default"})
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  const SubstringVocab tiny = substring_vocab({"ab"}, 2);
  for (const auto& name : names) EXPECT_NO_THROW(gguf_tokenizer(dir, tiny, name)) << name;
  // Aliases: same table row, same pieces.
  const auto pieces = [&](const std::string& pre) { return gguf_tokenizer(dir, v, pre)->encode(texts[3], false); };
  EXPECT_EQ(pieces("gpt2"), pieces("gpt-2"));
  EXPECT_EQ(pieces("starcoder"), pieces("smollm"));
  EXPECT_EQ(pieces("refact"), pieces("smollm"));
  EXPECT_EQ(pieces("llama3"), pieces("llama-bpe"));
  EXPECT_EQ(pieces("deepseek-r1-qwen"), pieces("qwen2"));
  EXPECT_NE(pieces("smollm"), pieces("gpt-2"));  // smollm splits digits one by one
}

TEST(GgufPre, UnknownNameIsAnError) {
  const SubstringVocab v = substring_vocab({"ab"}, 2);
  test::ScratchDir dir;
  try {
    gguf_tokenizer(dir, v, "no-such-pre");
    FAIL() << "no error for an unknown tokenizer.ggml.pre";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("\"no-such-pre\""), std::string::npos) << msg;
    EXPECT_NE(msg.find("v.gguf"), std::string::npos) << msg;
    EXPECT_NE(msg.find("smollm"), std::string::npos) << msg;  // lists the known names
    EXPECT_NE(msg.find("llama-bpe"), std::string::npos) << msg;
  }
}

// BOS: added by default only where llama.cpp does (LLaMA-3, Tekken); add_bos_token overrides it, except
// for chatglm vocabularies, which have none.
TEST(GgufPre, BosDefaults) {
  const SubstringVocab v = substring_vocab({"ab"}, 2);
  test::ScratchDir dir;
  EXPECT_EQ(gguf_tokenizer(dir, v, "llama-bpe")->encode("ab", true), std::vector<int>({'B', 256}));
  EXPECT_EQ(gguf_tokenizer(dir, v, "tekken")->bos_id(), 'B');
  EXPECT_EQ(gguf_tokenizer(dir, v, "smollm")->encode("ab", true), std::vector<int>({256}));
  EXPECT_EQ(gguf_tokenizer(dir, v, "smollm", 1)->encode("ab", true), std::vector<int>({'B', 256}));
  EXPECT_EQ(gguf_tokenizer(dir, v, "llama-bpe", 0)->bos_id(), -1);
  EXPECT_EQ(gguf_tokenizer(dir, v, "chatglm-bpe", 1)->bos_id(), -1);
}

}  // namespace
}  // namespace sqz

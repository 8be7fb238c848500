// Vocabularies embedded in GGUF: the SentencePiece-style "llama" encoder (hand-built vocabulary, ids
// worked out by hand following llama.cpp's llm_tokenizer_spm), and GGUF files written with GgufWriter
// for both "llama" and "gpt2" (the latter must encode like the equivalent tokenizer.json).
#include <gtest/gtest.h>

#include <cstdio>

#include "bpe_fixture.h"
#include "core/error.h"
#include "io/gguf.h"
#include "tokenizer_test_util.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace sqz {
namespace {

using V = std::vector<int>;

// ids 0-2: <unk> <s> </s>; 3-258: <0x00>..<0xFF>; then these (▁ is U+2581, SentencePiece's space).
const std::vector<std::pair<std::string, float>> kPieces = {
    {"▁", -1000},    // 259
    {"a", -1000},    // 260
    {"b", -1000},    // 261
    {"c", -1000},    // 262
    {"ab", -1},      // 263
    {"bc", -0.5},    // 264
    {"▁a", -2},      // 265
    {"abc", -0.1},   // 266
    {"▁ab", -3},     // 267
    {"é", -1000},    // 268
    {"x", -1000},    // 269
    {"y", -1000},    // 270
    {"xy", -1},      // 271
    {"yx", -1},      // 272 (ties with xy: leftmost wins)
    {"▁▁", -0.2},    // 273
};

SpmVocabSpec spm_spec() {
  SpmVocabSpec s;
  s.tokens = {"<unk>", "<s>", "</s>"};
  s.scores = {0, 0, 0};
  s.types = {kTokUnknown, kTokControl, kTokControl};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    s.tokens.push_back(name);
    s.scores.push_back(0);
    s.types.push_back(kTokByte);
  }
  for (const auto& [t, score] : kPieces) {
    s.tokens.push_back(t);
    s.scores.push_back(score);
    s.types.push_back(kTokNormal);
  }
  s.bos = 1, s.eos = 2, s.unk = 0;
  return s;
}

TEST(SpmVocab, MergesByScore) {
  auto t = make_spm_vocab(spm_spec());
  EXPECT_EQ(t->vocab_size(), 274);
  // ▁ a b c: bc (-0.5), then abc (-0.1); ▁abc is no token.
  EXPECT_EQ(t->encode("abc", true), V({1, 259, 266}));
  // ▁ a b ▁ b: ab, then ▁ab.
  EXPECT_EQ(t->encode("ab b", false), V({267, 259, 261}));
  // ▁ x y x: xy and yx tie, the left one wins.
  EXPECT_EQ(t->encode("xyx", false), V({259, 271, 269}));
  // ▁ a ▁ ▁ b: ▁▁ (-0.2) first, then ▁a.
  EXPECT_EQ(t->encode("a  b", false), V({265, 273, 261}));
  // Characters that are not tokens fall back to their bytes.
  EXPECT_EQ(t->encode("aé😀!\n", false), V({265, 268, 3 + 0xF0, 3 + 0x9F, 3 + 0x98, 3 + 0x80, 3 + '!', 3 + '\n'}));
  EXPECT_EQ(t->encode("", true), V({1}));
}

// llama.cpp runs no normalizer: leading spaces and runs of spaces are kept (SentencePiece's
// remove_extra_whitespaces would drop and collapse them).
TEST(SpmVocab, SpacesKept) {
  auto t = make_spm_vocab(spm_spec());
  // ▁ ▁ a: ▁▁ (-0.2) beats ▁a (-2).
  EXPECT_EQ(t->encode(" a", false), V({273, 260}));
  EXPECT_EQ(t->encode("a  ", false), V({265, 273}));
}

// Control, user-defined and unknown tokens are matched verbatim (as llama-tokenize does by default), and
// the text after one gets the dummy prefix again.
TEST(SpmVocab, SpecialTokensVerbatim) {
  SpmVocabSpec s = spm_spec();
  s.tokens.push_back("<tag>");  // 274
  s.scores.push_back(0);
  s.types.push_back(kTokUserDefined);
  auto t = make_spm_vocab(s);
  EXPECT_EQ(t->encode("ab</s>ab", false), V({267, 2, 267}));
  EXPECT_EQ(t->encode("<s>ab<unk>", true), V({1, 1, 267, 0}));
  EXPECT_EQ(t->encode("a<tag> b", false), V({265, 274, 273, 261}));  // "▁" + " b": ▁ ▁ b, then ▁▁
  s.add_space_prefix = false;
  auto np = make_spm_vocab(s);
  EXPECT_EQ(np->encode("ab</s>ab", false), V({263, 2, 263}));
  // Without token types nothing is special.
  s.types.clear();
  EXPECT_EQ(make_spm_vocab(s)->encode("a</s>", false), V({260, 3 + '<', 3 + '/', 3 + 's', 3 + '>'}));
}

// A vocabulary without <0xNN> tokens falls back to a token spelling the byte itself, else to <unk>.
TEST(SpmVocab, ByteFallbackWithoutByteTokens) {
  SpmVocabSpec s;
  s.tokens = {"<unk>", "▁", "a", "!"};
  s.scores = {0, -1, -1, -1};
  s.types = {kTokUnknown, kTokNormal, kTokNormal, kTokNormal};
  s.unk = 0;
  auto t = make_spm_vocab(s);
  EXPECT_EQ(t->encode("a!é", false), V({1, 2, 3, 0, 0}));
}

TEST(SpmVocab, NoSpacePrefix) {
  SpmVocabSpec s = spm_spec();
  s.add_space_prefix = false;
  auto t = make_spm_vocab(s);
  EXPECT_EQ(t->encode("abc", false), V({266}));
  EXPECT_EQ(t->encode("x abc", false), V({269, 259, 266}));
}

TEST(SpmVocab, Decode) {
  auto t = make_spm_vocab(spm_spec());
  EXPECT_EQ(t->decode_token(1, 265), "a");
  EXPECT_EQ(t->decode_token(260, 265), " a");
  EXPECT_EQ(t->decode_token(260, 3 + '\n'), "\n");
  EXPECT_EQ(t->decode_token(260, 1), "");
  for (const std::string s : {"abc", "ab b", "xyx yxy", "a  b", "aé😀!\n\t", "  leading", "trailing  "}) {
    EXPECT_EQ(t->decode(t->encode(s, true)), s) << s;
    EXPECT_EQ(t->decode(t->encode(s, false)), s) << s;
  }
}

TEST(GgufVocab, LlamaFromFile) {
  test::ScratchDir dir;
  const SpmVocabSpec s = spm_spec();
  GgufWriter w;
  w.set_str("general.architecture", "llama");
  w.set_str("tokenizer.ggml.model", "llama");
  w.set_arr_str("tokenizer.ggml.tokens", s.tokens);
  w.set_arr_f32("tokenizer.ggml.scores", s.scores);
  w.set_arr_i32("tokenizer.ggml.token_type", std::vector<int32_t>(s.types.begin(), s.types.end()));
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.eos_token_id", 2);
  w.set_u32("tokenizer.ggml.unknown_token_id", 0);
  w.write(dir.file("m.gguf"));
  GgufFile g(dir.file("m.gguf"));
  auto t = load_gguf_tokenizer(g);
  auto ref = make_spm_vocab(s);
  EXPECT_EQ(t->bos_id(), 1);
  EXPECT_EQ(t->eos_id(), 2);
  for (const std::string text : {"abc", "ab b", "xyx", "a  b", "aé😀!\n"})
    EXPECT_EQ(t->encode(text, true), ref->encode(text, true)) << text;

  w.set_typed("tokenizer.ggml.add_bos_token", GgufValue{false}, kGgufBool);
  w.write(dir.file("nobos.gguf"));
  GgufFile g2(dir.file("nobos.gguf"));
  EXPECT_EQ(load_gguf_tokenizer(g2)->encode("abc", true), V({259, 266}));
}

// The fixture's tokenizer.json vocabulary as GGUF "gpt2" metadata.
void write_gpt2_gguf(const std::string& path, const std::string& pre) {
  const test::json j = test::make_tokenizer_json(false);
  std::vector<std::string> tokens(test::kXyz + 1);
  for (const auto& [tok, id] : j["model"]["vocab"].items()) tokens[id.get<int>()] = tok;
  tokens[test::kEot] = "<|endoftext|>";
  tokens[test::kBot] = "<|begin_of_text|>";
  std::vector<int32_t> types(tokens.size(), kTokNormal);
  types[test::kEot] = types[test::kBot] = kTokControl;
  std::vector<std::string> merges;
  for (const auto& [a, b] : test::kMerges) merges.push_back(a + " " + b);
  GgufWriter w;
  w.set_str("tokenizer.ggml.model", "gpt2");
  if (!pre.empty()) w.set_str("tokenizer.ggml.pre", pre);
  w.set_arr_str("tokenizer.ggml.tokens", tokens);
  w.set_arr_i32("tokenizer.ggml.token_type", types);
  w.set_arr_str("tokenizer.ggml.merges", merges);
  w.set_u32("tokenizer.ggml.bos_token_id", test::kBot);
  w.set_u32("tokenizer.ggml.eos_token_id", test::kEot);
  w.write(path);
}

TEST(GgufVocab, Gpt2MatchesTokenizerJson) {
  test::ScratchDir dir;
  for (const bool llama3 : {false, true}) {
    write_gpt2_gguf(dir.file("m.gguf"), llama3 ? "llama-bpe" : "gpt-2");
    GgufFile g(dir.file("m.gguf"));
    auto t = load_gguf_tokenizer(g);
    test::write_bytes(dir.file("tokenizer.json"), test::make_tokenizer_json(llama3).dump());
    auto ref = load_hf_bpe(dir.file("tokenizer.json"));
    EXPECT_EQ(t->bos_id(), llama3 ? test::kBot : -1);  // BPE adds BOS only for LLaMA-3 (by default)
    EXPECT_EQ(t->eos_id(), test::kEot);
    for (const std::string s : {"hello world", "3412", "x1234567", "a\n\nb", "a   b", "café 😀", "xyz",
                                "hello<|endoftext|> world", "naïve — 東京\t\tdone\n"}) {
      EXPECT_EQ(t->encode(s, false), ref->encode(s, false)) << s << (llama3 ? " (llama-bpe)" : " (gpt2)");
      EXPECT_EQ(t->decode(t->encode(s, false)), s) << s;
    }
  }
}

TEST(GgufVocab, Errors) {
  test::ScratchDir dir;
  GgufWriter w;
  w.set_str("general.architecture", "llama");
  w.write(dir.file("none.gguf"));
  GgufFile none(dir.file("none.gguf"));
  EXPECT_THROW(load_gguf_tokenizer(none), Error);
  w.set_str("tokenizer.ggml.model", "bert");
  w.set_arr_str("tokenizer.ggml.tokens", {"a"});
  w.write(dir.file("bert.gguf"));
  GgufFile bert(dir.file("bert.gguf"));
  EXPECT_THROW(load_gguf_tokenizer(bert), Error);
}

}  // namespace
}  // namespace sqz

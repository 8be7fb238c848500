// llama2.c tokenizer.bin: a tiny vocabulary written in-test; expected ids worked out by hand following
// run.c (dummy " " prefix, per-codepoint lookup with byte fallback to byte+3, highest-score merges,
// leftmost on ties).
#include <gtest/gtest.h>

#include <cstdio>

#include "core/error.h"
#include "tokenizer_test_util.h"
#include "tokenizer/tokenizer.h"

namespace sqz {
namespace {

using test::put_pod;

struct Tok {
  const char* text;
  float score;
};

// ids 0-2: <unk> <s> </s>; 3-258: <0x00>..<0xFF>; then the pieces below from 259 on.
const Tok kPieces[] = {
    {" ", -1000},   // 259: dummy prefix
    {"a", -1000},   // 260
    {"b", -1000},   // 261
    {"c", -1000},   // 262
    {"ab", -1},     // 263
    {"bc", -0.5},   // 264
    {" a", -2},     // 265
    {"abc", -0.1},  // 266
    {" ab", -3},    // 267
    {"é", -1000},   // 268 (two bytes: one codepoint symbol)
    {"x", -1000},   // 269
    {"y", -1000},   // 270
    {"xy", -1},     // 271
    {"yx", -1},     // 272 (same score as xy: the leftmost pair must win)
};
constexpr int kVocab = 259 + (int)(sizeof kPieces / sizeof kPieces[0]);

std::string make_tokenizer_bin() {
  std::string out;
  std::vector<std::pair<std::string, float>> toks = {{"<unk>", 0}, {"<s>", 0}, {"</s>", 0}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    toks.push_back({name, 0});
  }
  for (const auto& p : kPieces) toks.push_back({p.text, p.score});
  int32_t max_len = 0;
  for (const auto& t : toks) max_len = std::max<int32_t>(max_len, (int32_t)t.first.size());
  put_pod(out, max_len);
  for (const auto& t : toks) {
    put_pod(out, t.second);
    put_pod(out, (int32_t)t.first.size());
    out += t.first;
  }
  return out;
}

class Llama2cTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("tokenizer.bin");
    test::write_bytes(path_, make_tokenizer_bin());
    tok_ = load_llama2c_tokenizer(path_, kVocab);
  }
  test::ScratchDir dir_;
  std::string path_;
  std::unique_ptr<Tokenizer> tok_;
};

TEST_F(Llama2cTest, Basics) {
  EXPECT_EQ(tok_->vocab_size(), kVocab);
  EXPECT_EQ(tok_->bos_id(), 1);
  EXPECT_EQ(tok_->eos_id(), 2);
  EXPECT_EQ(tok_->encode("", true), std::vector<int>({1}));
  EXPECT_EQ(tok_->encode("", false), std::vector<int>());
}

TEST_F(Llama2cTest, MergesByHighestScore) {
  // " "+a+b+c: bc (-0.5) beats ab (-1) and " a" (-2); then abc (-0.1) beats " a"; " abc" is no token.
  EXPECT_EQ(tok_->encode("abc", true), std::vector<int>({1, 259, 266}));
  // " "+a+b: ab (-1) before " a" (-2), then " ab" (-3).
  EXPECT_EQ(tok_->encode("ab", false), std::vector<int>({267}));
  // " " a b " " b: ab, then " ab"; neither "ab " nor " b" is a token.
  EXPECT_EQ(tok_->encode("ab b", false), std::vector<int>({267, 259, 261}));
}

TEST_F(Llama2cTest, LeftmostPairWinsTies) {
  // x y x: xy and yx both score -1; run.c takes the first, leaving x alone.
  EXPECT_EQ(tok_->encode("xyx", false), std::vector<int>({259, 271, 269}));
  EXPECT_EQ(tok_->encode("yxy", false), std::vector<int>({259, 272, 270}));
}

TEST_F(Llama2cTest, CodepointsAndByteFallback) {
  // é is one two-byte token; 😀 (F0 9F 98 80) and ! are not tokens: each byte b becomes id b+3.
  EXPECT_EQ(tok_->encode("aé😀!", false), std::vector<int>({265, 268, 0xF0 + 3, 0x9F + 3, 0x98 + 3, 0x80 + 3, '!' + 3}));
  // Newlines and tabs are byte tokens too.
  EXPECT_EQ(tok_->encode("a\n\tb", false), std::vector<int>({265, '\n' + 3, '\t' + 3, 261}));
}

TEST_F(Llama2cTest, Decode) {
  EXPECT_EQ(tok_->decode_token(1, 265), "a");    // the dummy-prefix space is dropped after BOS
  EXPECT_EQ(tok_->decode_token(260, 265), " a");
  EXPECT_EQ(tok_->decode_token(260, '\n' + 3), "\n");
  EXPECT_EQ(tok_->decode_token(260, 1), "");
  EXPECT_EQ(tok_->decode_token(260, 99999), "");
  for (const std::string s : {"abc", "ab b", "aé😀!", "xyx yxy\n\n\tabc  ", "  leading", "\xff\xfe bytes"}) {
    EXPECT_EQ(tok_->decode(tok_->encode(s, true)), s) << s;
    EXPECT_EQ(tok_->decode(tok_->encode(s, false)), s) << s;
  }
}

TEST_F(Llama2cTest, ReadsToEndWithoutVocabSize) {
  EXPECT_EQ(load_llama2c_tokenizer(path_, 0)->vocab_size(), kVocab);
}

TEST_F(Llama2cTest, Errors) {
  EXPECT_THROW(load_llama2c_tokenizer(path_, kVocab + 1), Error);  // truncated
  EXPECT_THROW(load_llama2c_tokenizer(dir_.file("missing.bin"), kVocab), Error);
  test::write_bytes(dir_.file("bad.bin"), std::string("\xff\xff\xff\xff", 4));
  EXPECT_THROW(load_llama2c_tokenizer(dir_.file("bad.bin"), 0), Error);
}

}  // namespace
}  // namespace sqz

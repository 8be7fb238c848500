// Integration checks against the real tokenizers in ../shared (skipped when it is absent):
// books-6m's tokenizer.model (SentencePiece BPE, 4096 pieces, byte fallback) and stories260K's
// tok512.bin (llama2.c), against the ids in their reference.json, reference token counts of the
// evaluation text, and ids from the reference SentencePiece CLI.
#include <gtest/gtest.h>
#include <sentencepiece_processor.h>

#include <fstream>
#include <sstream>

#include "core/file_io.h"
#include "io/checkpoint.h"
#include "io/gguf.h"
#include "tokenizer_test_util.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace sqz {
namespace {

using V = std::vector<int>;

#define REQUIRE_SHARED()                                                                        \
  const std::string shared = test::shared_dir();                                                \
  if (shared.empty()) GTEST_SKIP() << "../shared not found (" SQZ_SOURCE_DIR "/../shared); integration test skipped"

const char* kPrompt = "Once upon a time, the old house on the hill";

// The first n Unicode characters of s (the reference protocol counts characters, not bytes).
std::string first_chars(const std::string& s, size_t n) {
  size_t i = 0;
  for (size_t k = 0; k < n && i < s.size(); ++k) {
    ++i;
    while (i < s.size() && ((unsigned char)s[i] & 0xC0) == 0x80) ++i;
  }
  return s.substr(0, i);
}

TEST(SharedModels, Books6mPrompt) {
  REQUIRE_SHARED();
  auto t = load_sentencepiece(shared + "/models/books-6m/tokenizer.model");
  EXPECT_EQ(t->vocab_size(), 4096);
  EXPECT_EQ(t->encode(kPrompt, true), V({1, 1248, 325, 617, 261, 601, 4042, 265, 700, 779, 327, 265, 2304}));
  EXPECT_EQ(t->decode(t->encode(kPrompt, true)), kPrompt);
}

// Expected ids from the reference implementation, SentencePiece 0.1.97:
//   spm_encode --model=books-6m/tokenizer.model --output_format=id
// one line per string; spm_encode reads line by line, so the string with newlines was encoded with the
// Python binding of the same 0.1.97 library (sp.encode), which agrees with spm_encode on the others.
// The strings: "naïve café — 東京 😀", "3.14159 2024", "a  b    c", "tab\there\t\tdone",
// "  leading and trailing  ", "Hello, World! It's 1999.", "line one\nline two\n\nend".
// books-6m's normalizer collapses whitespace runs and trims, so those decode to the normalized text.
TEST(SharedModels, Books6mMatchesSpmEncode) {
  REQUIRE_SHARED();
  auto t = load_sentencepiece(shared + "/models/books-6m/tokenizer.model");
  struct Case {
    std::string text;
    V ids;
    std::string decoded;
  };
  const std::vector<Case> cases = {
      {"naïve café — 東京 😀",
       {298, 4026, 198, 178, 314, 2728, 4039, 4095, 4023, 4076, 4023, 233, 160, 180, 231, 189, 175, 4023, 243, 162,
        155, 131},
       "naïve café — 東京 😀"},
      {"3.14159 2024", {4023, 54, 4045, 4092, 55, 4092, 56, 60, 4023, 53, 51, 53, 55}, "3.14159 2024"},
      {"a  b    c", {261, 274, 279}, "a b c"},
      {"tab\there\t\tdone", {259, 639, 12, 804, 12, 12, 4033, 455}, "tab\there\t\tdone"},
      {"  leading and trailing  ", {1854, 282, 283, 1902, 1986}, "leading and trailing"},
      {"Hello, World! It's 1999.", {451, 289, 4027, 4042, 405, 287, 315, 4065, 559, 4060, 4031, 4023, 4092, 60, 60, 60, 4045},
       "Hello, World! It's 1999."},
      {"line one\nline two\n\nend", {2195, 447, 13, 4034, 542, 739, 13, 13, 611}, "line one\nline two\n\nend"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(t->encode(c.text, false), c.ids) << c.text;
    EXPECT_EQ(t->decode(c.ids), c.decoded) << c.text;
  }
}

TEST(SharedModels, Stories260kPrompt) {
  REQUIRE_SHARED();
  auto t = load_llama2c_tokenizer(shared + "/models/stories260K/tok512.bin", 512);
  EXPECT_EQ(t->vocab_size(), 512);
  EXPECT_EQ(t->encode(kPrompt, true),
            V({1, 403, 407, 261, 378, 432, 265, 334, 341, 270, 277, 372, 353, 265, 270, 290, 421}));
  EXPECT_EQ(t->decode(t->encode(kPrompt, true)), kPrompt);
}

// load_tokenizer finds each model's tokenizer beside the checkpoint.
TEST(SharedModels, LoadBesideCheckpoint) {
  REQUIRE_SHARED();
  auto books = open_checkpoint(shared + "/models/books-6m");
  EXPECT_EQ(load_tokenizer(*books)->encode(kPrompt, true),
            V({1, 1248, 325, 617, 261, 601, 4042, 265, 700, 779, 327, 265, 2304}));
  auto stories = open_checkpoint(shared + "/models/stories260K/stories260K.bin");
  auto t = load_tokenizer(*stories);  // tok512.bin, the only tok*.bin there
  EXPECT_EQ(t->vocab_size(), 512);
  EXPECT_EQ(t->encode(kPrompt, true),
            V({1, 403, 407, 261, 378, 432, 265, 334, 341, 270, 277, 372, 353, 265, 270, 290, 421}));
}

// reference.json's n_tokens = len([BOS] + encode(first eval_chars characters of wiki.test.raw)).
TEST(SharedModels, ReferenceTokenCounts) {
  REQUIRE_SHARED();
  const std::string wiki = read_text_file(shared + "/data/wikitext-2-raw/wiki.test.raw");
  auto stories = load_llama2c_tokenizer(shared + "/models/stories260K/tok512.bin", 512);
  EXPECT_EQ(stories->encode(first_chars(wiki, 6000), true).size(), 3830u);
  auto books = load_sentencepiece(shared + "/models/books-6m/tokenizer.model");
  EXPECT_EQ(books->encode(first_chars(wiki, 1288556), true).size(), 463382u);
}

// books-6m's vocabulary as a GGUF "llama" vocabulary holds it (llama.cpp's converter copies the pieces,
// scores and types from SentencePiece, and none of its normalizer settings).
SpmVocabSpec books6m_gguf_spec(const sentencepiece::SentencePieceProcessor& sp) {
  SpmVocabSpec s;
  for (int id = 0; id < sp.GetPieceSize(); ++id) {
    s.tokens.push_back(sp.IdToPiece(id));
    s.scores.push_back(sp.GetScore(id));
    s.types.push_back(sp.IsUnknown(id) ? kTokUnknown
                      : sp.IsControl(id) ? kTokControl
                      : sp.IsByte(id)    ? kTokByte
                      : sp.IsUnused(id)  ? kTokUnused
                                         : kTokNormal);
  }
  s.bos = sp.bos_id(), s.eos = sp.eos_id(), s.unk = sp.unk_id();
  return s;
}

// The GGUF "llama" encoder (llama.cpp's algorithm) on books-6m's vocabulary must agree with
// SentencePiece itself on text its normalizer leaves unchanged (single spaces, no leading space).
TEST(SharedModels, SpmVocabMatchesSentencePiece) {
  REQUIRE_SHARED();
  const std::string model = shared + "/models/books-6m/tokenizer.model";
  sentencepiece::SentencePieceProcessor sp;
  ASSERT_TRUE(sp.Load(model).ok());
  auto vocab = make_spm_vocab(books6m_gguf_spec(sp));
  auto ref = load_sentencepiece(model);

  std::istringstream wiki(read_text_file(shared + "/data/wikitext-2-raw/wiki.test.raw"));
  std::string line;
  int checked = 0, mismatched = 0;
  while (std::getline(wiki, line) && checked < 500) {
    // Collapse whitespace runs and trim, as the normalizer would.
    std::string t;
    for (char c : line) {
      if (c == ' ' && (t.empty() || t.back() == ' ')) continue;
      t += c;
    }
    while (!t.empty() && t.back() == ' ') t.pop_back();
    if (t.empty()) continue;
    ++checked;
    if (vocab->encode(t, true) != ref->encode(t, true)) {
      ++mismatched;
      ADD_FAILURE() << "mismatch on: " << t;
      if (mismatched > 3) break;
    }
  }
  EXPECT_GT(checked, 100);
}

// The whole WikiText-2 test file through books-6m's vocabulary as a GGUF: llama.cpp's llama-tokenize gives
// 463,387 ids (BOS included) on a GGUF converted from books-6m; SentencePiece gives 463,382, because its
// normalizer (remove_extra_whitespaces) drops the file's leading space and collapses its four double
// spaces (" @.@  hrvatski"), which llama.cpp keeps as an extra "▁" token each. sqz's GGUF encoder must
// give llama.cpp's count, and SentencePiece's ids once those five "▁" are taken out.
TEST(SharedModels, Books6mGgufVocabWholeFileIsLlamaCpp) {
  REQUIRE_SHARED();
  sentencepiece::SentencePieceProcessor sp;
  ASSERT_TRUE(sp.Load(shared + "/models/books-6m/tokenizer.model").ok());
  const std::string wiki = read_text_file(shared + "/data/wikitext-2-raw/wiki.test.raw");
  // Through a GGUF file, with the keys the converter writes (no add_space_prefix: llama.cpp's default).
  const SpmVocabSpec spec = books6m_gguf_spec(sp);
  test::ScratchDir dir;
  GgufWriter w;
  w.set_str("general.architecture", "llama");
  w.set_str("tokenizer.ggml.model", "llama");
  w.set_str("tokenizer.ggml.pre", "default");
  w.set_arr_str("tokenizer.ggml.tokens", spec.tokens);
  w.set_arr_f32("tokenizer.ggml.scores", spec.scores);
  w.set_arr_i32("tokenizer.ggml.token_type", std::vector<int32_t>(spec.types.begin(), spec.types.end()));
  w.set_u32("tokenizer.ggml.bos_token_id", (uint32_t)spec.bos);
  w.set_u32("tokenizer.ggml.eos_token_id", (uint32_t)spec.eos);
  w.set_typed("tokenizer.ggml.add_bos_token", GgufValue{true}, kGgufBool);
  w.write(dir.file("books-6m.gguf"));
  GgufFile g(dir.file("books-6m.gguf"));
  const std::vector<int> gguf = load_gguf_tokenizer(g)->encode(wiki, true);
  const std::vector<int> spm = load_sentencepiece(shared + "/models/books-6m/tokenizer.model")->encode(wiki, true);
  EXPECT_EQ(gguf.size(), 463387u);
  EXPECT_EQ(spm.size(), 463382u);
  const int space = sp.PieceToId("▁");
  size_t i = 0, j = 0;
  std::vector<size_t> extra;
  while (i < gguf.size() && j < spm.size()) {
    if (gguf[i] == spm[j]) {
      ++i, ++j;
    } else {
      ASSERT_EQ(gguf[i], space) << "GGUF and SentencePiece ids differ at " << i << " / " << j
                                << " other than by a \"▁\" token";
      extra.push_back(i++);
    }
  }
  EXPECT_EQ(i, gguf.size());
  EXPECT_EQ(j, spm.size());
  EXPECT_EQ(extra.size(), 5u);
  if (!extra.empty()) EXPECT_EQ(extra[0], 2u);  // BOS, the dummy-prefix "▁", then the file's leading space
}

}  // namespace
}  // namespace sqz

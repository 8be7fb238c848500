// SentencePiece (tokenizer.model): a tiny BPE model trained in-test with byte fallback; sqz's encode must
// give [BOS] + the processor's own ids, and decode must invert it exactly (identity normalization,
// whitespace kept, so the text survives unchanged).
#include <gtest/gtest.h>
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <fstream>

#include "core/error.h"
#include "tokenizer_test_util.h"
#include "tokenizer/tokenizer.h"

// Defined in libsentencepiece but not declared by its 0.1.97 headers; silences the trainer's log.
namespace sentencepiece::logging {
void SetMinLogLevel(int v);
}

namespace sqz {
namespace {

// A few hundred sentences: varied words, digits, punctuation and a few accented letters.
std::vector<std::string> corpus() {
  const char* subj[] = {"The cat", "A little dog", "My old friend", "The café owner", "Every child", "Zoë"};
  const char* verb[] = {"saw", "liked", "walked past", "found", "painted", "remembered"};
  const char* obj[] = {"the red house", "a quiet river", "the garden gate", "an old naïve map", "the hill",
                       "a yellow boat"};
  std::vector<std::string> out;
  int n = 0;
  for (const char* s : subj)
    for (const char* v : verb)
      for (const char* o : obj) out.push_back(std::string(s) + " " + v + " " + o + " in " + std::to_string(1900 + n++ % 125) + ".");
  return out;
}

class SentencePieceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::ScratchDir();
    const std::string input = dir_->file("corpus.txt");
    {
      std::ofstream f(input);
      for (const auto& s : corpus()) f << s << "\n";
    }
    sentencepiece::logging::SetMinLogLevel(2);
    const auto st = sentencepiece::SentencePieceTrainer::Train({
        {"input", input},
        {"model_prefix", dir_->file("m")},
        {"model_type", "bpe"},
        // byte_fallback needs 256 byte pieces, so the vocabulary cannot be as small as ~100.
        {"vocab_size", "400"},
        {"hard_vocab_limit", "false"},
        {"byte_fallback", "true"},
        {"character_coverage", "1.0"},
        {"normalization_rule_name", "identity"},
        {"remove_extra_whitespaces", "false"},
        {"split_digits", "true"},
        {"num_threads", "1"},
    });
    ASSERT_TRUE(st.ok()) << st.ToString();
    model_ = dir_->file("m.model");
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static test::ScratchDir* dir_;
  static std::string model_;
};
test::ScratchDir* SentencePieceTest::dir_ = nullptr;
std::string SentencePieceTest::model_;

// Test strings (also the ones used against books-6m): unicode, digits, whitespace runs, tabs, newlines.
const std::vector<std::string> kTexts = {
    "The cat saw the red house in 1999.",
    "naïve café — 東京 😀",
    "3.14159 2024",
    "a  b    c",
    "tab\there\t\tdone",
    "line one\nline two\n\nend\n",
    "  leading and trailing  ",
    "Hello, World! It's 1999.",
    "",
};

TEST_F(SentencePieceTest, MatchesProcessorAndRoundTrips) {
  auto tok = load_sentencepiece(model_);
  sentencepiece::SentencePieceProcessor sp;
  ASSERT_TRUE(sp.Load(model_).ok());
  EXPECT_EQ(tok->vocab_size(), sp.GetPieceSize());
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  for (const auto& s : kTexts) {
    std::vector<int> ref;
    ASSERT_TRUE(sp.Encode(s, &ref).ok());
    std::vector<int> with_bos = {1};
    with_bos.insert(with_bos.end(), ref.begin(), ref.end());
    EXPECT_EQ(tok->encode(s, false), ref) << s;
    EXPECT_EQ(tok->encode(s, true), with_bos) << s;
    EXPECT_EQ(tok->decode(tok->encode(s, true)), s) << s;
    EXPECT_EQ(tok->decode(ref), s) << s;
    std::string sp_text;
    ASSERT_TRUE(sp.Decode(ref, &sp_text).ok());
    EXPECT_EQ(tok->decode(ref), sp_text) << s;
  }
}

TEST_F(SentencePieceTest, DecodeToken) {
  auto tok = load_sentencepiece(model_);
  const std::vector<int> ids = tok->encode("The cat\n", true);
  ASSERT_GE(ids.size(), 3u);
  // "▁The" prints without its dummy-prefix space right after BOS, with it elsewhere.
  EXPECT_EQ(tok->decode_token(1, ids[1]), "The");
  EXPECT_EQ(tok->decode_token(5, ids[1]), " The");
  EXPECT_EQ(tok->decode_token(5, ids.back()), "\n");  // <0x0A>
  EXPECT_EQ(tok->decode_token(5, 1), "");              // <s>
  EXPECT_EQ(tok->decode_token(5, -1), "");
}

TEST_F(SentencePieceTest, MissingFile) {
  EXPECT_THROW(load_sentencepiece(dir_->file("nope.model")), Error);
}

}  // namespace
}  // namespace sqz

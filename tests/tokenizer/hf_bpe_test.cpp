// Hugging Face byte-level BPE (tokenizer.json) built in-test from bpe_fixture.h. Expected ids were worked
// out by hand from the pre-tokenizer pieces (checked against Python's `regex` module) and the merge ranks.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "bpe_fixture.h"
#include "core/error.h"
#include "tokenizer_test_util.h"
#include "tokenizer/tokenizer.h"

namespace sqz {
namespace {

using json = nlohmann::json;
using test::make_tokenizer_json, test::kEot, test::kBot, test::kXyz;

std::unique_ptr<Tokenizer> load_json(const test::ScratchDir& dir, const json& j, const std::string& config = "") {
  test::write_bytes(dir.file("tokenizer.json"), j.dump(1));
  if (!config.empty()) test::write_bytes(dir.file("tokenizer_config.json"), config);
  return load_hf_bpe(dir.file("tokenizer.json"));
}

using V = std::vector<int>;

TEST(HfBpe, Gpt2Regex) {
  test::ScratchDir dir;
  auto t = load_json(dir, make_tokenizer_json(false));
  EXPECT_EQ(t->vocab_size(), kXyz + 1);
  EXPECT_EQ(t->encode("hello world", false), V({259, 264}));
  // pieces: hello | "  " | \t | world | \n  ("world" without Ġ only gets or, ld)
  EXPECT_EQ(t->encode("hello  \tworld\n", false), V({259, 265, 9, 'w', 261, 263, 10}));
  // " ?\p{N}+" keeps 3412 whole, so "12" can merge
  EXPECT_EQ(t->encode("3412", false), V({'3', '4', 266}));
  // a | "  " | " b": the space before b stays with it
  EXPECT_EQ(t->encode("a   b", false), V({'a', 265, ' ', 'b'}));
  // \s+(?!\S) backs off, so each newline is its own piece and ĊĊ cannot merge
  EXPECT_EQ(t->encode("a\n\nb", false), V({'a', 10, 10, 'b'}));
  // café: é (rank 12) merges before ca (13), caf (14), café (15); 😀 stays four bytes
  EXPECT_EQ(t->encode("café 😀", false), V({271, ' ', 0xF0, 0x9F, 0x98, 0x80}));
  EXPECT_EQ(t->encode("xyz", false), V({'x', 'y', 'z'}));  // no ignore_merges here
}

TEST(HfBpe, Llama3SplitRegex) {
  test::ScratchDir dir;
  auto t = load_json(dir, make_tokenizer_json(true));
  EXPECT_EQ(t->bos_id(), kBot);  // from the TemplateProcessing
  EXPECT_EQ(t->encode("hello world", true), V({kBot, 259, 264}));
  EXPECT_EQ(t->encode("hello world", false), V({259, 264}));
  // \p{N}{1,3}: 341 | 2, so "12" cannot merge
  EXPECT_EQ(t->encode("3412", false), V({'3', '4', '1', '2'}));
  EXPECT_EQ(t->encode("x1234567", false), V({'x', 266, '3', '4', '5', '6', '7'}));
  // \s*[\r\n]+ keeps the newlines together
  EXPECT_EQ(t->encode("a\n\nb", false), V({'a', 267, 'b'}));
  EXPECT_EQ(t->encode("a   b", false), V({'a', 265, ' ', 'b'}));
  EXPECT_EQ(t->encode("café 😀", false), V({271, ' ', 0xF0, 0x9F, 0x98, 0x80}));
  EXPECT_EQ(t->encode("xyz", false), V({kXyz}));  // ignore_merges: a whole-word token is taken as is
}

// HF's Digits pre-tokenizer isolates every numeric character, not only ASCII digits (SmolLM2's "½").
TEST(HfBpe, DigitsAreUnicodeNumbers) {
  test::ScratchDir dir;
  json j = make_tokenizer_json(false);
  // Â ½ -> "Â½" (275), Ġ Â½ -> "ĠÂ½" (276): " ½" is one token only when the space and ½ share a piece.
  j["model"]["vocab"]["Â½"] = 275;
  j["model"]["vocab"]["ĠÂ½"] = 276;
  j["model"]["merges"].push_back("Â ½");
  j["model"]["merges"].push_back("Ġ Â½");
  auto gpt2 = load_json(dir, j);
  EXPECT_EQ(gpt2->encode("4 ½", false), V({'4', 276}));
  for (const bool individual : {true, false}) {
    j["pre_tokenizer"] = {{"type", "Sequence"},
                          {"pretokenizers",
                           json::array({{{"type", "Digits"}, {"individual_digits", individual}},
                                        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}})}};
    auto t = load_json(dir, j);
    EXPECT_EQ(t->encode("4 ½", false), V({'4', ' ', 275})) << individual;
    // 3412: one piece (then "12" merges) or four
    EXPECT_EQ(t->encode("3412", false), individual ? V({'3', '4', '1', '2'}) : V({'3', '4', 266}));
    // ½12: one run of numbers (½ merges, then 12) or three pieces
    EXPECT_EQ(t->encode("x½12", false), individual ? V({'x', 275, '1', '2'}) : V({'x', 275, 266}));
  }
}

TEST(HfBpe, AddedTokensMatchVerbatim) {
  test::ScratchDir dir;
  auto t = load_json(dir, make_tokenizer_json(false));
  EXPECT_EQ(t->encode("hello<|endoftext|> world", false), V({259, kEot, 264}));
  EXPECT_EQ(t->encode("<|endoftext|><|endoftext|>", false), V({kEot, kEot}));
  EXPECT_EQ(t->encode("<|endoftext|", false), V({'<', '|', 'e', 'n', 'd', 'o', 'f', 't', 'e', 'x', 't', '|'}));
  EXPECT_EQ(t->decode({259, kEot, 264}), "hello<|endoftext|> world");
}

TEST(HfBpe, AddPrefixSpace) {
  test::ScratchDir dir;
  auto t = load_json(dir, make_tokenizer_json(false, true));
  EXPECT_EQ(t->encode("world", false), V({264}));
  EXPECT_EQ(t->encode(" world", false), V({264}));
}

TEST(HfBpe, BosAndEos) {
  {
    test::ScratchDir dir;  // no post_processor, no tokenizer_config.json: known token names
    auto t = load_json(dir, make_tokenizer_json(false));
    EXPECT_EQ(t->bos_id(), kBot);
    EXPECT_EQ(t->eos_id(), kEot);
  }
  {
    test::ScratchDir dir;  // Qwen2 style: bos_token null means no BOS
    auto t = load_json(dir, make_tokenizer_json(false), R"({"bos_token": null, "eos_token": "<|endoftext|>"})");
    EXPECT_EQ(t->bos_id(), -1);
    EXPECT_EQ(t->eos_id(), kEot);
    EXPECT_EQ(t->encode("hello", true), V({259}));
  }
  {
    test::ScratchDir dir;
    auto t = load_json(dir, make_tokenizer_json(false),
                       R"({"bos_token": {"content": "<|endoftext|>", "lstrip": false}, "eos_token": "<|endoftext|>"})");
    EXPECT_EQ(t->bos_id(), kEot);
    EXPECT_EQ(t->encode("hello", true), V({kEot, 259}));
  }
}

TEST(HfBpe, RoundTrips) {
  test::ScratchDir dir;
  auto gpt2 = load_json(dir, make_tokenizer_json(false));
  auto llama3 = load_json(dir, make_tokenizer_json(true));
  const std::vector<std::string> texts = {
      "hello world", "naïve café — 東京 😀", "3.14159 2024", "a  b    c", "tab\there\t\tdone",
      "line one\nline two\n\nend\n", "  leading and trailing  ", "It's ME'LL \r\n x", "\xff\xfe invalid \xc3",
      "", "<|endoftext|>x<|endoftext|>",
  };
  for (const auto& s : texts) {
    EXPECT_EQ(gpt2->decode(gpt2->encode(s, false)), s) << s;
    EXPECT_EQ(llama3->decode(llama3->encode(s, true)), s) << s;  // BOS prints nothing
  }
  EXPECT_EQ(gpt2->decode_token(0, 264), " world");
  EXPECT_EQ(gpt2->decode_token(0, 268), "é");
  EXPECT_EQ(gpt2->decode_token(0, 10), "\n");
  EXPECT_EQ(gpt2->decode_token(0, 100000), "");
}

TEST(HfBpe, Errors) {
  test::ScratchDir dir;
  test::write_bytes(dir.file("tokenizer.json"), "{not json");
  EXPECT_THROW(load_hf_bpe(dir.file("tokenizer.json")), Error);
  json j = make_tokenizer_json(false);
  j["model"]["type"] = "Unigram";
  EXPECT_THROW(load_json(dir, j), Error);
  j = make_tokenizer_json(false);
  j["pre_tokenizer"] = {{"type", "Metaspace"}};
  EXPECT_THROW(load_json(dir, j), Error);
  j = make_tokenizer_json(true);
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  EXPECT_THROW(load_json(dir, j), Error);
  EXPECT_THROW(load_hf_bpe(dir.file("missing.json")), Error);
}

}  // namespace
}  // namespace sqz

// load_tokenizer: which file it picks for each checkpoint format, overrides, and its error messages.
// Checkpoints are built by hand (only format, dir and config matter here), so no weights are needed.
#include <gtest/gtest.h>

#include "bpe_fixture.h"
#include "core/error.h"
#include "io/checkpoint.h"
#include "tokenizer_test_util.h"
#include "tokenizer/tokenizer.h"

namespace sqz {
namespace {

// A llama2.c tokenizer.bin with <unk>, <s>, </s> and then `extra` single-letter tokens.
std::string tiny_llama2c_bin(int extra) {
  std::string out;
  test::put_pod(out, int32_t{5});
  std::vector<std::string> toks = {"<unk>", "<s>", "</s>"};
  for (int i = 0; i < extra; ++i) toks.push_back(std::string(1, (char)('a' + i)));
  for (const auto& t : toks) {
    test::put_pod(out, 0.0f);
    test::put_pod(out, (int32_t)t.size());
    out += t;
  }
  return out;
}

Checkpoint make_ckpt(CheckpointFormat f, const std::string& dir, int vocab = 0) {
  Checkpoint c;
  c.format = f;
  c.dir = dir;
  c.path = dir + "/model";
  c.config.vocab_size = vocab;
  return c;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(LoadTokenizer, HfDir) {
  test::ScratchDir dir;
  const std::string d = dir.path().string();
  Checkpoint c = make_ckpt(CheckpointFormat::HfDir, d);
  EXPECT_EQ(error_of([&] { load_tokenizer(c); }),
            d + ": no tokenizer found (looked for tokenizer.model, tokenizer.json, tokenizer.bin); pass --tokenizer PATH");
  test::write_bytes(dir.file("tokenizer.json"), test::make_tokenizer_json(true).dump());
  auto t = load_tokenizer(c);
  EXPECT_EQ(t->encode("hello world", true), std::vector<int>({test::kBot, 259, 264}));
  // tokenizer.model wins over tokenizer.json: a broken one must be tried (and fail).
  test::write_bytes(dir.file("tokenizer.model"), "not a model");
  EXPECT_THROW(load_tokenizer(c), Error);
}

TEST(LoadTokenizer, Llama2cDir) {
  test::ScratchDir dir;
  const std::string d = dir.path().string();
  Checkpoint c = make_ckpt(CheckpointFormat::Llama2c, d, 4);
  EXPECT_EQ(error_of([&] { load_tokenizer(c); }),
            d + ": no tokenizer found (looked for tokenizer.bin, tok*.bin); pass --tokenizer PATH");
  test::write_bytes(dir.file("tok4.bin"), tiny_llama2c_bin(1));
  EXPECT_EQ(load_tokenizer(c)->vocab_size(), 4);
  test::write_bytes(dir.file("tok5.bin"), tiny_llama2c_bin(2));
  EXPECT_EQ(error_of([&] { load_tokenizer(c); }),
            d + ": several tokenizers found (tok4.bin, tok5.bin); pass --tokenizer PATH");
  test::write_bytes(dir.file("tokenizer.bin"), tiny_llama2c_bin(3));
  EXPECT_EQ(load_tokenizer(c)->vocab_size(), 4);  // tokenizer.bin wins; vocab size from the config
  c.config.vocab_size = 0;
  EXPECT_EQ(load_tokenizer(c)->vocab_size(), 6);  // unknown vocab size: the whole file
}

TEST(LoadTokenizer, Override) {
  test::ScratchDir dir;
  Checkpoint c = make_ckpt(CheckpointFormat::HfDir, dir.path().string(), 5);
  test::write_bytes(dir.file("other.bin"), tiny_llama2c_bin(2));
  EXPECT_EQ(load_tokenizer(c, dir.file("other.bin"))->vocab_size(), 5);
  test::write_bytes(dir.file("other.json"), test::make_tokenizer_json(false).dump());
  EXPECT_EQ(load_tokenizer(c, dir.file("other.json"))->vocab_size(), test::kXyz + 1);
  test::write_bytes(dir.file("other.txt"), "x");
  EXPECT_THROW(load_tokenizer(c, dir.file("other.txt")), Error);
  EXPECT_THROW(load_tokenizer(c, dir.file("missing.model")), Error);
}

TEST(LoadTokenizer, GgufWithoutVocab) {
  test::ScratchDir dir;
  GgufWriter w;
  w.set_str("general.architecture", "llama");
  w.write(dir.file("m.gguf"));
  Checkpoint c = make_ckpt(CheckpointFormat::Gguf, dir.path().string());
  c.path = dir.file("m.gguf");
  c.gguf_ = std::make_unique<GgufFile>(c.path);
  EXPECT_EQ(error_of([&] { load_tokenizer(c); }),
            c.path + ": no tokenizer in the GGUF metadata (tokenizer.ggml.model); pass --tokenizer PATH");
}

}  // namespace
}  // namespace sqz

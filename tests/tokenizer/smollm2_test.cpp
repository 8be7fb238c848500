// Integration: sqz's GGUF "gpt2" tokenizer on SmolLM2-135M-Instruct (tokenizer.ggml.pre "smollm") encodes the
// whole WikiText-2 test file exactly as an independent BPE does: Hugging Face's `tokenizers` (Rust) fed
// with the GGUF's vocabulary and merges by reference/gguf_bpe_ref.py. (That reference in turn equals
// llama.cpp's llama-tokenize on this file: 303,415 ids, checked once outside the suite.) Skips with a
// message when the model (scripts/fetch_models.sh), ../shared or the .venv packages are absent.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "core/file_io.h"
#include "core/mmap.h"
#include "io/gguf.h"
#include "tokenizer_test_util.h"
#include "tokenizer/tokenizer.h"

namespace sqz {
namespace {

namespace fs = std::filesystem;

const std::string kPython = SQZ_SOURCE_DIR "/.venv/bin/python3";
const std::string kScript = SQZ_SOURCE_DIR "/tests/tokenizer/reference/gguf_bpe_ref.py";
const std::string kSmolLM2 = SQZ_SOURCE_DIR "/models/SmolLM2-135M-Instruct.Q4_1.gguf";

// The reference's ids: a uint32 count, then that many int32.
std::vector<int> reference_ids(const std::string& model, const std::string& text_file) {
  const std::string cmd = "'" + kPython + "' '" + kScript + "' '" + model + "' '" + text_file + "'";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {};
  uint32_t n = 0;
  std::vector<int> ids;
  if (std::fread(&n, 4, 1, p) == 1) {
    ids.resize(n);
    if (std::fread(ids.data(), 4, n, p) != n) ids.clear();
  }
  const int rc = pclose(p);
  EXPECT_EQ(rc, 0) << cmd << " failed";
  return ids;
}

TEST(SmolLM2Tokenizer, WholeWikiTextMatchesHfTokenizers) {
  const std::string shared = test::shared_dir();
  const std::string wiki = shared + "/data/wikitext-2-raw/wiki.test.raw";
  if (!fs::exists(kSmolLM2)) GTEST_SKIP() << kSmolLM2 << " not present (bash scripts/fetch_models.sh fetches it)";
  if (shared.empty() || !fs::exists(wiki)) GTEST_SKIP() << "../shared/data/wikitext-2-raw/wiki.test.raw not found";
  if (!fs::exists(kPython) ||
      std::system(("'" + kPython + "' -c 'import gguf, tokenizers' >/dev/null 2>&1").c_str()) != 0)
    GTEST_SKIP() << kPython << " cannot import gguf and tokenizers (scripts/test.sh creates .venv and pip-installs them)";

  GgufFile g(kSmolLM2);
  auto tok = load_gguf_tokenizer(g);
  EXPECT_EQ(tok->bos_id(), -1);  // add_bos_token is false
  const std::vector<int> ids = tok->encode(read_text_file(wiki), true);
  const std::vector<int> ref = reference_ids(kSmolLM2, wiki);
  ASSERT_FALSE(ref.empty()) << "no ids from " << kScript;
  EXPECT_EQ(ids.size(), ref.size());
  size_t first = 0;
  while (first < ids.size() && first < ref.size() && ids[first] == ref[first]) ++first;
  EXPECT_EQ(first, std::min(ids.size(), ref.size())) << "first difference at token " << first;
  EXPECT_EQ(ids.size(), 303415u);  // llama-tokenize's count (recorded in docs/results.md)
}

}  // namespace
}  // namespace sqz

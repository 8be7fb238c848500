// Integration: sqz's forward pass and perplexity against ../shared/models/*/reference.json, produced by an
// independent PyTorch implementation. Skipped (with a message) when ../shared is absent.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file_io.h"
#include "eval/perplexity.h"
#include "io/checkpoint.h"
#include "model/llama.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;
using namespace sqz;

namespace {

const fs::path kShared = fs::path(SQZ_SOURCE_DIR) / ".." / "shared";

struct SharedModel {
  const char* dir;
  const char* checkpoint;  // relative to dir; "" for the directory itself
};

nlohmann::json load_reference(const fs::path& dir) { return nlohmann::json::parse(read_text_file((dir / "reference.json").string())); }

void check_logits(const SharedModel& sm) {
  const fs::path dir = kShared / "models" / sm.dir;
  if (!fs::exists(dir)) GTEST_SKIP() << dir << " not found (integration data lives in ../shared)";
  auto ref = load_reference(dir);
  auto ck = std::shared_ptr<const Checkpoint>(open_checkpoint((dir / sm.checkpoint).string()));
  LlamaModel model(ck);
  auto tok = load_tokenizer(*ck);
  const std::vector<int> ids = ref["prompt_ids"].get<std::vector<int>>();
  EXPECT_EQ(tok->encode(ref["prompt"].get<std::string>(), true), ids) << "tokenizer disagrees with the reference";
  KVCache cache(ck->config, (int64_t)ids.size());
  std::vector<float> logits((size_t)ck->config.vocab_size);
  model.forward(ids.data(), (int64_t)ids.size(), cache, logits.data(), false);
  const auto first = ref["last_logits_first16"].get<std::vector<double>>();
  double max_abs = 0;
  for (size_t i = 0; i < first.size(); ++i) max_abs = std::max(max_abs, std::fabs(first[i] - logits[i]));
  EXPECT_LT(max_abs, 1e-3) << "max |logit - reference| over the first 16";
  const int argmax = (int)(std::max_element(logits.begin(), logits.end()) - logits.begin());
  EXPECT_EQ(argmax, ref["last_logits_argmax"].get<int>());
}

void check_ppl(const SharedModel& sm) {
  const fs::path dir = kShared / "models" / sm.dir;
  const fs::path data = kShared / "data" / "wikitext-2-raw" / "wiki.test.raw";
  if (!fs::exists(dir) || !fs::exists(data)) GTEST_SKIP() << dir << " or " << data << " not found";
  auto ref = load_reference(dir);
  auto ck = std::shared_ptr<const Checkpoint>(open_checkpoint((dir / sm.checkpoint).string()));
  LlamaModel model(ck);
  auto tok = load_tokenizer(*ck);
  const int64_t max_chars = ref.value("eval_chars", int64_t{0});
  std::vector<int> ids = tok->encode(read_eval_text(data.string(), max_chars), true);
  EXPECT_EQ((int64_t)ids.size(), ref["n_tokens"].get<int64_t>());
  PplOptions o;
  o.ctx = ref["ctx"].get<int64_t>();
  o.progress = false;
  PplResult r = perplexity(model, ids, o);
  EXPECT_EQ(r.windows, ref["windows"].get<int64_t>());
  EXPECT_EQ(r.scored, ref["scored"].get<int64_t>());
  const double want = ref["ppl"].get<double>();
  EXPECT_LT(std::fabs(r.ppl - want) / want, 1e-3) << "ppl " << r.ppl << " vs reference " << want;
}

}  // namespace

TEST(SharedReference, Stories260KLogits) { check_logits({"stories260K", "stories260K.bin"}); }
TEST(SharedReference, Books6mLogits) { check_logits({"books-6m", ""}); }
TEST(SharedReference, Stories260KPerplexity) { check_ppl({"stories260K", "stories260K.bin"}); }
// The full WikiText-2 test set, 1810 windows of 256 tokens: about three minutes on two cores.
TEST(SharedReference, Books6mPerplexity) { check_ppl({"books-6m", ""}); }

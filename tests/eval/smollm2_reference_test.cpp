// Integration: sqz's forward pass and perplexity on SmolLM2-135M-Instruct (Q4_1 GGUF, tied Q8_0 embedding)
// against tests/eval/reference/smollm2_ref.py, an independent float64 numpy implementation reading the GGUF
// with gguf-py (and tokenizing with Hugging Face tokenizers). Checked: the prompt's ids, every logit at the
// prompt's last position within 1e-3, and perplexity over the first kWindows windows of 512 tokens of
// WikiText-2 within 1e-4 relative. Skips with a message when the model (scripts/fetch_models.sh),
// ../shared or the .venv packages (scripts/test.sh) are absent.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "eval/perplexity.h"
#include "io/checkpoint.h"
#include "model/llama.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;
using namespace sqz;

namespace {

const std::string kPython = SQZ_SOURCE_DIR "/.venv/bin/python3";
const std::string kScript = SQZ_SOURCE_DIR "/tests/eval/reference/smollm2_ref.py";
const std::string kModel = SQZ_SOURCE_DIR "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
const std::string kWiki = SQZ_SOURCE_DIR "/../shared/data/wikitext-2-raw/wiki.test.raw";
const char* kPrompt = "The capital of France is";
constexpr int64_t kCtx = 512;
// Two windows (1022 scored tokens): the numpy reference takes about 10 s of one core per window.
constexpr int64_t kWindows = 2;

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  EXPECT_EQ(pclose(p), 0) << cmd << " failed";
  return out;
}

// One test, so that ctest (one process per test) runs the reference script once.
TEST(SmolLM2Reference, LogitsAndPerplexity) {
  if (!fs::exists(kModel)) GTEST_SKIP() << kModel << " not present (bash scripts/fetch_models.sh fetches it)";
  if (!fs::exists(kWiki)) GTEST_SKIP() << kWiki << " not found (integration data lives in ../shared)";
  if (!fs::exists(kPython) ||
      std::system(("'" + kPython + "' -c 'import gguf, numpy, tokenizers' >/dev/null 2>&1").c_str()) != 0)
    GTEST_SKIP() << kPython << " cannot import gguf, numpy and tokenizers (scripts/test.sh creates .venv and "
                 << "installs them)";
  const std::string out = run("'" + kPython + "' '" + kScript + "' '" + kModel + "' --text '" + kWiki + "' --ctx " +
                              std::to_string(kCtx) + " --windows " + std::to_string(kWindows) + " --prompt '" +
                              kPrompt + "'");
  const nlohmann::json ref = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(ref.is_discarded()) << kScript << " printed no JSON";

  auto ck = std::shared_ptr<const Checkpoint>(open_checkpoint(kModel));
  LlamaModel model(ck);
  auto tok = load_tokenizer(*ck);
  {
    SCOPED_TRACE("last-position logits");
    const std::vector<int> ids = ref["prompt_ids"].get<std::vector<int>>();
    ASSERT_EQ(tok->encode(kPrompt, true), ids) << "tokenizer disagrees with the reference";
    KVCache cache(ck->config, (int64_t)ids.size());
    std::vector<float> logits((size_t)ck->config.vocab_size);
    model.forward(ids.data(), (int64_t)ids.size(), cache, logits.data(), false);
    const auto want = ref["last_logits"].get<std::vector<double>>();
    ASSERT_EQ(want.size(), logits.size());
    double max_abs = 0;
    size_t worst = 0;
    for (size_t i = 0; i < want.size(); ++i)
      if (std::fabs(want[i] - logits[i]) > max_abs) max_abs = std::fabs(want[i] - logits[i]), worst = i;
    EXPECT_LT(max_abs, 1e-3) << "max |logit - reference| over all " << want.size() << " at id " << worst;
    std::printf("[ measured ] max |logit - float64 reference| = %.3g (id %zu, reference logit %.4f)\n", max_abs,
                worst, want[worst]);
    const auto argmax = [](const auto& v) { return std::max_element(v.begin(), v.end()) - v.begin(); };
    EXPECT_EQ(argmax(logits), argmax(want));
  }
  {
    SCOPED_TRACE("perplexity");
    const std::vector<int> ids = tok->encode(read_eval_text(kWiki), true);
    EXPECT_EQ((int64_t)ids.size(), ref["n_tokens"].get<int64_t>());
    PplOptions o;
    o.ctx = kCtx;
    o.max_windows = kWindows;
    o.progress = false;
    const PplResult r = perplexity(model, ids, o);
    EXPECT_EQ(r.windows, ref["windows"].get<int64_t>());
    EXPECT_EQ(r.scored, ref["scored"].get<int64_t>());
    const double want = ref["ppl"].get<double>();
    EXPECT_LT(std::fabs(r.ppl - want) / want, 1e-4) << "ppl " << r.ppl << " vs reference " << want;
    std::printf("[ measured ] ppl %.6f, float64 reference %.6f, relative difference %.3g (%lld windows of %lld)\n",
                r.ppl, want, std::fabs(r.ppl - want) / want, (long long)r.windows, (long long)kCtx);
  }
}

}  // namespace

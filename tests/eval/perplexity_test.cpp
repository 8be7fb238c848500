#include <gtest/gtest.h>

#include <cmath>

#include "eval/perplexity.h"
#include "model/ops.h"
#include "support/tiny_model.h"

using namespace sqz;

// perplexity() against a direct computation: every window from an empty cache, ctx-1 predictions each.
TEST(Perplexity, MatchesDirectComputationAndKl) {
  ModelConfig c = tiny_config();
  auto m = make_random_model(c, 1), other = make_random_model(c, 2);
  std::vector<int> ids(70);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = (int)((i * 5 + 3) % (size_t)c.vocab_size);
  PplOptions o;
  o.ctx = 16;
  o.progress = false;
  PplResult r = perplexity(*m, ids, o);
  EXPECT_EQ(r.windows, 4);
  EXPECT_EQ(r.scored, 60);
  double nll = 0;
  for (int w = 0; w < 4; ++w)
    for (int t = 1; t < 16; ++t) {
      // Score position t from the prefix alone (no cache reuse across calls).
      KVCache cache(c, t);
      std::vector<float> logits((size_t)c.vocab_size);
      m->forward(ids.data() + w * 16, t, cache, logits.data(), false);
      nll += log_sum_exp(logits.data(), c.vocab_size) - logits[(size_t)ids[(size_t)(w * 16 + t)]];
    }
  EXPECT_NEAR(r.ppl, std::exp(nll / 60), 1e-4 * r.ppl);
  KlResult self = perplexity_and_kl(*m, *m, ids, o);
  EXPECT_NEAR(self.kl, 0.0, 1e-9);
  EXPECT_DOUBLE_EQ(self.ppl.ppl, r.ppl);
  KlResult diff = perplexity_and_kl(*other, *m, ids, o);
  EXPECT_GT(diff.kl, 1e-3);
}

// End to end: calibrate a tiny checkpoint, quantize it with each method through quantize_model, load the
// result through the normal model loader, and check what was stored and how it computes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "calib/calibrate.h"
#include "core/error.h"
#include "io/checkpoint.h"
#include "support/tiny_checkpoint.h"
#include "kernels/cpu/formats.h"
#include "model/llama.h"
#include "support/tiny_model.h"
#include "quant/quantizer.h"

namespace fs = std::filesystem;
using namespace sqz;

namespace {

struct Fixture {
  fs::path dir;
  ModelConfig cfg;
  std::string model, stats;
  Fixture() {
    dir = fs::temp_directory_path() / ("sqz_qe2e_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir / "model");
    cfg = tiny_config();
    cfg.dim = 64;
    cfg.hidden_dim = 96;
    cfg.head_dim = 16;
    cfg.vocab_size = 96;
    model = (dir / "model").string();
    write_tiny_hf_model(model, cfg, 21, DType::F16);
    auto ck = std::shared_ptr<const Checkpoint>(open_checkpoint(model));
    LlamaModel m(ck);
    std::vector<int> toks(400);
    for (size_t i = 0; i < toks.size(); ++i) toks[i] = (int)((i * 13 + i / 5) % (size_t)cfg.vocab_size);
    CalibOptions o;
    o.nsamples = 4;
    o.ctx = 32;
    o.progress = false;
    stats = (dir / "stats.safetensors").string();
    calibrate(m, toks, o, stats);
    // A llama2.c-style tokenizer.bin of single characters, so the directory has a tokenizer (AWQ's search
    // tokenizes calibration text), and that text.
    write_tiny_char_tokenizer((dir / "model" / "tokenizer.bin").string(), cfg.vocab_size);
    calib_text = (dir / "calib.txt").string();
    std::ofstream(calib_text) << "the quick brown fox jumps over the lazy dog; 0123456789 THE QUICK BROWN FOX!\n"
                                 "pack my box with five dozen liquor jugs. how vexingly quick daft zebras jump.\n";
  }
  std::string calib_text;
  ~Fixture() { fs::remove_all(dir); }
};

Fixture& fx() {
  static Fixture f;
  return f;
}

std::vector<float> last_logits(const std::string& path) {
  auto m = load_model(path);
  const std::vector<int> toks = {1, 5, 9, 30, 2, 77, 41};
  KVCache cache(m->config(), (int64_t)toks.size());
  std::vector<float> logits((size_t)m->config().vocab_size);
  m->forward(toks.data(), (int64_t)toks.size(), cache, logits.data(), false);
  return logits;
}

double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - b[i]) * (double)(a[i] - b[i]);
    den += (double)b[i] * b[i];
  }
  return std::sqrt(num / den);
}

}  // namespace

TEST(QuantizeE2E, EveryMethodWritesALoadableDirectory) {
  const auto ref = last_logits(fx().model);
  struct Case {
    QuantOptions o;
    const char* tensor;  // a suffix the output must contain
    double max_rel;      // relative logit error bound: generous, each format's error is far below it
  };
  std::vector<Case> cases;
  auto mk = [](std::string method, int bits) {
    QuantOptions o;
    o.method = method;
    o.bits = bits;
    return o;
  };
  cases.push_back({mk("rtn", 4), ".qzeros", 0.25});
  cases.push_back({mk("rtn", 8), ".qzeros", 0.02});
  cases.push_back({mk("squeezellm", 4), ".sparse_values", 0.25});
  cases.push_back({mk("squeezellm", 3), ".lut", 0.5});
  cases.push_back({mk("gptq", 4), ".scales", 0.25});
  cases.push_back({mk("nf4", 4), ".absmax", 0.25});
  cases.push_back({mk("smoothquant", 8), ".qweight_i8", 0.05});
  QuantOptions sq_static = mk("smoothquant", 8);
  sq_static.act_quant = "per_tensor_static";
  cases.push_back({sq_static, ".act_scale", 0.1});
  QuantOptions awq = mk("awq", 4);
  awq.calib = {fx().calib_text};
  awq.calib_ctx = 32;
  cases.push_back({awq, ".qzeros", 0.25});
  for (auto& c : cases) {
    c.o.stats_path = fx().stats;
    const fs::path out = fx().dir / (c.o.method + std::to_string(c.o.bits) + c.o.act_quant);
    QuantizeReport r = quantize_model(fx().model, c.o, out.string());
    EXPECT_FALSE(fs::exists(out.string() + ".tmp." + std::to_string(::getpid())));
    auto ck = open_checkpoint(out.string());
    EXPECT_EQ(ck->quantization_config["method"], c.o.method);
    EXPECT_EQ(ck->quantization_config["bits"], c.o.bits);
    EXPECT_NE(ck->find(std::string("model.layers.1.mlp.down_proj") + c.tensor), nullptr) << c.o.method;
    EXPECT_EQ(ck->find("model.layers.1.mlp.down_proj.weight"), nullptr);
    const double e = rel_err(last_logits(out.string()), ref);
    EXPECT_LT(e, c.max_rel) << c.o.method << " " << c.o.bits;
    EXPECT_GT(e, 0.0) << c.o.method << " must actually change the weights";
    EXPECT_GT(r.bpw_linear, c.o.bits);
    if (c.o.method == "smoothquant" || c.o.method == "awq")  // smoothing / AWQ scales rescales the norms in front of q/k/v and gate/up
      EXPECT_EQ(ck->require("model.layers.0.input_layernorm.weight").dtype, DType::F32);
    // Upper bound: the indices, plus at most one fp16 table of 2^bits entries per row (SqueezeLLM's LUT; far
    // more than two fp16 per group), plus the sparse part (an int32 row pointer per row, 48 bits per entry
    // for 0.45% of the weights).
    const double in = fx().cfg.dim;
    EXPECT_LT(r.bpw_linear, c.o.bits + 16.0 * (1 << c.o.bits) / in + 32.0 / in + 0.0045 * 48 + 0.01) << c.o.method;
  }
}

// The sparse part of SqueezeLLM stores exactly the requested share of each matrix, and with it the
// weights at those positions come back to fp16 precision.
TEST(QuantizeE2E, SqueezeLlmSparsePartIsExactAndSized) {
  QuantOptions o;
  o.method = "squeezellm";
  o.bits = 3;
  o.sparsity = 2.0;  // percent
  o.stats_path = fx().stats;
  const fs::path out = fx().dir / "sq3sparse";
  quantize_model(fx().model, o, out.string());
  auto q = load_model(out.string());
  auto f = load_model(fx().model);
  const Linear* ql = q->layers()[0].linear[kGate].get();
  const Linear* fl = f->layers()[0].linear[kGate].get();
  const auto qw = ql->dequantize(), fw = fl->dequantize();
  auto ck = open_checkpoint(out.string());
  const TensorView& rp = ck->require("model.layers.0.mlp.gate_proj.sparse_row_ptr");
  const TensorView& ci = ck->require("model.layers.0.mlp.gate_proj.sparse_col_idx");
  const int32_t* row_ptr = rp.as<int32_t>();
  const int64_t rows = ql->out_features(), cols = ql->in_features();
  EXPECT_EQ(row_ptr[rows], std::llround(0.02 * (double)(rows * cols)));
  for (int64_t r = 0; r < rows; ++r)
    for (int32_t i = row_ptr[r]; i < row_ptr[r + 1]; ++i) {
      const size_t k = (size_t)(r * cols + ci.as<int32_t>()[i]);
      EXPECT_NEAR(qw[k], fw[k], 1e-3 * std::fabs(fw[k]) + 1e-6);
    }
}

TEST(QuantizeE2E, ErrorsAreClear) {
  QuantOptions o;
  o.method = "squeezellm";
  o.bits = 3;  // Fisher weighting without --stats is a usage error
  EXPECT_THROW(quantize_model(fx().model, o, (fx().dir / "x").string()), UsageError);
  o.method = "bogus";
  EXPECT_THROW(quantize_model(fx().model, o, (fx().dir / "x").string()), Error);
  EXPECT_FALSE(fs::exists(fx().dir / "x"));
}

// 3-bit indices changed layout once (docs/format.md, index_packing): a directory that does not declare the
// current layout must be refused by name, not decoded into wrong weights.
TEST(QuantizeE2E, ThreeBitModelWithOlderIndexPackingIsRefused) {
  QuantOptions o;
  o.method = "rtn";
  o.bits = 3;
  const fs::path out = fx().dir / "rtn3-old-packing";
  quantize_model(fx().model, o, out.string());
  EXPECT_NO_THROW(load_model(out.string()));
  const fs::path cfg = out / "config.json";
  nlohmann::json j;
  {
    std::ifstream in(cfg);
    in >> j;
  }
  EXPECT_EQ(j["quantization_config"]["index_packing"], kernels::kIndexPacking);
  j["quantization_config"].erase("index_packing");
  {
    std::ofstream f(cfg);
    f << j.dump();
  }
  try {
    load_model(out.string());
    ADD_FAILURE() << "a 3-bit model without index_packing loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("index_packing"), std::string::npos) << e.what();
  }
}

// GGUF block codecs (kernels/cpu/gguf_blocks.h).
//
// Decoders are compared bit for bit (memcmp of the fp32 output) with gguf-py's gguf.quants.dequantize
// on random blocks (random bytes, fp16 scale fields finite over the whole fp16 range: zeros,
// subnormals, huge, negative) and on every tensor of a real GGUF model when one is present. Encoders
// are compared bit for bit with gguf.quants.quantize where gguf-py has one (Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_0); all encoders are also checked here without Python for properties a float64 brute force can
// decide: every decoded weight is the nearest value its block's stored scales can represent (where the
// format's encoder picks levels by rounding against those scales), round-trip errors stay within what
// the bit width allows, and importance weights lower the importance-weighted error. The reference
// script runs under the repo's .venv (scripts/test.sh creates it); without gguf-py those tests skip.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "kernels/cpu/gguf_blocks.h"

using namespace sqz;
using namespace sqz::kernels::gguf;
namespace fs = std::filesystem;

namespace {

const std::string kPython = SQZ_SOURCE_DIR "/.venv/bin/python3";
const std::string kScript = SQZ_SOURCE_DIR "/tests/kernels/reference/gguf_blocks_ref.py";
const std::string kSmolLM2 = SQZ_SOURCE_DIR "/models/SmolLM2-135M-Instruct.Q4_1.gguf";

bool gguf_py_available() {
  static const bool ok =
      fs::exists(kPython) && std::system(("'" + kPython + "' -c 'import gguf, numpy' >/dev/null 2>&1").c_str()) == 0;
  return ok;
}
#define SKIP_WITHOUT_GGUF_PY()                                                                          \
  do {                                                                                                  \
    if (!gguf_py_available()) {                                                                         \
      GTEST_SKIP() << kPython << " cannot import gguf and numpy (scripts/test.sh creates .venv and "    \
                   << "pip-installs them)";                                                             \
    }                                                                                                   \
  } while (0)

// One record of the reference script's stream (see gguf_blocks_ref.py).
struct Record {
  std::string name;
  uint32_t ggml_type = 0;
  int64_t n = 0;
  std::vector<float> input;  // quant mode only
  std::vector<uint8_t> blocks;
  std::vector<float> output;
};

class RecordStream {
 public:
  explicit RecordStream(const std::string& args) : cmd_("'" + kPython + "' '" + kScript + "' " + args) {
    pipe_ = popen(cmd_.c_str(), "r");
    SQZ_CHECK(pipe_, "cannot run {}", cmd_);
  }
  ~RecordStream() {
    if (pipe_) pclose(pipe_);
  }
  // False at the end of the stream; throws on a short read (the script failed).
  bool next(Record& r) {
    uint32_t len = read<uint32_t>();
    if (len == 0) return false;
    r.name.resize(len);
    read_bytes(r.name.data(), len);
    r.ggml_type = read<uint32_t>();
    r.n = (int64_t)read<uint64_t>();
    const bool has_input = read<uint32_t>() != 0;
    const BlockType* t = find_block_type(r.ggml_type);
    SQZ_CHECK(t, "{}: record {} has ggml type {}, not a block type", cmd_, r.name, r.ggml_type);
    r.input.assign(has_input ? r.n : 0, 0.0f);
    read_bytes(r.input.data(), r.input.size() * 4);
    r.blocks.resize(row_bytes(*t, r.n));
    read_bytes(r.blocks.data(), r.blocks.size());
    r.output.resize(r.n);
    read_bytes(r.output.data(), r.output.size() * 4);
    return true;
  }
  int close() {
    const int rc = pclose(pipe_);
    pipe_ = nullptr;
    return rc;
  }

 private:
  template <typename T>
  T read() {
    T v;
    read_bytes(&v, sizeof v);
    return v;
  }
  void read_bytes(void* p, size_t n) {
    SQZ_CHECK(n == 0 || std::fread(p, 1, n, pipe_) == n, "{}: output ended early (the script failed?)", cmd_);
  }
  std::string cmd_;
  FILE* pipe_ = nullptr;
};

// Index of the first weight whose fp32 bits differ, or -1.
int64_t first_bit_difference(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return 0;
  if (std::memcmp(a.data(), b.data(), a.size() * 4) == 0) return -1;
  for (size_t i = 0; i < a.size(); ++i)
    if (f32_to_bits(a[i]) != f32_to_bits(b[i])) return (int64_t)i;
  return -1;
}

void expect_decodes_like_gguf_py(const Record& r) {
  const BlockType* t = find_block_type(r.ggml_type);
  ASSERT_NE(t, nullptr);
  std::vector<float> got(r.n);
  t->dequant(r.blocks.data(), got.data(), r.n);
  const int64_t i = first_bit_difference(got, r.output);
  EXPECT_EQ(i, -1) << r.name << " (" << t->name << "): weight " << i << " of " << r.n << " decodes to "
                   << (i >= 0 ? got[i] : 0.0f) << ", gguf-py " << (i >= 0 ? r.output[i] : 0.0f) << " (block "
                   << (i >= 0 ? i / t->block_weights : 0) << ")";
}

std::vector<std::string> decodable_names() {
  std::vector<std::string> v;
  for (const BlockType& t : block_types())
    if (t.ggml_type != kQ8_K) v.push_back(t.name);  // Q8_K is not a file type; gguf-py has no codec for it
  return v;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += " " + x;
  return s;
}

// Rows of weights in 32-weight groups of very different magnitudes (gaussian, heavy tails, outliers,
// a few zero/constant groups).
std::vector<float> test_rows(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> gauss;
  std::student_t_distribution<float> heavy(3.0f);
  std::uniform_real_distribution<float> u(-3.0f, 1.5f);
  std::vector<float> x(n);
  for (int64_t g = 0; g < n; g += 32) {
    const int kind = (int)(rng() % 10);
    const float mag = std::pow(10.0f, u(rng));
    for (int64_t j = g; j < std::min(n, g + 32); ++j) {
      switch (kind) {
        case 0: x[j] = 0.0f; break;
        case 1: x[j] = 0.5f * mag; break;
        case 2: x[j] = heavy(rng) * mag; break;
        default: x[j] = gauss(rng) * mag;
      }
    }
    if (kind == 3) x[g + rng() % 32] *= 25.0f;
  }
  return x;
}

std::vector<float> decode(const BlockType& t, const std::vector<uint8_t>& blocks, int64_t n) {
  std::vector<float> y(n);
  t.dequant(blocks.data(), y.data(), n);
  return y;
}
std::vector<uint8_t> encode(const BlockType& t, const std::vector<float>& x, const float* imp = nullptr) {
  std::vector<uint8_t> b(row_bytes(t, (int64_t)x.size()));
  t.quantize(x.data(), b.data(), (int64_t)x.size(), imp);
  return b;
}

}  // namespace

TEST(GgufBlocks, TableMatchesGgufPy) {
  // The ggml type numbers and block sizes of the format, as gguf-py's GGMLQuantizationType and
  // GGML_QUANT_SIZES define them (these numbers are what a GGUF tensor record stores).
  SKIP_WITHOUT_GGUF_PY();
  FILE* p = popen(("'" + kPython + "' '" + kScript + "' table").c_str(), "r");
  ASSERT_TRUE(p);
  char name[32];
  unsigned id;
  long long bw, bb;
  size_t rows = 0;
  while (std::fscanf(p, "%31s %u %lld %lld", name, &id, &bw, &bb) == 4) {
    ++rows;
    const BlockType* t = find_block_type(std::string_view(name));
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t, find_block_type((uint32_t)id)) << name;
    EXPECT_STREQ(t->ggml_name, name);
    EXPECT_EQ(t->ggml_type, id) << name;
    EXPECT_EQ(t->block_weights, bw) << name;
    EXPECT_EQ(t->block_bytes, bb) << name;
  }
  EXPECT_EQ(pclose(p), 0);
  EXPECT_EQ(rows, block_types().size());
}

TEST(GgufBlocks, LookupByNameAndNumber) {
  for (const BlockType& t : block_types()) {
    EXPECT_EQ(find_block_type(t.ggml_type), &t);
    EXPECT_EQ(find_block_type(std::string_view(t.name)), &t);
    EXPECT_EQ(find_block_type(std::string_view(t.ggml_name)), &t);
    EXPECT_NE(t.dequant, nullptr) << t.name;
  }
  EXPECT_EQ(find_block_type(uint32_t{0}), nullptr);  // F32 is not a block type
  EXPECT_EQ(find_block_type(uint32_t{9}), nullptr);  // Q8_1: activation-only, not provided
  EXPECT_EQ(find_block_type(std::string_view("q4_K")), nullptr);
  EXPECT_EQ(find_block_type(std::string_view("Q4_K"))->ggml_type, 12u);
  EXPECT_THROW(row_bytes(*find_block_type(kQ4_K), 255), Error);
  EXPECT_EQ(row_bytes(*find_block_type(kQ4_K), 512), 288);
}

TEST(GgufBlocks, DequantRandomBlocksMatchesGgufPyBitExact) {
  SKIP_WITHOUT_GGUF_PY();
  const std::vector<std::string> names = decodable_names();
  for (int seed : {1, 2, 3}) {
    RecordStream s("dequant " + std::to_string(seed) + " 65536" + join(names));
    Record r;
    size_t records = 0;
    while (s.next(r)) {
      ++records;
      expect_decodes_like_gguf_py(r);
    }
    EXPECT_EQ(s.close(), 0);
    EXPECT_EQ(records, names.size());
  }
}

TEST(GgufBlocks, QuantizeMatchesGgufPyBitExact) {
  // gguf-py implements these encoders (ggml's reference quantizers); the others it does not have.
  SKIP_WITHOUT_GGUF_PY();
  const std::vector<std::string> names = {"q4_0", "q4_1", "q5_0", "q5_1", "q8_0"};
  for (int seed : {1, 2}) {
    RecordStream s("quant " + std::to_string(seed) + " 65536" + join(names));
    Record r;
    size_t records = 0;
    while (s.next(r)) {
      ++records;
      const BlockType* t = find_block_type(r.ggml_type);
      std::vector<uint8_t> got(r.blocks.size());
      t->quantize(r.input.data(), got.data(), r.n, nullptr);
      size_t bad = 0, first = got.size();
      for (size_t i = 0; i < got.size(); ++i)
        if (got[i] != r.blocks[i]) bad++, first = std::min(first, i);
      EXPECT_EQ(bad, 0u) << t->name << ": " << bad << " bytes differ, first in block " << first / t->block_bytes;
      expect_decodes_like_gguf_py(r);
    }
    EXPECT_EQ(s.close(), 0);
    EXPECT_EQ(records, names.size());
  }
}

TEST(GgufBlocks, ModelTensorsMatchGgufPyBitExact) {
  // Every block-quantized tensor of a real GGUF: SmolLM2-135M (Q4_1, with Q8_0/Q6_K... where llama.cpp
  // put them) under models/, or any GGUF named by SQZ_TEST_GGUF.
  const char* env = std::getenv("SQZ_TEST_GGUF");
  const std::string path = env && *env ? env : kSmolLM2;
  if (!fs::exists(path)) {
    GTEST_SKIP() << path << " not present (integration test on a real GGUF; SQZ_TEST_GGUF names another)";
  }
  SKIP_WITHOUT_GGUF_PY();
  RecordStream s("model '" + path + "'");
  Record r;
  std::map<std::string, int> per_type;
  int64_t weights = 0;
  while (s.next(r)) {
    per_type[find_block_type(r.ggml_type)->name]++;
    weights += r.n;
    expect_decodes_like_gguf_py(r);
  }
  EXPECT_EQ(s.close(), 0);
  EXPECT_GT(weights, 0) << path << " has no block-quantized tensor";
  if (path == kSmolLM2) {
    EXPECT_GT(per_type["q4_1"], 0);
  }
  std::string summary;
  for (auto& [k, v] : per_type) summary += " " + k + ":" + std::to_string(v);
  std::printf("[ model    ] %s: %lld block-quantized weights compared, tensors per type:%s\n", path.c_str(),
              (long long)weights, summary.c_str());
}

// ---------------------------------------------------------------------------------------------------
// Encoder properties (no Python).

namespace {

// The values a block's stored scales can represent, per sub-block (values[level], in float64), read
// from the block bytes with the format's formulas, independently of the decoders' code.
struct SubBlock {
  int64_t first, count;
  std::vector<double> values;
};

double h(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return (double)fp16_to_f32(v);
}

constexpr int kIq4[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

std::vector<SubBlock> representable(const BlockType& t, const uint8_t* b, int64_t first) {
  std::vector<SubBlock> out;
  auto affine = [&](int64_t f, int64_t c, int levels, double d, double m) {
    SubBlock s{f, c, {}};
    for (int l = 0; l < levels; ++l) s.values.push_back(d * l + m);
    out.push_back(s);
  };
  const std::string name = t.name;
  if (name == "q4_0") affine(first, 32, 16, h(b), -8 * h(b));
  if (name == "q5_0") affine(first, 32, 32, h(b), -16 * h(b));
  if (name == "q4_1") affine(first, 32, 16, h(b), h(b + 2));
  if (name == "q5_1") affine(first, 32, 32, h(b), h(b + 2));
  if (name == "q8_0") affine(first, 32, 256, h(b), -128 * h(b));
  if (name == "q2_k")
    for (int g = 0; g < 16; ++g) affine(first + 16 * g, 16, 4, h(b + 80) * (b[g] & 15), -h(b + 82) * (b[g] >> 4));
  if (name == "q3_k") {
    const uint8_t* s = b + 96;
    for (int g = 0; g < 16; ++g) {
      const int lo = g < 8 ? s[g] & 15 : s[g - 8] >> 4, hi = (s[8 + g % 4] >> (2 * (g / 4))) & 3;
      affine(first + 16 * g, 16, 8, h(b + 108) * ((lo | hi << 4) - 32), -4 * h(b + 108) * ((lo | hi << 4) - 32));
    }
  }
  if (name == "q4_k" || name == "q5_k") {
    const uint8_t* s = b + 4;
    for (int g = 0; g < 8; ++g) {
      const int sc = g < 4 ? s[g] & 63 : (s[g + 4] & 15) | ((s[g - 4] >> 6) << 4);
      const int m = g < 4 ? s[g + 4] & 63 : (s[g + 4] >> 4) | ((s[g] >> 6) << 4);
      affine(first + 32 * g, 32, name == "q4_k" ? 16 : 32, h(b) * sc, -h(b + 2) * m);
    }
  }
  if (name == "q6_k")
    for (int g = 0; g < 16; ++g) {
      const double dl = h(b + 208) * (int8_t)b[192 + g];
      affine(first + 16 * g, 16, 64, dl, -32 * dl);
    }
  if (name == "iq4_nl" || name == "iq4_xs") {
    for (int ib = 0; ib < (name == "iq4_nl" ? 1 : 8); ++ib) {
      double dl = h(b);
      if (name == "iq4_xs") {
        uint16_t sh;
        std::memcpy(&sh, b + 2, 2);
        dl *= (((b[4 + ib / 2] >> (4 * (ib % 2))) & 15) | (((sh >> (2 * ib)) & 3) << 4)) - 32;
      }
      SubBlock s{first + 32 * ib, 32, {}};
      for (int v : kIq4) s.values.push_back(dl * v);
      out.push_back(s);
    }
  }
  return out;
}

// How far from the nearest representable value a decoded weight may be. The k-quant encoders pick
// their final levels by rounding against the stored (fp16-rounded) scales, so they are exact up to
// fp32 rounding at a midpoint. The legacy and IQ4 encoders round against the unrounded fp32 scale (and
// fp32 min) and then store it as fp16, which moves level l by |l| |d16 - d32| <= |l| max(2^-11 |d|,
// 2^-25) (the second term for fp16-subnormal scales); a nearest choice under d32 is then within twice
// that of the nearest under d16. max_level is the largest |l| (times the second scale, for IQ4_XS).
double nearest_slack(const std::string& name, double spacing, double vmax) {
  static const std::map<std::string, double> max_level = {{"q4_0", 8},    {"q5_0", 16},   {"q4_1", 16},
                                                          {"q5_1", 32},   {"q8_0", 128},  {"iq4_nl", 127},
                                                          {"iq4_xs", 32 * 127}};
  const double fp32 = 1e-4 * spacing + 1e-6 * vmax;
  const auto it = max_level.find(name);
  if (it == max_level.end()) return fp32;
  return fp32 + 2 * (3.0 / 2048 * vmax + it->second * std::ldexp(1.0, -25));
}

}  // namespace

TEST(GgufBlocks, EncodersPickNearestRepresentableValue) {
  // For each weight: |x - decoded| <= min over its sub-block's representable values |x - v| + slack,
  // the candidates evaluated in float64 from the stored scales. The weighted k-quant encoders end with
  // the same re-rounding step, so they are checked too (the legacy/IQ4 weighted searches keep the
  // levels of their best trial scale, which need not be nearest under the final one).
  std::mt19937 rng(3);
  std::vector<float> imp(64 * 256);
  for (float& v : imp) v = std::exp(std::normal_distribution<float>(0.0f, 1.5f)(rng));
  for (const BlockType& t : block_types()) {
    if (!t.quantize || t.ggml_type == kQ8_K) continue;
    const std::string name = t.name;
    const bool k_quant = t.block_weights == 256 && name[0] == 'q';
    for (const float* weights : {(const float*)nullptr, (const float*)imp.data()}) {
      if (weights && !k_quant) continue;
      const int64_t n = (int64_t)imp.size();
      const std::vector<float> x = test_rows(n, 7 + t.ggml_type);
      const std::vector<uint8_t> blocks = encode(t, x, weights);
      const std::vector<float> y = decode(t, blocks, n);
      int64_t worse = 0, checked = 0;
      double worst = 0;
      for (int64_t bi = 0; bi < n / t.block_weights; ++bi) {
        for (const SubBlock& s : representable(t, blocks.data() + bi * t.block_bytes, bi * t.block_weights)) {
          double vmax = 0, spacing = INFINITY;
          for (size_t l = 0; l < s.values.size(); ++l) {
            vmax = std::max(vmax, std::fabs(s.values[l]));
            if (l) spacing = std::min(spacing, std::fabs(s.values[l] - s.values[l - 1]));
          }
          const double slack = nearest_slack(name, spacing, vmax);
          for (int64_t j = s.first; j < s.first + s.count; ++j) {
            double best = INFINITY;
            for (double v : s.values) best = std::min(best, std::fabs((double)x[j] - v));
            const double got = std::fabs((double)x[j] - (double)y[j]);
            ++checked;
            if (got > best + slack) {
              ++worse;
              worst = std::max(worst, (got - best) / (spacing > 0 ? spacing : 1));
            }
          }
        }
      }
      EXPECT_EQ(checked, n) << name;
      EXPECT_EQ(worse, 0) << name << (weights ? " (weighted)" : "") << ": " << worse
                          << " weights not at a nearest representable value (worst by " << worst
                          << " level spacings)";
    }
  }
}

TEST(GgufBlocks, RoundTripErrorWithinBitWidth) {
  // Relative RMS error of quantize -> dequantize on gaussian rows. The bounds are ~1.3x what these
  // encoders achieve on this data (they reproduce llama.cpp's ggml_quantize_chunk bit for bit, checked
  // outside this suite against a llama.cpp build), so a broken scale search or packing fails clearly.
  const std::map<std::string, double> bound = {
      {"q4_0", 0.11},  {"q4_1", 0.10},  {"q5_0", 0.055}, {"q5_1", 0.05},  {"q8_0", 0.007},
      {"q2_k", 0.38},  {"q3_k", 0.19},  {"q4_k", 0.09},  {"q5_k", 0.047}, {"q6_k", 0.023},
      {"q8_k", 0.009}, {"iq4_nl", 0.098}, {"iq4_xs", 0.098},
  };
  std::mt19937 rng(5);
  std::normal_distribution<float> gauss;
  std::vector<float> x(128 * 256);
  for (float& v : x) v = gauss(rng) * 0.02f;
  for (const BlockType& t : block_types()) {
    if (!t.quantize) continue;
    const std::vector<float> y = decode(t, encode(t, x), (int64_t)x.size());
    double num = 0, den = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      num += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
      den += (double)x[i] * x[i];
    }
    const double rel = std::sqrt(num / den);
    ASSERT_TRUE(bound.count(t.name)) << t.name;
    EXPECT_LT(rel, bound.at(t.name)) << t.name;
    EXPECT_GT(rel, bound.at(t.name) / 8) << t.name << ": suspiciously exact";
    std::printf("[ roundtrip] %-7s relative rms error %.5f\n", t.name, rel);
  }
}

TEST(GgufBlocks, ImportanceLowersWeightedError) {
  // With strongly non-uniform importance (log-normal, spread ~e^2 each way), the importance-weighted
  // encoders must give a lower importance-weighted squared error than the unweighted ones. Q8_0/Q8_K
  // have no weighted variant.
  std::mt19937 rng(11);
  std::normal_distribution<float> gauss;
  const int64_t cols = 1024, rows = 32;
  std::vector<float> imp(cols);
  for (float& v : imp) v = std::exp(2.0f * gauss(rng));
  std::vector<float> x(rows * cols);
  for (float& v : x) v = gauss(rng) * 0.02f;
  for (const BlockType& t : block_types()) {
    if (!t.quantize || t.ggml_type == kQ8_0 || t.ggml_type == kQ8_K) continue;
    double err_plain = 0, err_weighted = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const std::vector<float> row(x.begin() + r * cols, x.begin() + (r + 1) * cols);
      const std::vector<float> a = decode(t, encode(t, row), cols), b = decode(t, encode(t, row, imp.data()), cols);
      for (int64_t c = 0; c < cols; ++c) {
        err_plain += imp[c] * ((double)row[c] - a[c]) * ((double)row[c] - a[c]);
        err_weighted += imp[c] * ((double)row[c] - b[c]) * ((double)row[c] - b[c]);
      }
    }
    EXPECT_LT(err_weighted, 0.97 * err_plain) << t.name;
    std::printf("[ imatrix  ] %-7s weighted error with/without importance %.3f\n", t.name, err_weighted / err_plain);
  }
}

TEST(GgufBlocks, ZeroRowsEncodeToZero) {
  for (const BlockType& t : block_types()) {
    if (!t.quantize) continue;
    const std::vector<float> x(512, 0.0f), ones(512, 1.0f);
    for (const float* imp : {(const float*)nullptr, ones.data()})
      for (float v : decode(t, encode(t, x, imp), 512)) ASSERT_EQ(v, 0.0f) << t.name << (imp ? " weighted" : "");
  }
}

TEST(GgufBlocks, Q8KBlockSumsAndScale) {
  const BlockType& t = *find_block_type(kQ8_K);
  const std::vector<float> x = test_rows(1024, 3);
  const std::vector<uint8_t> b = encode(t, x);
  for (int64_t bi = 0; bi < 4; ++bi) {
    const uint8_t* p = b.data() + bi * 292;
    float d;
    std::memcpy(&d, p, 4);
    float amax = 0;
    for (int j = 0; j < 256; ++j) amax = std::max(amax, std::fabs(x[bi * 256 + j]));
    EXPECT_FLOAT_EQ(std::fabs(d), amax / 127) << bi;
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += (int8_t)p[4 + 16 * g + l];
      int16_t stored;
      std::memcpy(&stored, p + 260 + 2 * g, 2);
      EXPECT_EQ(stored, sum);
    }
  }
}

TEST(GgufBlocks, RejectsPartialBlocks) {
  std::vector<float> out(300);
  std::vector<uint8_t> blocks(1000);
  EXPECT_THROW(find_block_type("q4_k")->dequant(blocks.data(), out.data(), 300), Error);
  EXPECT_THROW(find_block_type("q4_0")->quantize(out.data(), blocks.data(), 40, nullptr), Error);
}

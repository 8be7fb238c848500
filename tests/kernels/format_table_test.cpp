// Walks the format table (kernels/format.h): every row is complete, every row with an encoder round-trips
// encode -> decode through its scalar reference within its grid's error, and every ISA's kernels equal the
// reference (dequantization bit for bit, products within the summation-order tolerance of kernels_test.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <set>

#include "core/error.h"
#include "io/io_test_util.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/tuning.h"
#include "kernels/format.h"

using namespace sqz;
using namespace sqz::kernels;

namespace {

std::vector<float> gaussian(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, 0.05f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

// The parameter sets each row is exercised with: every allowed width, with and without groups where the
// format has them.
std::vector<FormatParams> params_of(const Format& f, int64_t cols) {
  std::vector<FormatParams> out;
  const std::vector<int> widths = f.bits.empty() ? std::vector<int>{0} : f.bits;
  for (int b : widths) {
    FormatParams p;
    p.bits = b;
    if (f.group_key && std::string(f.group_key) == "group_size") {
      for (int64_t g : {int64_t{0}, int64_t{64}, int64_t{48}}) {
        p.group = g;
        out.push_back(p);
      }
    } else if (f.group_key) {  // NF4 blocks: aligned to rows and not
      for (int64_t g : {int64_t{64}, cols + 16}) {
        p.group = g;
        out.push_back(p);
      }
    } else {
      out.push_back(p);
    }
  }
  return out;
}

PackedMatrix matrix_of(const Format& f, const FormatParams& p, int64_t rows, int64_t cols,
                       const std::vector<OwnedTensor>& t) {
  PackedMatrix m;
  m.format = &f;
  m.p = p;
  m.rows = rows, m.cols = cols;
  for (size_t i = 0; i < t.size(); ++i) {
    m.t[i] = t[i].bytes.empty() ? nullptr : t[i].bytes.data();
    m.numel[i] = t[i].bytes.empty() ? 0 : shape_numel(t[i].shape);
  }
  if (f.validate) f.validate(m, "<encoded>");
  return m;
}

struct Label {
  std::string s;
  Label(const Format& f, const FormatParams& p) : s(std::string(f.name) + " " + f.label(p) + (p.group ? " g" + std::to_string(p.group) : "")) {}
};

}  // namespace

TEST(FormatTable, EveryRowIsComplete) {
  std::set<std::string> names;
  for (const Format& f : format_table()) {
    SCOPED_TRACE(f.name);
    EXPECT_TRUE(names.insert(f.name).second) << "duplicate name";
    EXPECT_NE(std::string(f.summary), "");
    EXPECT_EQ(std::string(f.doc).rfind("docs/format.md#", 0), 0u);
    EXPECT_FALSE(f.tensors.empty());
    EXPECT_LE(f.tensors.size(), (size_t)kMaxFormatTensors);
    EXPECT_FALSE(f.tensors[0].optional) << "the first tensor tells whether a linear is stored in this format";
    EXPECT_TRUE(f.check && f.bytes && f.label);
    EXPECT_TRUE(f.isa[0].rows && f.isa[0].dequant) << "no scalar reference";
    EXPECT_EQ(find_format(f.name), &f);
    if (f.ggml_type != kNoGgmlType) EXPECT_EQ(find_ggml_format(f.ggml_type), &f);
  }
  EXPECT_GE(names.size(), 4u + 12u);  // sqz's own four and at least the common GGUF types
  EXPECT_ERROR_CONTAINS(format("nope"), "unknown packed format \"nope\"", "lut", "q4_k");
}

TEST(FormatTable, EveryRowRoundTripsThroughItsReferenceAndEveryIsaAgrees) {
  const int64_t rows = 7, cols = 512;  // 512: whole blocks of every GGUF type; 7 rows: odd splits
  const std::vector<float> W = gaussian((size_t)(rows * cols), 11);
  std::vector<float> importance((size_t)(rows * cols));
  for (size_t i = 0; i < importance.size(); ++i) importance[i] = 0.5f + (float)(i % 7);
  const std::vector<float> X = gaussian((size_t)(17 * cols), 12);
  std::vector<std::string> decode_only;
  int exercised = 0;
  for (const Format& f : format_table()) {
    if (!f.encode) {
      decode_only.push_back(f.name);
      continue;
    }
    for (const FormatParams& p : params_of(f, cols)) {
      const Label L(f, p);
      SCOPED_TRACE(L.s);
      ++exercised;
      ASSERT_EQ(f.check(p, rows, cols), "");
      const std::vector<OwnedTensor> t = f.encode(W.data(), rows, cols, p, importance.data());
      ASSERT_EQ(t.size(), f.tensors.size());
      size_t stored = 0;
      for (size_t i = 0; i < t.size(); ++i) {
        if (t[i].bytes.empty()) {
          EXPECT_TRUE(f.tensors[i].optional) << f.tensors[i].suffix;
          continue;
        }
        EXPECT_EQ(t[i].dtype, f.tensors[i].dtype) << f.tensors[i].suffix;
        const Shape want = f.tensors[i].shape(rows, cols, p);
        EXPECT_EQ(t[i].shape, want) << f.tensors[i].suffix;
        stored += t[i].bytes.size();
      }
      EXPECT_EQ(stored, f.bytes(p, rows, cols)) << "bytes() must count every stored byte";
      const PackedMatrix m = matrix_of(f, p, rows, cols, t);

      // Round trip: the decoded weights lie within the grid's error of the originals.
      std::vector<float> D((size_t)(rows * cols));
      packed_dequant_ref(m, 0, rows, D.data());
      double err = 0, ref = 0;
      for (size_t i = 0; i < W.size(); ++i) {
        err += ((double)D[i] - W[i]) * ((double)D[i] - W[i]);
        ref += (double)W[i] * W[i];
      }
      const double bpw = 8.0 * (double)stored / (double)(rows * cols);
      const double rel = std::sqrt(err / ref), bound = 3.5 / std::exp2(std::floor(bpw));
      EXPECT_LT(rel, bound) << "relative RMS error at " << bpw << " bits per weight";

      // Every ISA: dequantization bit for bit, products within tolerance, both batched paths.
      std::vector<float> want((size_t)(17 * rows)), got((size_t)(17 * rows)), Dg((size_t)(rows * cols));
      packed_gemm_ref(m, nullptr, X.data(), 17, want.data());
      for (Isa isa : supported_isas()) {
        IsaScope scope(isa);
        SCOPED_TRACE(isa_name(isa));
        packed_dequant(m, nullptr, 0, rows, Dg.data());
        EXPECT_EQ(Dg, D);
        for (int64_t n : {int64_t{1}, int64_t{3}, int64_t{17}})
          for (int64_t crossover : {int64_t{-1}, int64_t{0}, int64_t{64}}) {
            kernel_tuning().row_kernel_max_tokens = crossover;
            packed_gemm(m, nullptr, X.data(), n, got.data());
            kernel_tuning().row_kernel_max_tokens = -1;
            for (int64_t k = 0; k < n * rows; ++k) {
              double scale = 0;
              const int64_t tok = k / rows, r = k % rows;
              for (int64_t c = 0; c < cols; ++c) scale += std::fabs((double)D[(size_t)(r * cols + c)] * X[(size_t)(tok * cols + c)]);
              // W8A8 quantizes activations; its integer sums are exact, so any ISA equals the reference.
              ASSERT_NEAR(got[(size_t)k], want[(size_t)k], 1e-5 * scale + 1e-30) << "n " << n << " output " << k;
            }
          }
      }
    }
  }
  EXPECT_GE(exercised, 3 + 4 * 3 + 2 + 1 + 13);  // lut widths, group widths x groups, nf4 blocks, w8a8, GGUF
  // Decode-only rows (GGUF IQ1/IQ2/IQ3: llama.cpp's grid searches are not reimplemented) are checked
  // against gguf-py in gguf_blocks_test.cpp; list them so a row losing its encoder is noticed.
  for (const auto& n : decode_only) EXPECT_TRUE(n.rfind("iq1", 0) == 0 || n.rfind("iq2", 0) == 0 || n.rfind("iq3", 0) == 0) << n;
}

// GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to hyphens.
std::string anchor_of(const std::string& heading) {
  std::string a;
  for (char c : heading) {
    if (std::isalnum((unsigned char)c) || c == '-' || c == '_') a += (char)std::tolower((unsigned char)c);
    else if (c == ' ') a += '-';
  }
  return a;
}

TEST(FormatTable, EveryRowHasItsSectionInDocsFormatMd) {
  std::ifstream in(SQZ_SOURCE_DIR "/docs/format.md");
  ASSERT_TRUE(in) << "docs/format.md";
  std::set<std::string> anchors;
  for (std::string line; std::getline(in, line);)
    if (line.rfind("## ", 0) == 0) anchors.insert(anchor_of(line.substr(3)));
  for (const Format& f : format_table()) {
    const std::string doc = f.doc;
    EXPECT_TRUE(anchors.count(doc.substr(doc.find('#') + 1))) << f.name << ": no section for " << doc;
  }
}

TEST(FormatTable, ParamsRoundTripThroughQuantizationConfig) {
  for (const Format& f : format_table())
    for (const FormatParams& p : params_of(f, 512)) {
      SCOPED_TRACE(Label(f, p).s);
      nlohmann::json q;
      params_to_json(f, p, q);
      EXPECT_EQ(q["format"], f.name);
      const FormatParams back = params_from_json(f, q, 7, 512, "<config>");
      EXPECT_EQ(back.bits, p.bits);
      EXPECT_EQ(back.group, p.group);
      EXPECT_EQ(back.dq_block, p.dq_block);
      EXPECT_EQ(back.act, p.act);
    }
}

TEST(FormatTable, InvalidParametersNameTheValidValues) {
  const Format& lut = format("lut");
  FormatParams p;
  p.bits = 5;
  EXPECT_ERROR_CONTAINS(check_params(lut, p, 4, 64, "m"), "m: 5 bits is not a width of format lut (2, 3, 4)");
  EXPECT_THROW(check_params(lut, p, 4, 64, "m", true), UsageError);
  const Format& group = format("group");
  p.bits = 4;
  p.group = -3;
  EXPECT_ERROR_CONTAINS(check_params(group, p, 4, 64, "m"), "group size -3 is not valid", "-1 or 0");
  const Format& q4k = format("q4_k");
  EXPECT_ERROR_CONTAINS(check_params(q4k, {}, 4, 100, "m"), "rows of 100 weights", "256-weight blocks");
  nlohmann::json q = {{"format", "nf4"}, {"bits", 4}, {"block_size", 0}};
  EXPECT_ERROR_CONTAINS(params_from_json(format("nf4"), q, 4, 64, "d"), "d: NF4 block size 0 is not valid");
  q = {{"format", "group"}, {"bits", "four"}};
  EXPECT_ERROR_CONTAINS(params_from_json(group, q, 4, 64, "d"), "d: quantization_config \"bits\" is not an integer");
}

// Every CUDA kernel against the scalar reference of its format (packed_gemm_ref / packed_dequant_ref), on
// ragged shapes (columns not multiples of 32, 128 or 512; odd row counts), 1 to 16 tokens per fused pass and
// more through dequantize + cuBLAS, with a CSR part that has one row of many entries. Skipped with the
// reason when no CUDA device is present.
//
// Tolerances. The kernels take fp16 activations, so the reference runs on the same fp16-rounded inputs.
// Their products are fp16 x fp16 in tensor cores with fp32 accumulation in another order (which may also
// truncate): |y - ref| <= 3e-4 * sum_c |w_c x_c| for the LUT format, whose weights are fp16 exactly. Group
// and NF4 weights are formed in fp16 ((q - z) * s, NF4[q] * absmax), one to three roundings of 2^-11:
// 2e-3 * sum |w x|. W8A8 is exact (int32 sums, the reference's float order): bit for bit. The dense fp16
// baseline: 3e-4 * sum |w x| against a double reference of the fp16 weights.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "core/half.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/format.h"

namespace {

using namespace sqz;
using namespace sqz::kernels;
namespace kc = sqz::kernels::cuda;

class CudaKernels : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!kc::device_available(&why)) GTEST_SKIP() << why;
  }
};

// One stream and cuBLAS handle for all tests (created on first use, after the device check).
kc::Context& shared_ctx() {
  static kc::Context ctx;
  return ctx;
}

std::vector<float> randn(size_t n, uint64_t seed, float scale = 1.f) {
  std::mt19937_64 g(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

std::vector<float> round_f16(std::vector<float> v) {
  for (auto& x : v) x = fp16_to_f32(f32_to_fp16(x));
  return v;
}

// A matrix in a format, encoded by the row's reference encoder, with its optional CSR part.
struct Encoded {
  PackedMatrix m;
  std::vector<OwnedTensor> ts;
  std::vector<int32_t> rp, ci;
  std::vector<uint16_t> vals;
  CsrMatrix csr;
  bool has_csr = false;
  const CsrMatrix* s() const { return has_csr ? &csr : nullptr; }
};

// CSR with about one entry per `stride` columns and row `heavy` holding every other column.
void make_csr(Encoded& e, int64_t stride, int64_t heavy, uint64_t seed) {
  const int64_t rows = e.m.rows, cols = e.m.cols;
  std::mt19937_64 g(seed);
  e.rp.assign((size_t)rows + 1, 0);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t step = r == heavy ? 2 : stride;
    for (int64_t c = (int64_t)(g() % (uint64_t)step); c < cols; c += step) {
      e.ci.push_back((int32_t)c);
      e.vals.push_back(f32_to_fp16(0.1f * (float)((int64_t)(g() % 2001) - 1000) / 1000.f));
    }
    e.rp[(size_t)r + 1] = (int32_t)e.ci.size();
  }
  e.csr = CsrMatrix{rows, cols, e.rp.data(), e.ci.data(), e.vals.data()};
  e.has_csr = true;
}

std::unique_ptr<Encoded> encode(const std::string& format, const nlohmann::json& params, int64_t rows, int64_t cols,
                                uint64_t seed, const std::vector<int32_t>* g_idx = nullptr) {
  auto e = std::make_unique<Encoded>();
  const Format& f = kernels::format(format);
  nlohmann::json q = params;
  q["format"] = format;
  const FormatParams p = params_from_json(f, q, rows, cols, "test");
  const std::vector<float> W = randn((size_t)(rows * cols), seed, 0.05f);
  e->ts = f.encode(W.data(), rows, cols, p, nullptr);
  e->m.format = &f;
  e->m.p = p;
  e->m.rows = rows, e->m.cols = cols;
  for (size_t i = 0; i < e->ts.size(); ++i) {
    if (e->ts[i].bytes.empty()) continue;
    e->m.t[i] = e->ts[i].bytes.data();
    e->m.numel[i] = (int64_t)(e->ts[i].bytes.size() / dtype_size(e->ts[i].dtype));
  }
  if (g_idx) {
    // Act-order: the stored codes stay, only the column -> group map changes.
    const int gi = f.tensor_index(".g_idx");
    e->ts[(size_t)gi] = OwnedTensor::from(DType::I32, {cols}, *g_idx);
    e->m.t[(size_t)gi] = e->ts[(size_t)gi].bytes.data();
    e->m.numel[(size_t)gi] = cols;
  }
  if (f.validate) f.validate(e->m, "test");
  return e;
}

// sum_c |w_c x_c| per output, the scale of the tolerance.
std::vector<double> abs_dot(const PackedMatrix& m, const CsrMatrix* s, const std::vector<float>& X, int64_t n) {
  std::vector<float> W((size_t)(m.rows * m.cols));
  packed_dequant_ref(m, 0, m.rows, W.data());
  if (s) csr_add_rows(*s, 0, m.rows, W.data());
  std::vector<double> a((size_t)(n * m.rows), 0.0);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t r = 0; r < m.rows; ++r) {
      double acc = 0;
      for (int64_t c = 0; c < m.cols; ++c) acc += std::fabs((double)W[(size_t)(r * m.cols + c)] * X[(size_t)(t * m.cols + c)]);
      a[(size_t)(t * m.rows + r)] = acc;
    }
  return a;
}

// Runs one product of `e` on the device for n tokens of X (host fp32, rounded to fp16 on the way).
std::vector<float> run_device(const kc::DeviceMatrix& d, const std::vector<float>& X, int64_t n, kc::Path path,
                              kc::Epilogue epi = kc::Epilogue::Store, const std::vector<float>* y0 = nullptr,
                              bool x32 = false) {
  kc::Context& ctx = shared_ctx();
  const int64_t ldx = kc::padded_cols(d.cols);
  kc::DeviceBuffer x((size_t)(n * ldx) * 2), xf((size_t)(n * d.cols) * 4), y((size_t)(n * d.rows) * 4);
  kc::upload_rows_f16(X.data(), n, d.cols, x.as<uint16_t>(), ldx);
  if (x32) xf.upload(X.data(), xf.bytes());
  // Poison the output: every element must be written (Store) or added to (Accumulate from y0).
  std::vector<float> init = y0 ? *y0 : std::vector<float>((size_t)(n * d.rows), std::nanf(""));
  y.upload(init.data(), y.bytes());
  kc::Product p;
  p.m = {&d, nullptr, nullptr};
  p.x = x.as<uint16_t>(), p.ldx = ldx, p.n = n;
  if (x32) p.x32 = xf.as<float>(), p.ldx32 = d.cols;
  p.y = {y.as<float>(), nullptr, nullptr};
  p.ldy = {d.rows, 0, 0};
  p.epi = epi;
  kc::run(ctx, p, path);
  ctx.sync();
  std::vector<float> out((size_t)(n * d.rows));
  y.download(out.data(), y.bytes());
  return out;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& ref, const std::vector<double>& scale,
                  double tol, const std::string& what) {
  ASSERT_EQ(got.size(), ref.size());
  int bad = 0;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs((double)got[i] - (double)ref[i]);
    const double lim = tol * scale[i] + 1e-6;
    if (!(err <= lim)) {
      if (++bad <= 5) ADD_FAILURE() << what << ": output " << i << " = " << got[i] << ", reference " << ref[i]
                                    << " (error " << err << " > " << lim << ")";
    }
    if (scale[i] > 0) worst = std::max(worst, err / scale[i]);
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << got.size() << " outputs off; worst error / sum|wx| " << worst;
}

// The format's product on the device for the token counts that exercise the fused pass (1, 5, 16) and
// dequantize + cuBLAS (37), against packed_gemm_ref on the fp16-rounded activations.
void check_product(const Encoded& e, double tol, const std::string& what) {
  const kc::DeviceMatrix d = kc::upload(e.m, e.s());
  for (int64_t n : {1, 5, 16, 37}) {
    const std::vector<float> X = round_f16(randn((size_t)(n * e.m.cols), 1000 + n));
    std::vector<float> ref((size_t)(n * e.m.rows));
    packed_gemm_ref(e.m, e.s(), X.data(), n, ref.data());
    const std::vector<double> sc = abs_dot(e.m, e.s(), X, n);
    for (kc::Path path : {kc::Path::Fused, kc::Path::DequantGemm}) {
      const std::string w = what + " n=" + std::to_string(n) + (path == kc::Path::Fused ? " fused" : " dequant+cuBLAS");
      expect_close(run_device(d, X, n, path), ref, sc, tol, w);
    }
  }
}

struct Shape2 {
  int64_t rows, cols;
};
const Shape2 kRagged[] = {{37, 100}, {9, 1000}, {130, 611}, {64, 1536}, {17, 4096}};

TEST_F(CudaKernels, LutMatchesReference) {
  for (int bits : {2, 3, 4})
    for (const Shape2& s : kRagged) {
      auto e = encode("lut", {{"bits", bits}}, s.rows, s.cols, 11 + bits);
      check_product(*e, 3e-4, fmt::format("lut{} {}x{}", bits, s.rows, s.cols));
    }
}

TEST_F(CudaKernels, LutWithCsrMatchesReferenceIncludingAHeavyRow) {
  for (int bits : {3, 4})
    for (const Shape2& s : {Shape2{37, 100}, Shape2{130, 611}, Shape2{20, 4096}}) {
      auto e = encode("lut", {{"bits", bits}}, s.rows, s.cols, 21 + bits);
      make_csr(*e, 97, 3, 5);  // about 1 %, row 3 with every other column
      ASSERT_GT(e->rp[4] - e->rp[3], s.cols / 2 - 2);
      check_product(*e, 3e-4, fmt::format("lut{}+csr {}x{}", bits, s.rows, s.cols));
    }
}

TEST_F(CudaKernels, LutFourBitSingleTableCopyMatchesReference) {
  const int saved = kc::cuda_tuning().lut4_table_copies;
  kc::cuda_tuning().lut4_table_copies = 1;
  auto e = encode("lut", {{"bits", 4}}, 130, 611, 31);
  make_csr(*e, 50, 7, 9);
  check_product(*e, 3e-4, "lut4 (1 table copy)");
  kc::cuda_tuning().lut4_table_copies = saved;
}

TEST_F(CudaKernels, GroupMatchesReference) {
  for (int bits : {2, 3, 4, 8})
    for (int64_t group : {32, 128, -1, 48}) {  // 48: groups across 32-column units (per-column path)
      for (const Shape2& s : {Shape2{37, 100}, Shape2{130, 611}, Shape2{16, 1536}}) {
        if (group > s.cols) continue;
        auto e = encode("group", {{"bits", bits}, {"group_size", group}}, s.rows, s.cols, 41 + bits);
        check_product(*e, 2e-3, fmt::format("int{}g{} {}x{}", bits, group, s.rows, s.cols));
      }
    }
}

TEST_F(CudaKernels, GroupWithActOrderMatchesReference) {
  const int64_t rows = 33, cols = 611, group = 64, ng = (cols + group - 1) / group;
  std::vector<int32_t> gidx((size_t)cols);
  std::mt19937 g(3);
  for (auto& v : gidx) v = (int32_t)(g() % (uint32_t)ng);
  for (int bits : {3, 4}) {
    auto e = encode("group", {{"bits", bits}, {"group_size", group}}, rows, cols, 51, &gidx);
    check_product(*e, 2e-3, fmt::format("int{}g{} act-order", bits, group));
  }
}

TEST_F(CudaKernels, Nf4MatchesReference) {
  for (int64_t block : {64, 50})  // 50: blocks across units and rows (per-column path)
    for (const Shape2& s : {Shape2{37, 128}, Shape2{130, 640}, Shape2{9, 1000}}) {
      auto e = encode("nf4", {{"block_size", block}}, s.rows, s.cols, 61);
      check_product(*e, 2e-3, fmt::format("nf4 b{} {}x{}", block, s.rows, s.cols));
    }
}

// W8A8 from fp32 activations: the activations quantized on the device exactly as quantize_activations
// does, int32 sums, then the reference's float order: equal bit for bit.
TEST_F(CudaKernels, W8a8MatchesReferenceBitForBit) {
  for (const char* act : {"per_token", "per_tensor_dynamic"})
    for (const Shape2& s : {Shape2{37, 100}, Shape2{130, 611}, Shape2{64, 1536}, Shape2{96, 1024}}) {
      auto e = encode("w8a8", {{"act_quant", act}}, s.rows, s.cols, 71);
      const kc::DeviceMatrix d = kc::upload(e->m, nullptr);
      for (int64_t n : {1, 3, 16, 100}) {
        const std::vector<float> X = randn((size_t)(n * s.cols), 2000 + n);
        std::vector<float> ref((size_t)(n * s.rows));
        packed_gemm_ref(e->m, nullptr, X.data(), n, ref.data());
        for (kc::Path path : {kc::Path::Fused, kc::Path::DequantGemm}) {
          const std::vector<float> got = run_device(d, X, n, path, kc::Epilogue::Store, nullptr, true);
          int bad = 0;
          for (size_t i = 0; i < got.size(); ++i)
            if (got[i] != ref[i] && ++bad <= 3)
              ADD_FAILURE() << act << " " << s.rows << "x" << s.cols << " n=" << n << ": " << got[i] << " vs " << ref[i];
          EXPECT_EQ(bad, 0) << act << " " << s.rows << "x" << s.cols << " n=" << n
                            << (path == kc::Path::Fused ? " fused" : " cuBLAS int8");
        }
      }
    }
}

TEST_F(CudaKernels, DenseFp16MatchesDoubleReference) {
  for (const Shape2& s : {Shape2{37, 100}, Shape2{130, 611}}) {
    const std::vector<float> W = round_f16(randn((size_t)(s.rows * s.cols), 81, 0.05f));
    const kc::DeviceMatrix d = kc::upload_f16(W.data(), s.rows, s.cols);
    for (int64_t n : {1, 16, 40}) {
      const std::vector<float> X = round_f16(randn((size_t)(n * s.cols), 3000 + n));
      std::vector<float> ref((size_t)(n * s.rows));
      std::vector<double> sc((size_t)(n * s.rows));
      for (int64_t t = 0; t < n; ++t)
        for (int64_t r = 0; r < s.rows; ++r) {
          double acc = 0, a = 0;
          for (int64_t c = 0; c < s.cols; ++c) {
            const double p = (double)W[(size_t)(r * s.cols + c)] * X[(size_t)(t * s.cols + c)];
            acc += p, a += std::fabs(p);
          }
          ref[(size_t)(t * s.rows + r)] = (float)acc, sc[(size_t)(t * s.rows + r)] = a;
        }
      expect_close(run_device(d, X, n, kc::Path::Auto), ref, sc, 3e-4, fmt::format("f16 {}x{} n={}", s.rows, s.cols, n));
    }
  }
}

// Accumulate adds to what y holds (the residual stream), bias included.
TEST_F(CudaKernels, AccumulateAddsProductAndBias) {
  auto e = encode("lut", {{"bits", 3}}, 45, 300, 91);
  kc::DeviceMatrix d = kc::upload(e->m, nullptr);
  const std::vector<float> bias = randn(45, 92);
  kc::set_bias(d, bias);
  for (int64_t n : {2, 70}) {
    const std::vector<float> X = round_f16(randn((size_t)(n * 300), 93));
    const std::vector<float> y0 = randn((size_t)(n * 45), 94);
    std::vector<float> ref((size_t)(n * 45));
    packed_gemm_ref(e->m, nullptr, X.data(), n, ref.data());
    std::vector<double> sc = abs_dot(e->m, nullptr, X, n);
    for (size_t i = 0; i < ref.size(); ++i) {
      ref[i] += y0[i] + bias[i % 45];
      sc[i] += std::fabs(y0[i]) + std::fabs(bias[i % 45]);
    }
    expect_close(run_device(d, X, n, kc::Path::Auto, kc::Epilogue::Accumulate, &y0), ref, sc, 3e-4,
                 fmt::format("accumulate n={}", n));
  }
}

// Three matrices in one launch (q, k, v) and the gate/up pair with SwiGLU, against single products.
TEST_F(CudaKernels, MultiMatrixAndSwiGluProducts) {
  for (const std::string fmt_name : {"lut", "group", "w8a8"}) {
    const nlohmann::json params = fmt_name == "lut" ? nlohmann::json{{"bits", 3}}
                                  : fmt_name == "group" ? nlohmann::json{{"bits", 4}, {"group_size", 128}}
                                                        : nlohmann::json{{"act_quant", "per_token"}};
    const int64_t cols = 384;
    auto a = encode(fmt_name, params, 40, cols, 101), b = encode(fmt_name, params, 24, cols, 102),
         c = encode(fmt_name, params, 24, cols, 103), u = encode(fmt_name, params, 40, cols, 104);
    const kc::DeviceMatrix da = kc::upload(a->m, nullptr), db = kc::upload(b->m, nullptr), dc = kc::upload(c->m, nullptr),
                           du = kc::upload(u->m, nullptr);
    for (int64_t n : {1, 7, 90}) {
      const std::vector<float> X = round_f16(randn((size_t)(n * cols), 105 + n));
      kc::Context& ctx = shared_ctx();
      const int64_t ldx = kc::padded_cols(cols), ldo = kc::padded_cols(40);
      kc::DeviceBuffer x((size_t)(n * ldx) * 2), ya((size_t)(n * 40) * 4), yb((size_t)(n * 24) * 4),
          yc((size_t)(n * 24) * 4), h((size_t)(n * ldo) * 2);
      kc::upload_rows_f16(X.data(), n, cols, x.as<uint16_t>(), ldx);
      kc::Product p;
      p.m = {&da, &db, &dc};
      p.nmat = 3;
      p.x = x.as<uint16_t>(), p.ldx = ldx, p.n = n;
      p.y = {ya.as<float>(), yb.as<float>(), yc.as<float>()};
      p.ldy = {40, 24, 24};
      kc::run(ctx, p);
      kc::Product sw;
      sw.m = {&da, &du, nullptr};
      sw.nmat = 2;
      sw.x = x.as<uint16_t>(), sw.ldx = ldx, sw.n = n;
      sw.epi = kc::Epilogue::SwiGLU;
      sw.out_h = h.as<uint16_t>(), sw.ldo = ldo;
      kc::run(ctx, sw);
      ctx.sync();
      const double tol = fmt_name == "lut" ? 3e-4 : fmt_name == "group" ? 2e-3 : 1e-2;  // W8A8: fp16 x quantized
      std::vector<float> ra;
      int k = 0;
      for (const auto* e : {a.get(), b.get(), c.get()}) {
        std::vector<float> ref((size_t)(n * e->m.rows)), got(ref.size());
        packed_gemm_ref(e->m, nullptr, X.data(), n, ref.data());
        (k == 0 ? ya : k == 1 ? yb : yc).download(got.data(), got.size() * 4);
        expect_close(got, ref, abs_dot(e->m, nullptr, X, n), tol, fmt::format("{} matrix {} of 3, n={}", fmt_name, k, n));
        if (k == 0) ra = ref;
        ++k;
      }
      std::vector<float> ru((size_t)(n * 40));
      packed_gemm_ref(u->m, nullptr, X.data(), n, ru.data());
      std::vector<uint16_t> hh((size_t)(n * ldo));
      h.download(hh.data(), hh.size() * 2);
      const std::vector<double> sa = abs_dot(a->m, nullptr, X, n), su = abs_dot(u->m, nullptr, X, n);
      for (int64_t t = 0; t < n; ++t)
        for (int64_t r = 0; r < 40; ++r) {
          const double g = ra[(size_t)(t * 40 + r)], uu = ru[(size_t)(t * 40 + r)];
          const double want = g / (1 + std::exp(-g)) * uu;
          const double got = fp16_to_f32(hh[(size_t)(t * ldo + r)]);
          // fp16 output (2^-11 relative) plus the products' errors through silu(g) * u (|silu'| < 1.1,
          // |silu(g)| <= |g|).
          const double lim = 1e-3 * std::fabs(want) + tol * (1.2 * sa[(size_t)(t * 40 + r)] * std::fabs(uu) +
                                                               su[(size_t)(t * 40 + r)] * (std::fabs(g) + 1)) + 1e-5;
          EXPECT_LE(std::fabs(got - want), lim) << fmt_name << " SwiGLU n=" << n << " t=" << t << " r=" << r;
        }
    }
  }
}

// fp16 dequantization (the prefill path's weights) against packed_dequant_ref (+ CSR) rounded to fp16.
TEST_F(CudaKernels, DequantToFp16MatchesReference) {
  struct Case {
    std::string format;
    nlohmann::json params;
    bool csr;
    double rel;  // 0: bit for bit
  };
  const Case cases[] = {{"lut", {{"bits", 3}}, true, 0},
                        {"lut", {{"bits", 2}}, false, 0},
                        {"group", {{"bits", 4}, {"group_size", 128}}, false, 0},
                        {"group", {{"bits", 3}, {"group_size", 48}}, false, 0},
                        {"group", {{"bits", 8}, {"group_size", 32}}, false, 0},
                        {"nf4", {{"block_size", 64}}, false, 2e-3},
                        {"w8a8", {{"act_quant", "per_token"}}, false, 0}};
  for (const Case& cs : cases) {
    auto e = encode(cs.format, cs.params, 37, 611, 111);
    if (cs.csr) make_csr(*e, 40, 2, 3);
    const kc::DeviceMatrix d = kc::upload(e->m, e->s());
    kc::Context& ctx = shared_ctx();
    kc::DeviceBuffer out((size_t)(37 * 611) * 2);
    kc::find_cuda_kernels(cs.format)->dequant_f16(ctx, d, out.as<uint16_t>());
    ctx.sync();
    std::vector<uint16_t> got((size_t)(37 * 611));
    out.download(got.data(), got.size() * 2);
    std::vector<float> W((size_t)(37 * 611));
    packed_dequant_ref(e->m, 0, 37, W.data());
    if (e->s()) csr_add_rows(*e->s(), 0, 37, W.data());
    int bad = 0;
    for (size_t i = 0; i < W.size(); ++i) {
      const float want = fp16_to_f32(f32_to_fp16(W[i])), g = fp16_to_f32(got[i]);
      const bool ok = cs.rel == 0 ? g == want : std::fabs(g - W[i]) <= cs.rel * std::fabs(W[i]) + 1e-7;
      if (!ok && ++bad <= 3) ADD_FAILURE() << cs.format << " " << cs.params.dump() << " weight " << i << ": " << g << " vs " << W[i];
    }
    EXPECT_EQ(bad, 0) << cs.format << " " << cs.params.dump();
  }
}

// Formats without CUDA kernels are refused by name; the list names the rows it covers.
TEST(CudaFormatList, CoversTheOwnFormatsByName) {
  for (const char* name : {"lut", "group", "nf4", "w8a8"}) {
    const kc::CudaFormatKernels* k = kc::find_cuda_kernels(name);
    ASSERT_NE(k, nullptr) << name;
    EXPECT_NE(find_format(name), nullptr) << name << " is not a row of the format table";
    EXPECT_TRUE(k->fused && k->dequant_f16) << name;
  }
  EXPECT_EQ(kc::find_cuda_kernels("q4_k"), nullptr);
  EXPECT_EQ(kc::padded_cols(1), 512);
  EXPECT_EQ(kc::padded_cols(4096), 4096);
  EXPECT_EQ(kc::padded_cols(11008), 11264);
}

}  // namespace

// --method squeezellm: per-row sensitivity-weighted k-means codebooks (quant/algo/squeezellm.h) with the
// dense-and-sparse decomposition (quant/algo/dense_sparse.h), optionally with GPTQ-style error feedback.
#include "calib/stats.h"
#include "core/error.h"
#include "quant/algo/gptq.h"
#include "quant/methods/methods.h"
#include "quant/methods/packing.h"

namespace sqz::quant {

namespace {

class SqueezeLlmQuantizer : public Quantizer {
 public:
  explicit SqueezeLlmQuantizer(const QuantOptions& o) : o_(o) {
    SQZ_CHECK(o.bits >= 2 && o.bits <= 4, "squeezellm supports 2, 3 or 4 bits, not {}", o.bits);
  }
  nlohmann::json config() const override {
    return {{"quant_method", "squeezellm"}, {"method", "squeezellm"},   {"bits", o_.bits},
            {"sparsity", o_.sparsity},      {"sensitive_share", o_.sensitive_share}, {"solver", o_.solver},
            {"sensitivity", o_.sensitivity}, {"error_feedback", o_.error_feedback}, {"lm_head", o_.quantize_lm_head}};
  }
  LinearFormat format() const override { return {&kernels::format("lut"), kernels::FormatParams{o_.bits}}; }
  std::vector<std::string> needs() const override {
    std::vector<std::string> n;
    if (o_.sensitivity == "fisher") n.push_back("fisher");
    if (o_.sensitivity == "hessian-diag" || o_.error_feedback) n.push_back("hessian");
    return n;
  }

  void quantize_layer(LayerJob& job, std::array<QuantizedTensors, kNumSlots>& out) override {
    for (int s = 0; s < kNumSlots; ++s) {
      std::vector<float> F = sensitivity(job, s);
      const double* U = nullptr;
      HessianInverse hinv;
      if (o_.error_feedback) {
        const TensorView& H = require_hessian(job, s);
        hinv = hessian_inverse(H.as<float>(), job.in[s], o_.percdamp);
        U = hinv.U.data();
      }
      out[s] = quantize(job.W[s], F.empty() ? nullptr : F.data(), job.out[s], job.in[s], U);
    }
  }

  QuantizedTensors quantize_matrix(const std::string& name, std::vector<float>& W, int64_t out, int64_t in,
                                   const TensorView* fisher) override {
    std::vector<float> F;
    if (o_.sensitivity == "fisher") {
      SQZ_CHECK(fisher, "no Fisher information for {} in the statistics file", name);
      F = to_f32(*fisher);
    }
    return quantize(W, F.empty() ? nullptr : F.data(), out, in, nullptr);
  }

 private:
  QuantizedTensors quantize(const std::vector<float>& W, const float* F, int64_t rows, int64_t cols, const double* U) {
    SparseSplit split;
    const bool sparse = o_.sparsity > 0;
    if (sparse) split = dense_sparse_split(W.data(), F, rows, cols, {o_.sparsity / 100.0, o_.sensitive_share});
    SqueezeLlmOptions so;
    so.bits = o_.bits;
    so.method = o_.solver == "lloyd" ? KMeansMethod::Lloyd : KMeansMethod::Exact;
    so.seed = o_.seed;
    SqueezeLlmResult r = U ? squeezellm_quantize_ef(W.data(), F, rows, cols, sparse ? &split : nullptr, U, so)
                           : squeezellm_quantize(W.data(), F, rows, cols, sparse ? &split : nullptr, so);
    return store_lut(r, sparse ? &split : nullptr);
  }

  const TensorView& require_hessian(const LayerJob& job, int slot) const {
    const TensorView* H = job.stats ? job.stats->hessian(job.layer, slot_input(slot)) : nullptr;
    SQZ_CHECK(H, "{}: no Hessian for layer {} input {} (run `sqz calibrate --stats hessian`)",
              job.stats ? job.stats->path() : std::string("statistics"), job.layer, linear_input_name(slot_input(slot)));
    return *H;
  }

  // The per-weight sensitivity the k-means objective weighs by: the Fisher diagonal, or the layer-input
  // Hessian diagonal broadcast over rows, or none (plain k-means).
  std::vector<float> sensitivity(const LayerJob& job, int slot) const {
    if (o_.sensitivity == "none") return {};
    if (o_.sensitivity == "fisher") {
      const TensorView* f = job.stats ? job.stats->fisher(job.weight_name(slot)) : nullptr;
      SQZ_CHECK(f, "no Fisher information for {} in the statistics file", job.weight_name(slot));
      return to_f32(*f);
    }
    const TensorView& H = require_hessian(job, slot);
    const int64_t in = job.in[slot], out = job.out[slot];
    std::vector<float> F((size_t)(out * in));
    const float* h = H.as<float>();
    for (int64_t r = 0; r < out; ++r)
      for (int64_t c = 0; c < in; ++c) F[(size_t)(r * in + c)] = h[c * in + c];
    return F;
  }

  QuantOptions o_;
};

}  // namespace

std::unique_ptr<Quantizer> make_squeezellm(const QuantOptions& o) { return std::make_unique<SqueezeLlmQuantizer>(o); }

}  // namespace sqz::quant

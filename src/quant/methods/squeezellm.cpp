// --method squeezellm: per-row sensitivity-weighted k-means codebooks (quant/algo/squeezellm.h) with the
// dense-and-sparse decomposition (quant/algo/dense_sparse.h), optionally with GPTQ-style error feedback.
#include "calib/stats.h"
#include "core/error.h"
#include "quant/algo/gptq.h"
#include "quant/methods/methods.h"
#include "quant/methods/packing.h"

namespace sqz::quant {

namespace {

class SqueezeLlmQuantizer : public MethodQuantizer {
 public:
  using MethodQuantizer::MethodQuantizer;

  void quantize_layer(LayerJob& job, std::array<QuantizedTensors, kNumSlots>& out) override {
    for (int s = 0; s < kNumSlots; ++s) {
      std::vector<float> F = sensitivity(job, s);
      const double* U = nullptr;
      HessianInverse hinv;
      if (o_.error_feedback) {
        const TensorView& H = require_hessian(job, s);
        hinv = hessian_inverse(H.as<float>(), job.in[s], o_.damp_percent);
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
    if (sparse) split = dense_sparse_split(W.data(), F, rows, cols, {o_.sparsity, o_.sensitive_share});
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
    SQZ_CHECK(H, "{}: no Hessian for layer {} input {} (run `sqz calibrate --collect hessian`)",
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

};

}  // namespace

const Method kSqueezeLlm = {
    .name = "squeezellm", .format = "lut",
    .summary = "SqueezeLLM: per-row k-means codebooks weighted by sensitivity (--stats), dense-and-sparse outliers",
    .needs_for = [](const QuantOptions& o) {
      std::vector<std::string> n;
      if (o.sensitivity == "fisher") n.push_back("fisher");
      if (o.sensitivity == "hessian-diag" || o.error_feedback) n.push_back("hessian");
      return n;
    },
    .params = [](const QuantOptions& o) { return kernels::FormatParams{o.bits}; },
    .make = make_as<SqueezeLlmQuantizer>,
};

}  // namespace sqz::quant

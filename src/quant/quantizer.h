// One interface for every quantization method (rtn, squeezellm, gptq, awq, nf4, smoothquant). A method
// sees one decoder layer at a time (its seven linear weights in fp32, its two norms and the calibration
// statistics) and returns, for each linear, the tensors to store (layouts: model/quantized_linear.h,
// docs/format.md). The driver (quantize_model) does the rest: loading, error reports, writing.
#pragma once
#include <array>
#include <cstring>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/options.h"
#include "core/tensor.h"
#include "kernels/format.h"
#include "io/config.h"
#include "io/tensor_names.h"
#include "model/quantized_linear.h"

namespace sqz {

class CalibStats;

struct QuantOptions {
  std::string method = "squeezellm";
  int bits = 3;
  int64_t group_size = 0;  // stored -1 (one group per row) is accepted as 0
  int64_t block_size = 64;
  double sparsity = 0.45;  // percent
  double sensitive_share = 0.05 / 0.45;
  std::string solver = "exact";
  std::string sensitivity = "fisher";
  bool error_feedback = false;
  bool clip_search = false;
  bool act_order = false;
  double damp_percent = 0.01;
  double alpha = 0.5;
  bool smooth = true;
  std::string act_quant = "per_token";
  bool double_quant = false;
  bool lm_head = false;
  uint64_t seed = 0;
  std::string stats_path;
  std::vector<std::string> calib;
  int64_t calib_tokens = 2048;
  int64_t calib_ctx = 256;

  // Every option, once (core/options.h): CLI flags, help, quantization_config keys, checks and what
  // `compare` passes on to each method all come from here.
  template <class V>
  static void declare(V&& v);
  bool operator==(const QuantOptions&) const = default;
};

class Quantizer;

// One row per quantization method. What a method may be run with is read from here: the command line's
// --method choices and help, `compare`'s schedule, `demo`, and validate_quant_options.
struct Method {
  const char* name;
  const char* format;   // the row of the format table (kernels/format.h) its linears are stored in
  const char* summary;  // one line
  // Calibration data these options need: any of "fisher", "hessian", "act" (read from --stats) and
  // "inputs" (layer inputs of a forward pass over the --calib text). Empty: none (see needs_always).
  std::function<std::vector<std::string>(const QuantOptions& o)> needs_for;
  // The stored format's parameters for these options (bits, group or block size, ...).
  kernels::FormatParams (*params)(const QuantOptions& o);
  std::unique_ptr<Quantizer> (*make)(const QuantOptions& o);
  // What is wrong with a combination the declarations do not see ("" when nothing); may be null.
  std::string (*check)(const QuantOptions& o) = nullptr;

  const kernels::Format& storage() const { return kernels::format(format); }
  // The widths the method takes: exactly those its format stores.
  const std::vector<int>& bits() const { return storage().bits; }
  std::vector<std::string> needs(const QuantOptions& o) const { return needs_for ? needs_for(o) : std::vector<std::string>{}; }
  bool needs_input(std::string_view what, const QuantOptions& o) const;
};

std::span<const Method> method_table();
const Method* find_method(std::string_view name);
// Throws UsageError "--method NAME is not valid: one of rtn, ..." for an unknown name.
const Method& method(std::string_view name);
const std::vector<std::string_view>& method_names();

// Everything about `o` that can be checked without the model, before any work: the method, its bit width
// and format parameters, each option's range or choices, options given to a method they do not apply
// to, and the calibration inputs the method needs (--stats, --calib). Throws UsageError with one line
// naming the option and its valid values.
void validate_quant_options(const QuantOptions& o);

// The quantization_config a run with `o` writes (before the measured fields): quant_method, every
// recorded option that applies to the method under its flag name, and the format's own keys.
nlohmann::json quant_config(const QuantOptions& o);

template <class V>
void QuantOptions::declare(V&& v) {
  using Q = QuantOptions;
  constexpr std::string_view kGroup = "rtn,gptq,awq", kSqueeze = "squeezellm", kSmooth = "smoothquant";
  v(&Q::method, {.name = "method", .help = "Quantization method (see the table below)", .choices = method_names()});
  v(&Q::bits, {.name = "bits", .help = "Bits per weight index (the widths of each method: the table below; nf4 and smoothquant need none)"});
  v(&Q::group_size, {.name = "group-size",
                     .help = "Input columns per group of the uniform grid (-1 or 0: one group per row; awq: 128)",
                     .aliases = "group",
                     .scope = kGroup});
  v(&Q::block_size, {.name = "block-size", .help = "Weights per absmax block", .scope = "nf4"});
  v(&Q::sparsity, {.name = "sparsity",
                   .help = "Percent of each matrix kept exactly in fp16 (dense-and-sparse; 0.45 means 0.45 %)",
                   .scope = kSqueeze,
                   .min = 0,
                   .max = 50});
  v(&Q::sensitive_share, {.name = "sensitive-share",
                          .help = "Part of the sparse budget given to the highest-Fisher weights (the rest: largest magnitudes)",
                          .scope = kSqueeze,
                          .min = 0,
                          .max = 1});
  v(&Q::solver, {.name = "solver",
                 .help = "k-means solver: exact (1-D dynamic programming, optimal) or lloyd (weighted k-means++)",
                 .scope = kSqueeze,
                 .choices = {"exact", "lloyd"}});
  v(&Q::sensitivity, {.name = "sensitivity",
                      .help = "Weights of the k-means objective: Fisher information, the layer Hessian's diagonal, or none",
                      .scope = kSqueeze,
                      .choices = {"fisher", "hessian-diag", "none"}});
  v(&Q::error_feedback, {.name = "error-feedback", .help = "GPTQ-style compensation with the layer Hessian", .scope = kSqueeze});
  v(&Q::clip_search, {.name = "clip-search", .help = "Search shrink ratios minimising the weight MSE", .scope = "rtn"});
  v(&Q::act_order, {.name = "act-order", .help = "Quantize columns by decreasing Hessian diagonal", .scope = "gptq"});
  v(&Q::damp_percent, {.name = "damp-percent",
                       .help = "Hessian dampening as a fraction of its mean diagonal",
                       .aliases = "percdamp",
                       .scope = "gptq,squeezellm",
                       .min = 0,
                       .max = 1});
  v(&Q::alpha, {.name = "alpha", .help = "Migration strength", .scope = kSmooth, .min = 0, .max = 1});
  v(&Q::smooth, {.name = "smooth", .help = "Smoothing: activation outliers migrated into the weights (--no-smooth: plain W8A8)", .scope = kSmooth});
  v(&Q::act_quant, {.name = "act-quant",
                    .help = "Activations: per_token (O1), per_tensor_dynamic (O2), per_tensor_static (O3, scale from --stats)",
                    .scope = kSmooth,
                    .choices = {"per_token", "per_tensor_dynamic", "per_tensor_static"}});
  v(&Q::double_quant, {.name = "double-quant", .help = "Quantize the block scales too", .scope = "nf4"});
  v(&Q::lm_head, {.name = "lm-head", .help = "Quantize lm_head too", .scope = "rtn,squeezellm,nf4,smoothquant"});
  v(&Q::seed, {.name = "seed", .help = "Seed of the k-means++ initialisation (--solver lloyd)", .scope = kSqueeze});
  v(&Q::stats_path, {.name = "stats",
                     .help = "Calibration statistics from `sqz calibrate` (or a Fisher file); with Fisher information the "
                             "report weighs each error by it",
                     .recorded = false,
                     .files = true});
  v(&Q::calib, {.name = "calib",
                .help = "Calibration text files (.txt, or .jsonl with a \"text\" field) for the scale search",
                .scope = "awq",
                .recorded = false,
                .files = true});
  v(&Q::calib_tokens, {.name = "calib-tokens", .help = "Tokens of layer inputs the search keeps per layer", .scope = "awq", .min = 1});
  v(&Q::calib_ctx, {.name = "calib-ctx", .help = "Tokens per window of the calibration forward pass", .scope = "awq", .min = 1});
}

// The stored form of one quantized linear: suffix (".qweight", ".lut", ...) -> tensor.
using QuantizedTensors = std::vector<std::pair<std::string, OwnedTensor>>;

struct LayerJob {
  int layer = 0;
  const ModelConfig* cfg = nullptr;
  std::array<std::vector<float>, kNumSlots> W;  // by LinearSlot, fp32 [out, in]; AWQ and SmoothQuant rescale them
  std::array<int64_t, kNumSlots> out{}, in{};
  std::vector<float>* attn_norm = nullptr;  // may be rescaled by smoothing methods
  std::vector<float>* ffn_norm = nullptr;
  const CalibStats* stats = nullptr;
  // Calibration inputs of this layer for each LinearInput (row-major [rows, dim]), when the method asked
  // for "inputs".
  std::array<std::vector<float>, kNumLinearInputs> X;
  std::array<int64_t, kNumLinearInputs> x_rows{};
  std::string weight_name(int slot) const;  // "model.layers.{i}.{slot}.weight"
};

class Quantizer {
 public:
  virtual ~Quantizer() = default;
  // Quantizes the seven linears of one layer into `out`; by default each on its own through quantize_matrix.
  virtual void quantize_layer(LayerJob& job, std::array<QuantizedTensors, kNumSlots>& out);
  // Quantizes one stand-alone matrix (lm_head) with the given sensitivity (may be null).
  virtual QuantizedTensors quantize_matrix(const std::string& name, std::vector<float>& W, int64_t out, int64_t in,
                                           const TensorView* fisher) = 0;
};

// Validates `opt` and makes its method's quantizer.
std::unique_ptr<Quantizer> make_quantizer(const QuantOptions& opt);

struct QuantizeReport {
  double seconds = 0;
  int64_t linear_params = 0, sparse_entries = 0;
  size_t linear_bytes = 0, total_bytes = 0;
  double bpw_linear = 0, bpw_total = 0;
  nlohmann::json layers = nlohmann::json::array();  // per layer: errors, sparse count, seconds
};

// Quantizes a checkpoint and writes a Hugging Face-style directory (config.json with quantization_config,
// model.safetensors, tokenizer files) atomically to out_dir.
QuantizeReport quantize_model(const std::string& model_path, const QuantOptions& opt, const std::string& out_dir);

}  // namespace sqz

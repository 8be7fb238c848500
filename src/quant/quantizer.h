// One interface for every quantization method (rtn, squeezellm, gptq, awq, nf4, smoothquant). A method
// sees one decoder layer at a time (its seven linear weights in fp32, its two norms and the calibration
// statistics) and returns, for each linear, the tensors to store (layouts: model/quantized_linear.h,
// docs/format.md). The driver (quantize_model) does the rest: loading, error reports, writing.
#pragma once
#include <array>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/config.h"
#include "io/tensor_names.h"
#include "model/quantized_linear.h"

namespace sqz {

class CalibStats;

struct QuantOptions {
  std::string method = "squeezellm";
  int bits = 3;
  int64_t group = 0;               // uniform methods: input columns per group (0: per output channel)
  double sparsity = 0.45;          // squeezellm: percent of each matrix kept in fp16 CSR
  double sensitive_share = 0.05 / 0.45;  // squeezellm: part of the sparse budget given to high-Fisher weights
  std::string solver = "exact";    // squeezellm: exact | lloyd
  std::string sensitivity = "fisher";  // squeezellm: fisher | hessian-diag | none
  bool error_feedback = false;     // squeezellm: GPTQ-style compensation with the layer Hessian
  bool clip_search = false;        // rtn: grid search over shrink ratios
  bool act_order = false;          // gptq
  double percdamp = 0.01;          // gptq
  double alpha = 0.5;              // smoothquant migration strength
  bool smooth = true;              // smoothquant: false gives plain W8A8 (the outlier problem)
  std::string act_quant = "per_token";  // smoothquant: per_token | per_tensor_dynamic | per_tensor_static
  bool double_quant = false;       // nf4
  int64_t nf4_block = 64;
  bool quantize_lm_head = false;
  uint64_t seed = 0;
  std::string stats_path;          // sqz calibrate output (or a Fisher file computed elsewhere)
  std::vector<std::string> calib_data;  // awq: calibration text whose layer inputs the search uses
  int64_t calib_tokens = 2048;     // awq: tokens of layer inputs kept per layer
  int64_t calib_ctx = 256;         // awq: window length for that forward pass
};

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
  // quantization_config fields this method writes (method name, its options); the driver adds the
  // storage format's own keys (format, bits, group size, ...) from format().
  virtual nlohmann::json config() const = 0;
  // The row of the format table the method writes, with its parameters.
  virtual LinearFormat format() const = 0;
  // Calibration data the method needs: any of "fisher", "hessian", "act", "inputs".
  virtual std::vector<std::string> needs() const = 0;
  // Quantizes the seven linears of one layer into `out`.
  virtual void quantize_layer(LayerJob& job, std::array<QuantizedTensors, kNumSlots>& out) = 0;
  // Quantizes one stand-alone matrix (lm_head) with the given sensitivity (may be null).
  virtual QuantizedTensors quantize_matrix(const std::string& name, std::vector<float>& W, int64_t out, int64_t in,
                                           const TensorView* fisher) = 0;
};

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

// Reading calibration statistics (written by `sqz calibrate`, or a Fisher file computed elsewhere).
// Tensor names:
//   fisher:  the weight's own name, e.g. model.layers.0.self_attn.q_proj.weight (same shape as the weight)
//   hessian: model.layers.{i}.{attn|attn_out|mlp|mlp_down}.hessian          [d, d], H = (2/N) sum x x^T
//   act:     model.layers.{i}.{attn|attn_out|mlp|mlp_down}.act_absmax / .act_absmean   [d]
#pragma once
#include <string>

#include "core/tensor.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "model/llama.h"

namespace sqz {

std::string stats_input_name(int layer, LinearInput which);  // "model.layers.{i}.{attn|...}"

class CalibStats {
 public:
  explicit CalibStats(const std::string& path);
  const std::string& path() const { return file_.path(); }
  const TensorView* fisher(const std::string& weight_name) const { return file_.find(weight_name); }
  const TensorView* hessian(int layer, LinearInput which) const;
  const TensorView* act_absmax(int layer, LinearInput which) const;
  const TensorView* act_absmean(int layer, LinearInput which) const;
  const std::map<std::string, std::string>& metadata() const { return file_.metadata(); }
  // Bring-your-own Fisher: every linear weight of the checkpoint must have a float Fisher tensor of the
  // same shape with finite, non-negative values. Throws Error naming the file, the tensor and the problem.
  void validate_fisher(const Checkpoint& ck) const;

 private:
  const TensorView* f32(const std::string& name) const;
  SafetensorsFile file_;
};

}  // namespace sqz

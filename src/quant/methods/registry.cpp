// The method table and the checks every run goes through before it touches a model.
#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"
#include "quant/methods/methods.h"

namespace sqz {

std::span<const Method> method_table() {
  // Copies of the rows (each defined in its method's file), made on first use.
  static const std::vector<Method> rows = {quant::kRtn, quant::kGptq, quant::kAwq, quant::kNf4, quant::kSmoothQuant,
                                           quant::kSqueezeLlm};
  return rows;
}

const Method* find_method(std::string_view name) {
  for (const Method& m : method_table())
    if (name == m.name) return &m;
  return nullptr;
}

const std::vector<std::string_view>& method_names() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> n;
    for (const Method& m : method_table()) n.push_back(m.name);
    return n;
  }();
  return names;
}

const Method& method(std::string_view name) {
  if (const Method* m = find_method(name)) return *m;
  usage_fail("--method {} is not valid: one of {}", name, join_strings(method_names(), ", "));
}

void Quantizer::quantize_layer(LayerJob& job, std::array<QuantizedTensors, kNumSlots>& out) {
  for (int s = 0; s < kNumSlots; ++s) out[s] = quantize_matrix(job.weight_name(s), job.W[s], job.out[s], job.in[s], nullptr);
}

bool Method::needs_input(std::string_view what, const QuantOptions& o) const {
  const std::vector<std::string> n = needs(o);
  return std::find(n.begin(), n.end(), what) != n.end();
}

void validate_quant_options(const QuantOptions& o) {
  const Method& m = method(o.method);
  const kernels::Format& f = m.storage();
  if (!f.allows_bits(o.bits))
    usage_fail("--bits {} is not valid for --method {}: it takes {} bits", o.bits, m.name, f.bits_list());
  check_option_values(o, m.name);
  check_option_scope(o, m.name, fmt::format("--method {}", m.name));
  // The group or block size is the format's to judge; its key is the flag's name (group_size: --group-size).
  const kernels::FormatParams p = m.params(o);
  const std::string where = f.group_key ? fmt::format("--{}", option_flag_name(f.group_key)) : fmt::format("--method {}", m.name);
  kernels::check_params(f, p, 1, 1, where, true);
  if (m.needs_input("fisher", o) || m.needs_input("hessian", o) || m.needs_input("act", o)) {
    if (o.stats_path.empty()) {
      std::vector<std::string> kinds = m.needs(o);
      std::erase(kinds, "inputs");
      usage_fail("--method {} needs --stats FILE: calibration statistics ({}) from `sqz calibrate --collect {}`", m.name,
                 join_strings(kinds, ", "), join_strings(kinds, ","));
    }
  }
  if (m.needs_input("inputs", o) && o.calib.empty())
    usage_fail("--method {} needs --calib FILE...: calibration text whose layer inputs its search runs on", m.name);
  if (m.check)
    if (const std::string e = m.check(o); !e.empty()) usage_fail("--method {}: {}", m.name, e);
}

nlohmann::json quant_config(const QuantOptions& o) {
  const Method& m = method(o.method);
  nlohmann::json j = {{"quant_method", m.name}};
  options_to_json(o, j, m.name);
  kernels::params_to_json(m.storage(), m.params(o), j);
  return j;
}

std::unique_ptr<Quantizer> make_quantizer(const QuantOptions& o) {
  validate_quant_options(o);
  return method(o.method).make(o);
}

}  // namespace sqz

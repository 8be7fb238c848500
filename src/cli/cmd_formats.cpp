// `sqz formats`: the format table's rows (kernels/format.h) as a table or JSON: name, bit widths, tensors,
// the instruction sets with their own kernels on this build and CPU, an example size and the doc section.
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "core/options.h"
#include "kernels/format.h"

namespace sqz::cli {
namespace {

using kernels::Format;
using kernels::FormatParams;

// One parameter set per allowed width the row accepts for a 4096 x 4096 matrix, to show sizes: the first
// group size the row takes out of none, 128, 64, 32, 256 (formats without groups take none).
std::vector<FormatParams> example_params(const Format& f) {
  std::vector<FormatParams> out;
  std::vector<int> widths = f.bits.empty() ? std::vector<int>{0} : f.bits;
  for (int b : widths)
    for (int64_t g : {0, 128, 64, 32, 256}) {
      FormatParams p;
      p.bits = b, p.group = g;
      if (!f.check || f.check(p, 4096, 4096).empty()) {
        out.push_back(p);
        break;
      }
    }
  return out;
}

double bpw(const Format& f, const FormatParams& p) { return 8.0 * (double)f.bytes(p, 4096, 4096) / (4096.0 * 4096.0); }

std::vector<std::string> isas_with_kernels(const Format& f) {
  std::vector<std::string> v;
  for (kernels::Isa isa : {kernels::Isa::Scalar, kernels::Isa::Avx2, kernels::Isa::Avx512})
    if (f.isa[(size_t)isa].rows) v.push_back(kernels::isa_name(isa));
  if (f.gemm) v.push_back("gemm");  // a whole-matrix product (W8A8: activations quantized once per call)
  return v;
}

}  // namespace

Action add_formats(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  auto* c = app.add_subcommand("formats", "List the packed weight formats (the format table): widths, tensors, kernels, sizes");
  c->add_flag("--json", *json, "Print one JSON array");
  return [json]() {
    const std::string cpu = kernels::isa_name(kernels::detected_isa());
    if (*json) {
      nlohmann::json rows = nlohmann::json::array();
      for (const Format& f : kernels::format_table()) {
        nlohmann::json t = nlohmann::json::array(), ex = nlohmann::json::array();
        for (const auto& s : f.tensors) t.push_back({{"suffix", s.suffix}, {"dtype", dtype_name(s.dtype)}, {"optional", s.optional}});
        for (const FormatParams& p : example_params(f)) ex.push_back({{"label", f.label(p)}, {"bpw_4096x4096", bpw(f, p)}});
        rows.push_back({{"name", f.name},
                        {"summary", f.summary},
                        {"bits", f.bits},
                        {"tensors", t},
                        {"sparse", f.sparse},
                        {"ggml_type", f.ggml_type == kernels::kNoGgmlType ? nlohmann::json() : nlohmann::json(f.ggml_type)},
                        {"kernels", isas_with_kernels(f)},
                        {"examples", ex},
                        {"doc", f.doc}});
      }
      fmt::print("{}\n", nlohmann::json{{"cpu_isa", cpu}, {"formats", rows}}.dump(1));
      return 0;
    }
    fmt::print("{:<8} {:<9} {:<22} {:<26} {}\n", "format", "bits", "kernels", "example (4096x4096)", "summary");
    for (const Format& f : kernels::format_table()) {
      std::string ex;
      for (const FormatParams& p : example_params(f)) ex += fmt::format("{}{} {:.2f}", ex.empty() ? "" : ", ", f.label(p), bpw(f, p));
      fmt::print("{:<8} {:<9} {:<22} {:<26} {}\n", f.name, f.bits.empty() ? "-" : f.bits_list(),
                 join_strings(isas_with_kernels(f), ","), ex.empty() ? "-" : ex + " bpw", f.summary);
    }
    fmt::print("this CPU runs up to {}; layouts: docs/format.md\n", cpu);
    return 0;
  };
}

}  // namespace sqz::cli

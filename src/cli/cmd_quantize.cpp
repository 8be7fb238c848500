#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "cli/options.h"
#include "core/progress.h"
#include "quant/quantizer.h"

namespace sqz::cli {

std::string method_table_help() {
  std::string t = "Methods (--method): bit widths, what they need with the default options, what they do\n";
  for (const Method& m : method_table()) {
    QuantOptions d;
    d.method = m.name;
    std::string needs;
    for (const std::string& n : m.needs(d)) needs += (needs.empty() ? "" : ", ") + n;
    if (m.needs_input("inputs", d)) needs = "--calib";
    else if (!needs.empty()) needs = fmt::format("--stats ({})", needs);
    t += fmt::format("  {:<12} {:<11} {:<18} {}\n", m.name, m.storage().bits_list(), needs.empty() ? "-" : needs, m.summary);
  }
  return t;
}

Action add_quantize(CLI::App& app) {
  struct Opts {
    std::string model, out;
    QuantOptions q;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("quantize", "Quantize a checkpoint into an sqz directory");
  c->add_option("model", o->model, "Checkpoint: HF directory, .gguf or llama2.c .bin")->required();
  c->add_option("-o,--output", o->out, "Output directory (written atomically)")->required();
  add_options(c, o->q);
  c->footer(method_table_help());
  c->add_flag("--json", o->json, "Print the report as one JSON object");
  return [o, c]() {
    // --bits may be left out for a method whose format stores one width (nf4, smoothquant).
    if (const Method* m = find_method(o->q.method); m && c->count("--bits") == 0 && m->bits().size() == 1)
      o->q.bits = m->bits()[0];
    QuantizeReport r = quantize_model(o->model, o->q, o->out);
    if (o->json) {
      nlohmann::json j = {{"output", o->out},
                          {"method", o->q.method},
                          {"bits", o->q.bits},
                          {"seconds", r.seconds},
                          {"bpw_linear", r.bpw_linear},
                          {"bpw_total", r.bpw_total},
                          {"linear_bytes", r.linear_bytes},
                          {"total_bytes", r.total_bytes},
                          {"sparse_entries", r.sparse_entries},
                          {"peak_rss_bytes", peak_rss_bytes()},
                          {"layers", r.layers}};
      fmt::print("{}\n", j.dump());
      return 0;
    }
    fmt::print("wrote {}: {} {}-bit, {:.3f} bits/weight in linear layers ({:.3f} over all weights), {} sparse entries, {:.1f}s\n",
               o->out, o->q.method, o->q.bits, r.bpw_linear, r.bpw_total, r.sparse_entries, r.seconds);
    return 0;
  };
}

}  // namespace sqz::cli

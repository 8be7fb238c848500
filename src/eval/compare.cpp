#include "eval/compare.h"

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "calib/calibrate.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/progress.h"
#include "eval/bench.h"
#include "eval/perplexity.h"
#include "io/checkpoint.h"
#include "quant/quantizer.h"
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <functional>

namespace fs = std::filesystem;

namespace sqz {

namespace {

nlohmann::json evaluate(const std::string& path, const LlamaModel* ref, const std::vector<int>& ids,
                        const CompareOptions& o) {
  std::shared_ptr<const Checkpoint> ck = open_checkpoint(path);
  LlamaModel m(ck);
  PplOptions po;
  po.ctx = o.ctx;
  po.max_windows = o.max_windows;
  po.progress = false;
  nlohmann::json j;
  if (ref) {
    KlResult k = perplexity_and_kl(m, *ref, ids, po);
    j["ppl"] = k.ppl.ppl;
    j["kl"] = k.kl;
  } else {
    j["ppl"] = perplexity(m, ids, po).ppl;
    j["kl"] = 0.0;
  }
  BenchOptions bo;
  bo.prompt_tokens = std::min<int64_t>(64, m.config().max_seq_len / 2);
  bo.gen_tokens = std::min<int64_t>(32, m.config().max_seq_len / 2);
  j["decode_tokens_per_s"] = bench_model(m, bo).decode_tokens_per_s;
  size_t lin_bytes = 0;
  int64_t lin_params = 0;
  for (const auto& L : m.layers())
    for (const Linear* l : L.linears()) {
      lin_bytes += l->weight_bytes();
      lin_params += l->in_features() * l->out_features();
    }
  j["bpw"] = 8.0 * (double)lin_bytes / (double)lin_params;
  size_t size = 0;
  for (const auto& [n, t] : ck->tensors()) size += t.nbytes;
  j["size_bytes"] = size;
  return j;
}

void write_outputs(const fs::path& dir, const nlohmann::json& rows) {
  static const char* cols[] = {"method", "bits", "bpw", "size_bytes", "ppl", "delta_ppl", "kl", "quantize_s",
                               "decode_tokens_per_s", "variant"};
  std::string csv, md = "| method | bits | bpw | size_bytes | ppl | delta_ppl | kl | quantize_s | decode_tokens_per_s | variant |\n"
                        "|---|---|---|---|---|---|---|---|---|---|\n";
  for (const char* c : cols) csv += std::string(csv.empty() ? "" : ",") + c;
  csv += "\n";
  std::string dat;
  for (const auto& r : rows) {
    csv += fmt::format("{},{},{:.4f},{},{:.4f},{:.4f},{:.6f},{:.2f},{:.1f},{}\n", r["method"].get<std::string>(),
                       r["bits"].get<int>(), r["bpw"].get<double>(), r["size_bytes"].get<size_t>(), r["ppl"].get<double>(),
                       r["delta_ppl"].get<double>(), r["kl"].get<double>(), r["quantize_s"].get<double>(),
                       r["decode_tokens_per_s"].get<double>(), r["name"].get<std::string>());
    md += fmt::format("| {} | {} | {:.3f} | {} | {:.3f} | {:+.3f} | {:.5f} | {:.1f} | {:.1f} | {} |\n", r["method"].get<std::string>(),
                      r["bits"].get<int>(), r["bpw"].get<double>(), r["size_bytes"].get<size_t>(), r["ppl"].get<double>(),
                      r["delta_ppl"].get<double>(), r["kl"].get<double>(), r["quantize_s"].get<double>(),
                      r["decode_tokens_per_s"].get<double>(), r["name"].get<std::string>());
    dat += fmt::format("{:.4f} {:.4f} \"{}\"\n", r["bpw"].get<double>(), r["ppl"].get<double>(), r["name"].get<std::string>());
  }
  write_file_atomic((dir / "results.csv").string(), csv);
  write_file_atomic((dir / "results.md").string(), md);
  write_file_atomic((dir / "results.json").string(), rows.dump(2) + "\n");
  write_file_atomic((dir / "ppl_vs_bpw.dat").string(), dat);
  // The plot needs gnuplot (Debian's gnuplot-nox); without it the tables are still written.
  const std::string cmd = fmt::format(
      "gnuplot -e \"set terminal png size 900,600; set output '{0}/ppl_vs_bpw.png.tmp'; set xlabel 'bits per weight (linear "
      "layers)'; set ylabel 'perplexity'; set logscale x 2; set grid; plot '{0}/ppl_vs_bpw.dat' using 1:2 with points pt 7 "
      "notitle, '' using 1:2:3 with labels offset 0,1 font ',8' notitle\" 2>/dev/null && mv '{0}/ppl_vs_bpw.png.tmp' "
      "'{0}/ppl_vs_bpw.png'",
      dir.string());
  if (std::system(cmd.c_str()) != 0 && !quiet()) fmt::print(stderr, "compare: gnuplot not available, no plot written\n");
}

}  // namespace

std::vector<CompareVariant> compare_variants(const CompareOptions& o, const std::string& stats) {
  check_option_values(o);
  check_option_values(o.calib);
  check_option_values(o.quant);  // also those of methods not scheduled: a bad value is never ignored
  QuantOptions base = o.quant;
  base.stats_path = stats;
  base.calib = o.calib.data;
  base.calib_ctx = o.calib.ctx;
  std::vector<CompareVariant> v;
  auto add = [&](std::string name, QuantOptions q) {
    validate_quant_options(q);
    v.push_back({std::move(name), std::move(q)});
  };
  std::vector<int> taken;
  for (const std::string& name : o.methods) {
    const Method& m = method(name);
    for (int b : o.bits) {
      if (!m.storage().allows_bits(b)) continue;
      taken.push_back(b);
      QuantOptions q = options_for_case(base, m.name);
      q.method = m.name;
      q.bits = b;
      add(fmt::format("{}-{}bit", m.name, b), q);
      if (q.method == "smoothquant") {
        q.smooth = false;
        add(fmt::format("w8a8-nosmooth-{}bit", b), q);
      } else if (q.method == "squeezellm") {  // besides the sparse one (--sparsity, 0.45% by default)
        QuantOptions d = q;
        d.sparsity = 0;
        add(fmt::format("squeezellm-dense-{}bit", b), d);
        QuantOptions ef = q;
        ef.error_feedback = true;
        add(fmt::format("squeezellm-ef-{}bit", b), ef);
      }
    }
  }
  for (int b : o.bits)
    if (std::find(taken.begin(), taken.end(), b) == taken.end()) {
      std::vector<std::string> widths;
      for (const std::string& name : o.methods) widths.push_back(fmt::format("{}: {}", name, method(name).storage().bits_list()));
      usage_fail("--bits {} is not valid: none of the methods takes it ({})", b, join_strings(widths, "; "));
    }
  return v;
}

std::string run_compare(const CompareOptions& o) {
  const fs::path dir(o.out_dir);
  const std::string stats = (dir / "stats.safetensors").string();
  const std::vector<CompareVariant> vs = compare_variants(o, stats);  // usage errors before any work
  fs::create_directories(dir);
  std::shared_ptr<const Checkpoint> ck = open_checkpoint(o.model);
  LlamaModel ref(ck);
  auto tok = load_tokenizer(*ck, o.tokenizer);
  const std::vector<int> ids = tok->encode(read_eval_text(o.data, o.max_chars), true);

  if (!fs::exists(stats)) {
    CalibOptions co = o.calib;
    co.ctx = std::min<int64_t>(co.ctx, ck->config.max_seq_len);
    co.model_path = o.model;
    co.eval_files.push_back(o.data);
    co.progress = !quiet();
    if (!quiet()) fmt::print(stderr, "compare: calibrating ({} samples x {})\n", co.nsamples, co.ctx);
    calibrate(ref, load_calibration_tokens(*tok, co), co, stats);
  }

  nlohmann::json rows = nlohmann::json::array();
  auto cached = [&](const std::string& name, const std::function<nlohmann::json()>& make) {
    const fs::path f = dir / (name + ".json");
    if (fs::exists(f)) return nlohmann::json::parse(read_text_file(f.string()));
    nlohmann::json j = make();
    write_file_atomic(f.string(), j.dump() + "\n");
    return j;
  };
  if (!quiet()) fmt::print(stderr, "compare step 1/{}: fp16 original\n", vs.size() + 1);
  nlohmann::json base = cached("fp16", [&] {
    nlohmann::json j = evaluate(o.model, nullptr, ids, o);
    j["name"] = "fp16";
    j["method"] = "fp16";
    j["bits"] = 16;
    j["quantize_s"] = 0.0;
    return j;
  });
  base["delta_ppl"] = 0.0;
  rows.push_back(base);
  for (size_t i = 0; i < vs.size(); ++i) {
    const CompareVariant& v = vs[i];
    if (!quiet()) fmt::print(stderr, "compare step {}/{}: {}\n", i + 2, vs.size() + 1, v.name);
    nlohmann::json r = cached(v.name, [&] {
      const QuantOptions& q = v.q;
      const bool was_quiet = quiet();
      set_quiet(true);
      QuantizeReport rep = quantize_model(o.model, q, (dir / v.name).string());
      set_quiet(was_quiet);
      nlohmann::json j = evaluate((dir / v.name).string(), &ref, ids, o);
      j["name"] = v.name;
      j["method"] = v.q.method;
      j["bits"] = v.q.bits;
      j["quantize_s"] = rep.seconds;
      return j;
    });
    r["delta_ppl"] = r["ppl"].get<double>() - base["ppl"].get<double>();
    rows.push_back(r);
    write_outputs(dir, rows);
  }
  write_outputs(dir, rows);
  return rows.dump(2);
}

}  // namespace sqz

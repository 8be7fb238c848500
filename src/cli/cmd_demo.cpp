// `sqz demo`: the whole pipeline on a machine with nothing but Debian packages. Trains a tiny LLaMA on the
// King James Bible (package bible-kjv, public domain), calibrates it, quantizes it with every method of
// the method table at each of 3, 4 and 8 bits it takes, and prints the comparison table. A demonstration of the machinery, not a
// measurement of a useful model.
#include <cstdio>
#include <filesystem>

#include "cli/common.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/progress.h"
#include "eval/compare.h"
#include "train/pretrain.h"

namespace fs = std::filesystem;

namespace sqz::cli {

namespace {

// All 31,102 verses from the `bible` program, one per line as "Ge1:1 In the beginning ...".
std::string read_bible() {
  FILE* p = popen("bible -f 'Gen1:1-Rev22:21' 2>/dev/null", "r");
  std::string out;
  if (p) {
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    if (pclose(p) != 0) out.clear();
  }
  if (out.size() < 1000000)
    fail("demo: could not read the King James Bible from the `bible` program; install the Debian package "
         "bible-kjv (apt-get install bible-kjv) or pass --text FILE");
  return out;
}

// Splits verses "Ge1:1 text" by chapter: every 20th chapter (offset 0) is evaluation text, the one half
// way between (offset 10) calibration text, the rest training text, so the three never share a verse and
// all cover the whole book. Lines without a reference (a --text file) are split by blocks of 40 lines.
struct Split {
  std::string train, calib, eval;
};
Split split_text(const std::string& text) {
  Split s;
  std::string prev_chapter;
  int64_t chapter = -1, line_no = 0;
  size_t b = 0;
  while (b < text.size()) {
    size_t e = text.find('\n', b);
    if (e == std::string::npos) e = text.size();
    std::string line = text.substr(b, e - b);
    b = e + 1;
    const size_t sp = line.find(' '), colon = line.find(':');
    const bool ref = sp != std::string::npos && colon != std::string::npos && colon < sp && sp < 12;
    std::string key;
    if (ref) {
      key = line.substr(0, colon);  // book + chapter, e.g. "Ge1"
      line = line.substr(sp + 1);
    } else {
      key = std::to_string(line_no / 40);
    }
    ++line_no;
    if (key != prev_chapter) {
      ++chapter;
      prev_chapter = key;
    }
    if (line.empty()) continue;
    std::string& dst = chapter % 20 == 0 ? s.eval : chapter % 20 == 10 ? s.calib : s.train;
    dst += line;
    dst += '\n';
  }
  return s;
}

}  // namespace

Action add_demo(CLI::App& app) {
  struct Opts {
    std::string out = "out/demo", text;
    double minutes = 5.0;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("demo", "Train a tiny model on the King James Bible, quantize it every way, compare");
  c->add_option("-o,--output", o->out, "Working directory")->capture_default_str();
  c->add_option("--text", o->text, "Text to use instead of the bible-kjv package's")->check(CLI::ExistingFile);
  c->add_option("--minutes", o->minutes, "Training time")->capture_default_str();
  return [o]() {
    if (!(o->minutes > 0)) usage_fail("demo: --minutes must be positive");
    const double t0 = now_seconds();
    const fs::path dir(o->out);
    fs::create_directories(dir / "data");
    const Split sp = split_text(o->text.empty() ? read_bible() : read_text_file(o->text));
    if (sp.eval.size() < 10000 || sp.calib.size() < 10000 || sp.train.size() < 100000)
      fail("demo: the text is too short to split into training, calibration and evaluation parts (need about 200 KB)");
    const std::string train_f = (dir / "data/train.txt").string(), calib_f = (dir / "data/calib.txt").string(),
                      eval_f = (dir / "data/eval.txt").string();
    write_file_atomic(train_f, sp.train);
    write_file_atomic(calib_f, sp.calib);
    write_file_atomic(eval_f, sp.eval);
    if (!quiet())
      fmt::print(stderr, "demo: text split by chapter: {} KB training, {} KB calibration, {} KB evaluation\n",
                 sp.train.size() / 1024, sp.calib.size() / 1024, sp.eval.size() / 1024);

    // Sized for about 2 cores: 1.1M parameters see ~0.5-1M tokens in 5 minutes, enough to learn words and
    // common phrases (held-out perplexity falls from ~1000 to well under 100).
    train::PretrainOptions to;
    to.data = {train_f};
    to.out_dir = (dir / "model").string();
    to.dim = 128;
    to.layers = 4;
    to.heads = 4;
    to.vocab = 1024;
    to.ctx = 128;
    to.batch = 8;
    to.steps = 100000;
    to.lr = 3e-3;
    to.minutes = o->minutes;
    const train::PretrainReport r = train::pretrain(to);

    CompareOptions co;
    co.model = to.out_dir;
    co.data = eval_f;
    co.calib.data = {calib_f};
    co.out_dir = (dir / "compare").string();
    co.methods = {method_names().begin(), method_names().end()};  // every method at each width it takes
    co.bits = {3, 4, 8};
    co.ctx = 128;
    co.max_windows = 40;
    co.calib.nsamples = 32;
    co.calib.ctx = 128;
    co.quant.group_size = 64;
    // A re-run trains a new model: rows cached from the previous one would not belong to it.
    fs::remove_all(co.out_dir);
    run_compare(co);
    fmt::print("{}", read_text_file(co.out_dir + "/results.md"));
    fmt::print(
        "\nThis is a tiny demonstration model ({:.2f}M parameters, {} training steps on {} KB of the King James "
        "Bible, held-out perplexity {:.1f}), trained here in {:.1f} minutes: the table shows the machinery working "
        "end to end, not the quality of a real LLM.\n"
        "Model: {}  Report: {} (results.md/csv/json, ppl_vs_bpw.png)  Data: {}  Total time: {:.1f} min\n",
        r.n_params / 1e6, r.steps, sp.train.size() / 1024, std::exp(r.val_loss), r.seconds / 60, to.out_dir, co.out_dir,
        (dir / "data").string(), (now_seconds() - t0) / 60);
    return 0;
  };
}

}  // namespace sqz::cli

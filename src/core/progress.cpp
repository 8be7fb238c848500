#include "core/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace sqz {

namespace {
bool g_quiet = false;
}

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}
void set_quiet(bool q) { g_quiet = q; }
bool quiet() { return g_quiet; }

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), start_(now_seconds()) {}

void Progress::update(int64_t done, const std::string& extra) {
  if (g_quiet) return;
  const double t = now_seconds();
  if (done < total_ && t - last_print_ < 0.5) return;
  last_print_ = t;
  const double el = t - start_;
  const double eta = done > 0 ? el * (double)(total_ - done) / (double)done : 0.0;
  std::string line = fmt::format("{} {}/{}", label_, done, total_);
  if (!unit_.empty() && el > 0) line += fmt::format("  {:.1f} {}/s", (double)done / el, unit_);
  line += fmt::format("  elapsed {:.1f}s  ETA {:.1f}s", el, eta);
  if (!extra.empty()) line += "  " + extra;
  const bool tty = isatty(2);
  fmt::print(stderr, "{}{}{}", tty ? "\r" : "", line, tty ? "\033[K" : "\n");
  if (done >= total_ && tty) fmt::print(stderr, "\n");
  std::fflush(stderr);
}

void Progress::finish(const std::string& extra) {
  last_print_ = -1;
  update(total_, extra);
}

size_t peak_rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string key;
  while (f >> key) {
    if (key == "VmHWM:") {
      size_t kb;
      f >> kb;
      return kb * 1024;
    }
    std::string rest;
    std::getline(f, rest);
  }
  return 0;
}

}  // namespace sqz

// Progress lines on stderr for long work: "label i/N  rate  ETA". Silent when quiet() is set.
#pragma once
#include <chrono>
#include <string>

namespace sqz {

double now_seconds();  // monotonic clock
void set_quiet(bool q);
bool quiet();

class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit = "");
  // Reports that `done` of total steps are finished; `extra` is appended (e.g. "loss 2.31").
  void update(int64_t done, const std::string& extra = "");
  void finish(const std::string& extra = "");
  double elapsed() const { return now_seconds() - start_; }

 private:
  std::string label_, unit_;
  int64_t total_;
  double start_, last_print_ = -1;
};

// Peak resident set size of this process in bytes (from /proc/self/status VmHWM).
size_t peak_rss_bytes();

}  // namespace sqz

// Exact weighted 1-D k-means (SqueezeLLM's per-row codebook search): CPU time of the shipping solver on
// each instruction set against the previous one (plain divide and conquer, tests/quant/kmeans1d_reference.h),
// measured in the same run, one thread, on rows shaped like LLaMA-7B's linears.
//
// Rows: values ~ N(0, 0.02^2) (optionally rounded to fp16, as a checkpoint stores them: fewer distinct
// values), weights = squared standard normals (Fisher-information-like). Each configuration runs `rows`
// rows per method, `reps` times interleaved, and reports the median repetition as CPU-seconds per 1e6
// weights; the 7B column extrapolates to LLaMA-7B's 32 layers x (q, k, v, o, gate, up: 38400 rows of 4096
// inputs; down: 4096 rows of 11008), 6.48e9 weights. Objectives are checked equal (relative 1e-12).
//
//   bench_kmeans [--rows N] [--reps R] [--fp16]
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/half.h"
#include "kernels/cpu/isa.h"
#include "quant/algo/kmeans1d.h"
#include "quant/kmeans1d_reference.h"

namespace {

using sqz::quant::Codebook;

double thread_cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

struct Rows {
  int64_t n = 0, count = 0;
  std::vector<float> x, w;
};

Rows make_rows(int64_t n, int64_t count, bool fp16, uint64_t seed) {
  Rows r{n, count, std::vector<float>((size_t)(n * count)), std::vector<float>((size_t)(n * count))};
  std::mt19937_64 g(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (auto& v : r.x) v = fp16 ? sqz::round_fp16(0.02f * d(g)) : 0.02f * d(g);
  for (auto& v : r.w) {
    const float a = d(g);
    v = a * a;
  }
  return r;
}

struct Method {
  std::string name;
  Codebook (*solve)(const float*, const float*, int64_t, int);
  std::optional<sqz::kernels::Isa> isa;  // pinned for the shipping solver
};

// CPU seconds of one pass over the rows; the objectives go to obj.
double run(const Method& m, const Rows& r, int k, std::vector<double>& obj) {
  std::optional<sqz::kernels::IsaScope> scope;
  if (m.isa) scope.emplace(*m.isa);
  obj.resize((size_t)r.count);
  const double t0 = thread_cpu_seconds();
  for (int64_t i = 0; i < r.count; ++i)
    obj[(size_t)i] = m.solve(r.x.data() + i * r.n, r.w.data() + i * r.n, r.n, k).objective;
  return thread_cpu_seconds() - t0;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int64_t rows = 200;
  int reps = 5;
  bool fp16 = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--rows") && i + 1 < argc) rows = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--fp16")) fp16 = true;
    else {
      std::fprintf(stderr, "usage: bench_kmeans [--rows N] [--reps R] [--fp16]\n");
      return 2;
    }
  }
  std::vector<Method> methods = {{"previous (D&C)", sqz::quant::reference::kmeans1d_exact_dc, std::nullopt}};
  for (sqz::kernels::Isa isa : sqz::kernels::supported_isas())
    methods.push_back({std::string("new, ") + sqz::kernels::isa_name(isa), sqz::quant::kmeans1d_exact, isa});

  constexpr double kRows4096 = 32.0 * (4 * 4096 + 2 * 11008), kRows11008 = 32.0 * 4096;
  std::printf("values %s, %lld rows per configuration, median of %d interleaved repetitions, one thread\n",
              fp16 ? "fp16-rounded N(0, 0.02^2)" : "N(0, 0.02^2)", (long long)rows, reps);
  std::printf("%-16s %3s %-16s %12s %12s %9s %12s\n", "row", "k", "method", "us/row", "s/1e6 w", "speedup",
              "max rel diff");
  for (int k : {8, 16}) {
    std::vector<double> per_weight(methods.size(), 0.0), seven_b(methods.size(), 0.0);
    for (int64_t n : {4096, 11008}) {
      const Rows r = make_rows(n, n == 4096 ? rows : std::max<int64_t>(1, rows * 4096 / 11008), fp16, 1000 + n + k);
      std::vector<std::vector<double>> times(methods.size());
      std::vector<std::vector<double>> obj(methods.size());
      for (int rep = 0; rep < reps; ++rep)
        for (size_t m = 0; m < methods.size(); ++m) times[m].push_back(run(methods[m], r, k, obj[m]));
      const double base = median(times[0]);
      for (size_t m = 0; m < methods.size(); ++m) {
        double diff = 0;
        for (size_t i = 0; i < obj[m].size(); ++i)
          diff = std::max(diff, std::fabs(obj[m][i] - obj[0][i]) / std::max(obj[0][i], 1e-300));
        const double t = median(times[m]);
        std::printf("%-16s %3d %-16s %12.1f %12.3f %8.2fx %12.1e\n", (std::to_string(n) + " values").c_str(), k,
                    methods[m].name.c_str(), 1e6 * t / (double)r.count, 1e6 * t / (double)(r.count * n), base / t,
                    diff);
        seven_b[m] += (n == 4096 ? kRows4096 : kRows11008) * t / (double)r.count;
      }
    }
    for (size_t m = 0; m < methods.size(); ++m)
      std::printf("LLaMA-7B, k = %2d, %-16s: %8.0f CPU-seconds of k-means\n", k, methods[m].name.c_str(), seven_b[m]);
  }
  return 0;
}

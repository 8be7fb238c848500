// Matrix-vector kernels at real shapes, with weights that do not fit in cache: every benchmark rotates
// over enough copies of its matrix to read >= 256 MiB, so each iteration streams from DRAM as single-batch
// decoding does. Reported bytes/s count the bytes each kernel reads (packed indices, tables, scales).
// Copy bandwidth, fp32 and fp16 GEMV run in the same process, so every figure is also a ratio.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <cstring>
#include <random>
#include <vector>

#include "core/half.h"
#include "core/threads.h"
#include "kernels/cpu/dense.h"
#include "kernels/cpu/formats.h"

using namespace sqz;
using namespace sqz::kernels;

namespace {

constexpr size_t kRotateBytes = size_t{256} << 20;

size_t copies_for(size_t bytes) { return std::max<size_t>(2, (kRotateBytes + bytes - 1) / bytes); }

template <typename T>
std::vector<T> filled(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::vector<T> v(n);
  for (auto& x : v) x = (T)(g() & 0xFFFF);
  return v;
}

void BM_Memcpy(benchmark::State& st) {
  std::vector<char> a(kRotateBytes, 1), b(kRotateBytes);
  for (auto _ : st) {
    std::memcpy(b.data(), a.data(), a.size());
    benchmark::DoNotOptimize(b.data());
  }
  st.SetBytesProcessed((int64_t)st.iterations() * (int64_t)kRotateBytes * 2);  // read + write
}

void BM_GemvF32(benchmark::State& st) {
  const int64_t rows = st.range(0), cols = st.range(1);
  const size_t bytes = (size_t)(rows * cols) * 4, nc = copies_for(bytes);
  std::vector<float> w((size_t)(rows * cols) * nc, 0.01f), x((size_t)cols, 1.f), y((size_t)rows);
  size_t i = 0;
  for (auto _ : st) {
    gemm_f32(w.data() + (i++ % nc) * rows * cols, rows, cols, x.data(), 1, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  st.SetBytesProcessed((int64_t)st.iterations() * (int64_t)bytes);
}

void BM_GemvF16(benchmark::State& st) {
  const int64_t rows = st.range(0), cols = st.range(1);
  const size_t bytes = (size_t)(rows * cols) * 2, nc = copies_for(bytes);
  std::vector<uint16_t> w((size_t)(rows * cols) * nc, f32_to_fp16(0.01f));
  std::vector<float> x((size_t)cols, 1.f), y((size_t)rows);
  size_t i = 0;
  for (auto _ : st) {
    gemv_f16(w.data() + (i++ % nc) * rows * cols, rows, cols, x.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  st.SetBytesProcessed((int64_t)st.iterations() * (int64_t)bytes);
}

// SqueezeLLM LUT GEMV; range(2) = bits, range(3) = sparse entries per 10000 weights (45 = 0.45%).
void BM_GemvLut(benchmark::State& st) {
  const int64_t rows = st.range(0), cols = st.range(1);
  const int bits = (int)st.range(2);
  const int64_t words = packed_words_per_row(bits, cols);
  const int64_t nnz_per_row = cols * st.range(3) / 10000;
  const size_t bytes = (size_t)(rows * words) * 4 + (size_t)(rows << bits) * 2 + (size_t)(rows + 1) * 4 +
                       (size_t)(rows * nnz_per_row) * 6;
  const size_t nc = copies_for(bytes);
  auto packed = filled<uint32_t>((size_t)(rows * words) * nc, 1);
  std::vector<uint16_t> lut((size_t)(rows << bits) * nc, f32_to_fp16(0.01f));
  std::vector<int32_t> row_ptr((size_t)rows + 1), col((size_t)(rows * nnz_per_row));
  std::vector<uint16_t> val(col.size(), f32_to_fp16(0.5f));
  for (int64_t r = 0; r <= rows; ++r) row_ptr[(size_t)r] = (int32_t)(r * nnz_per_row);
  for (size_t k = 0; k < col.size(); ++k) col[k] = (int32_t)((k * 37) % (size_t)cols);
  std::vector<float> x((size_t)cols, 1.f), y((size_t)rows);
  CsrMatrix s{rows, cols, row_ptr.data(), col.data(), val.data()};
  size_t i = 0;
  for (auto _ : st) {
    const size_t k = i++ % nc;
    LutMatrix m{bits, rows, cols, packed.data() + k * rows * words, lut.data() + k * (rows << bits)};
    lut_gemv(m, nnz_per_row ? &s : nullptr, x.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  st.SetBytesProcessed((int64_t)st.iterations() * (int64_t)bytes);
}

void BM_GemvGroup(benchmark::State& st) {
  const int64_t rows = st.range(0), cols = st.range(1), group = 128;
  const int bits = (int)st.range(2);
  const int64_t words = packed_words_per_row(bits, cols), ng = (cols + group - 1) / group;
  const size_t bytes = (size_t)(rows * words) * 4 + (size_t)(rows * ng) * 4, nc = copies_for(bytes);
  auto packed = filled<uint32_t>((size_t)(rows * words) * nc, 2);
  std::vector<uint16_t> sc((size_t)(rows * ng), f32_to_fp16(0.01f)), z((size_t)(rows * ng), f32_to_fp16(2.f));
  std::vector<float> x((size_t)cols, 1.f), y((size_t)rows);
  size_t i = 0;
  for (auto _ : st) {
    GroupMatrix m{bits, rows, cols, group, packed.data() + (i++ % nc) * rows * words, sc.data(), z.data(), nullptr};
    group_gemv(m, x.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  st.SetBytesProcessed((int64_t)st.iterations() * (int64_t)bytes);
}

void BM_GemvW8A8(benchmark::State& st) {
  const int64_t rows = st.range(0), cols = st.range(1);
  const size_t bytes = (size_t)(rows * cols) + (size_t)rows * 4, nc = copies_for(bytes);
  std::vector<int8_t> q((size_t)(rows * cols) * nc, 3);
  std::vector<float> ws((size_t)rows, 0.01f), x((size_t)cols, 1.f), y((size_t)rows);
  size_t i = 0;
  for (auto _ : st) {
    Int8Matrix m{rows, cols, q.data() + (i++ % nc) * rows * cols, ws.data()};
    w8a8_gemm(m, x.data(), 1, ActQuant::PerToken, 0.f, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  st.SetBytesProcessed((int64_t)st.iterations() * (int64_t)bytes);
}

void shapes(benchmark::internal::Benchmark* b) {
  for (auto [r, c] : std::vector<std::pair<int, int>>{{4096, 4096}, {11008, 4096}, {4096, 11008}, {768, 256}, {256, 768}})
    b->Args({r, c});
}
void lut_shapes(benchmark::internal::Benchmark* b) {
  for (auto [r, c] : std::vector<std::pair<int, int>>{{4096, 4096}, {11008, 4096}, {4096, 11008}, {768, 256}, {256, 768}})
    for (int bits : {3, 4})
      for (int sp : {0, 45}) b->Args({r, c, bits, sp});
}
void group_shapes(benchmark::internal::Benchmark* b) {
  for (auto [r, c] : std::vector<std::pair<int, int>>{{4096, 4096}, {11008, 4096}, {4096, 11008}})
    for (int bits : {3, 4}) b->Args({r, c, bits});
}

}  // namespace

BENCHMARK(BM_Memcpy)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_GemvF32)->Apply(shapes)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_GemvF16)->Apply(shapes)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_GemvLut)->Apply(lut_shapes)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_GemvGroup)->Apply(group_shapes)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_GemvW8A8)->Apply(shapes)->Unit(benchmark::kMicrosecond)->UseRealTime();

int main(int argc, char** argv) {
  set_num_threads(0);  // both cores
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}

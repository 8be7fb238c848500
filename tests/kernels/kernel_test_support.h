// Shared by the kernel tests (kernels_test.cpp, gguf_kernels_test.cpp): the instruction sets they run, the
// batched-path switch, and the tolerance for products.
//
// tested_isas(): every ISA this CPU runs, Scalar first; tests pin each with IsaScope. After the last test,
// test_kernels prints which ISAs ran and which were skipped on this CPU (and why), so a log shows whether
// the SIMD paths were tested.
//
// Tolerance of products: the SIMD kernels add the same fp32 products as the reference in a different
// order (lane-wise partial sums, several accumulators, FMA), and many-token products go through OpenBLAS
// sgemm. Reordering an fp32 sum of n terms changes it by at most ~n * 2^-24 * sum |w x| and in practice by
// ~sqrt(n) * 2^-24 * sum |w x| (random rounding errors); with n <= ~1100 columns here that is ~2e-6 of
// sum |w x|. So results are compared with a tolerance of 1e-5 * sum_c |w_c x_c| per output, measured
// relative to that sum rather than to |y| (which can cancel to ~0). A wrong index, table, scale, tail lane
// or row partition changes an output by a sizeable fraction of sum |w x|, far above this bound.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cpu/isa.h"
#include "kernels/cpu/tuning.h"

namespace sqz::kernels::test {

std::vector<Isa> tested_isas();

constexpr double kRelTol = 1e-5;

// sum_c |W[r, c] X[t, c]| for each token t and row r (the scale of the tolerance), layout [t * rows + r].
inline std::vector<double> abs_products(const std::vector<float>& W, int64_t rows, int64_t cols, const std::vector<float>& X,
                                        int64_t n) {
  std::vector<double> s((size_t)(n * rows), 0.0);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c)
        s[(size_t)(t * rows + r)] += std::fabs((double)W[(size_t)(r * cols + c)] * X[(size_t)(t * cols + c)]);
  return s;
}

inline void expect_close(const std::vector<float>& got, const std::vector<float>& want, const std::vector<double>& scale,
                         const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < got.size() && bad < 5; ++i) {
    const double tol = kRelTol * scale[i] + 1e-30;
    if (!(std::fabs((double)got[i] - want[i]) <= tol)) {
      ADD_FAILURE() << what << ": output " << i << " got " << got[i] << " want " << want[i] << " (tol " << tol << ")";
      ++bad;
    }
  }
}

inline std::string label(Isa isa, const std::string& rest) { return std::string(isa_name(isa)) + " " + rest; }

// Both batched paths, whatever the active ISA's default crossover: the row kernels for every n, and
// dequantized tiles + sgemm for every n > 1.
struct BatchedPath {
  const char* name;
  int64_t row_kernel_max_tokens;
};
constexpr BatchedPath kBatchedPaths[] = {{"row kernels", INT64_MAX}, {"tiles+sgemm", 1}};
class BatchedPathScope {
 public:
  explicit BatchedPathScope(const BatchedPath& p) : saved_(kernel_tuning().row_kernel_max_tokens) {
    kernel_tuning().row_kernel_max_tokens = p.row_kernel_max_tokens;
  }
  ~BatchedPathScope() { kernel_tuning().row_kernel_max_tokens = saved_; }
  BatchedPathScope(const BatchedPathScope&) = delete;
  BatchedPathScope& operator=(const BatchedPathScope&) = delete;

 private:
  int64_t saved_;
};

}  // namespace sqz::kernels::test

// SqueezeLLM dense-and-sparse decomposition of one weight matrix W[rows x cols]: W = D + S, where S holds
// a small fraction of entries exactly (fp16, CSR) and D (everything else) is quantized with a per-row
// codebook. Two kinds of entries go to S (paper: 0.45% total = 0.40% outliers + 0.05% sensitive):
//   * outliers: the largest |W| over the whole matrix (SqueezeLLM picks a per-layer magnitude threshold
//     from a percentile); they would otherwise stretch the codebook range;
//   * sensitive: among the remaining entries, the largest sensitivity F (Fisher information), whose
//     quantization error is costliest.
//
// Counts are exact: total = llround(sparsity / 100 * numel) (half away from zero; sparsity is a percent,
// as on the command line and in the paper);
// n_sensitive = F ? llround(sensitive_share * total) : 0 (without a sensitivity the whole budget goes to
// outliers); n_outliers = total - n_sensitive. Selection is a strict total order: larger key first, equal
// keys broken by the lower flat index r * cols + c, so a percentile threshold shared by many equal values
// never yields more or fewer than the requested count. Selection is a radix select over the float bits
// (O(numel), no copy of the matrix).
#pragma once
#include <cstdint>
#include <vector>

namespace sqz::quant {

struct DenseSparseOptions {
  double sparsity = 0.45;                   // percent of the entries kept in S
  double sensitive_share = 0.05 / 0.45;     // fraction of the S budget chosen by sensitivity
};

struct SparseSplit {
  int64_t rows = 0, cols = 0;
  int64_t n_outliers = 0, n_sensitive = 0;
  float outlier_threshold = 0;        // smallest |W| among the outliers (+inf when there are none)
  std::vector<int64_t> positions;     // flat indices r * cols + c of S, ascending (= CSR order)
  std::vector<uint8_t> is_sensitive;  // parallel to positions: 1 chosen by F, 0 magnitude outlier
  // CSR of S: row_ptr[rows + 1], col_idx ascending within each row, values = f32_to_fp16(W) (fp16 bits).
  // These values make D + S = W with D = W with the S positions zeroed. A quantizer whose dense part is
  // non-zero at S positions must store the residual instead (squeezellm_quantize returns it).
  std::vector<int32_t> row_ptr, col_idx;
  std::vector<uint16_t> values;

  int64_t nnz() const { return (int64_t)positions.size(); }
  std::vector<uint8_t> mask() const;  // rows * cols, 1 at S positions
};

// F may be nullptr (magnitude outliers only). Throws Error on non-finite W or F, a sparsity outside
// [0, 100] or a sensitive_share outside [0, 1].
SparseSplit dense_sparse_split(const float* W, const float* F, int64_t rows, int64_t cols,
                               const DenseSparseOptions& opt = {});

}  // namespace sqz::quant

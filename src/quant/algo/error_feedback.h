// GPTQ's error-feedback loop (Frantar et al. 2022, Algorithm 1), independent of the quantization grid, so
// GPTQ (uniform grid) and SqueezeLLM-with-error-feedback (per-row codebook) share it.
//
// Columns are quantized left to right. With U the upper Cholesky factor of H^{-1} (U^T U = H^{-1}), the
// optimal update of the not-yet-quantized columns after quantizing column i (OBS, restricted to the
// remaining columns) is
//     e = (w_i - q_i) / U_ii,    W[:, j] -= e * U_ij   for j > i,
// and the proxy loss it accumulates is sum_i (w_i - q_i)^2 / U_ii^2 / 2.
// Rows are independent (H is shared), so every row is processed by one thread in column order.
//
// Lazy batch updates: columns are processed in blocks of `block` (128); inside a block the update is
// applied only to the block's own columns, and the block's errors E [rows x B] are applied to all later
// columns at once, W[:, i2:] -= E U[i1:i2, i2:] (one dgemm). This is the same arithmetic as the
// column-by-column loop, reassociated.
//
// Groups: a quantizer with per-group parameters sees begin_group() at every column c with c % group == 0,
// with the row's *current* (error-updated) values of that group, as GPTQ computes them. To make those
// values truly current, block boundaries are aligned to groups: for group < block the block is the largest
// multiple of group <= block (a group never straddles a block, so all its columns are up to date in place);
// for group >= block every group starts a new block (all lazy updates have been applied at a block start).
// This differs from the reference gptq.py only where that code reads stale values (group < 128 not dividing
// 128); results equal the unblocked loop up to rounding.
#pragma once
#include <cstdint>

namespace sqz::quant {

// Called for one row from one thread, columns in increasing order; different rows run concurrently, so an
// implementation may only write per-row state.
class ColumnQuantizer {
 public:
  virtual ~ColumnQuantizer() = default;
  // A group [c0, c0 + n) starts; w points at the row's current values of those n columns.
  virtual void begin_group(int64_t row, int64_t c0, const double* w, int64_t n) {}
  // Quantizes the current value w of (row, col); returns the value the quantized model will compute with.
  virtual double quantize(int64_t row, int64_t col, double w) = 0;
};

// W [rows x cols] (row-major, double): in: the weights; out: the quantized values. U: [cols x cols] upper
// triangular, U^T U = H^{-1} (only the upper triangle is read). group: columns per group (<= 0 or >= cols:
// one group per row). Returns the GPTQ proxy loss.
double error_feedback_quantize(double* W, int64_t rows, int64_t cols, const double* U, int64_t group,
                               ColumnQuantizer& q, int64_t block = 128);

}  // namespace sqz::quant

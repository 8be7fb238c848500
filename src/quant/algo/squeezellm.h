// SqueezeLLM (Kim et al., "SqueezeLLM: Dense-and-Sparse Quantization", 2023) for one matrix W[rows x cols]:
// sensitivity-weighted non-uniform quantization with one codebook (LUT) of 2^bits values per output row.
//
// Per row r:
//   * the dense positions (not in the optional SparseSplit S) are clustered by weighted 1-D k-means
//     (kmeans1d.h: exact by default, Lloyd/k-means++ as in the reference), weights F[r, c] (Fisher
//     information; all ones when F is nullptr), minimising sum_c F (w - c)^2. Sparse positions are left
//     out of the clustering (equivalent to weight 0): S stores them, so they must not pull centroids;
//   * the centroids are rounded to fp16 (the LUT is stored as fp16; round_fp16 is monotone, so it stays
//     ascending), and every position, dense or sparse, gets the index of the nearest fp16 entry;
//   * at sparse positions the kernel computes lut[idx] + S, so S must hold the residual w - lut[idx]
//     rather than w: sparse_values = f32_to_fp16(w - lut[idx]) in the split's CSR order (use these in place
//     of SparseSplit::values). Taking the nearest entry keeps the residual small, so its fp16 rounding is
//     finer than that of w itself.
// Lloyd seeds are seed + row, so results do not depend on the thread count.
//
// Error-feedback variant (GPTQ-style, SqueezeLLM + OBS compensation): codebooks as above from the original
// weights first; then columns left to right (error_feedback.h, lazy 128-column blocks) each current value is
// mapped to its row's nearest LUT entry and the error (w - q) / U_ii is propagated to the later columns
// through U (upper Cholesky factor of the dampened inverse Hessian, gptq.h hessian_inverse). At a sparse
// position the reconstruction is lut[idx] + fp16(w_current - lut[idx]), i.e. (almost) exact, so the
// compensation there is only the fp16 residual's rounding. No act-order in this variant.
#pragma once
#include <cstdint>
#include <vector>

#include "quant/algo/dense_sparse.h"

namespace sqz::quant {

enum class KMeansMethod { Exact, Lloyd };

struct SqueezeLlmOptions {
  int bits = 3;  // LUT of 2^bits entries, 1..8
  KMeansMethod method = KMeansMethod::Exact;
  uint64_t seed = 0;
  int max_iter = 100;
};

struct SqueezeLlmResult {
  int bits = 3;
  int64_t rows = 0, cols = 0;
  std::vector<float> lut;                // rows * 2^bits, ascending per row, fp16-representable
  std::vector<uint8_t> idx;              // rows * cols
  std::vector<uint16_t> sparse_values;   // fp16 residuals at the split's CSR positions (empty without split)
  double kmeans_objective = 0;  // sum of the rows' Codebook::objective (fp32 centroids, dense positions)
  double weighted_error = 0;    // sum over dense positions of F (w - lut[idx])^2 (F = 1 when absent),
                                // w = the original weight (also in the error-feedback variant)
  double mse = 0;               // mean over dense positions of (w - lut[idx])^2
  int64_t n_dense = 0;
  double ef_loss = 0;           // error-feedback variant: GPTQ proxy loss; 0 otherwise

  float dense_value(int64_t r, int64_t c) const { return lut[(r << bits) + idx[r * cols + c]]; }
  // W_hat = lut[idx] everywhere, plus the fp16 residual at the positions of `split` (the split the result
  // was computed with, or nullptr).
  std::vector<float> dequantize(const SparseSplit* split) const;
};

// F (nullable) and split (nullable) have W's shape.
SqueezeLlmResult squeezellm_quantize(const float* W, const float* F, int64_t rows, int64_t cols,
                                     const SparseSplit* split, const SqueezeLlmOptions& opt = {});

// U: [cols x cols] upper, U^T U = (H + damp I)^{-1} (HessianInverse::U from gptq.h, no permutation).
SqueezeLlmResult squeezellm_quantize_ef(const float* W, const float* F, int64_t rows, int64_t cols,
                                        const SparseSplit* split, const double* U,
                                        const SqueezeLlmOptions& opt = {}, int64_t block = 128);

}  // namespace sqz::quant

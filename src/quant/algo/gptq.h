// GPTQ (Frantar et al., "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained
// Transformers", 2022) for one linear layer W[rows x cols], following the reference gptq.py:
//
//  1. H = 2 X X^T / n_samples [cols x cols] from calibration inputs (computed by the caller; the scale of
//     H does not matter). Dead inputs (H_ii == 0: the input channel was always 0) get H_ii = 1 and their
//     weight column is set to 0 (it never contributes to the output).
//  2. act_order: columns are processed in order of decreasing H_ii (most-activated input first; ties by
//     index, stable), W and H permuted accordingly; the result is unpermuted and g_idx records each
//     column's group (groups are consecutive in the processing order).
//  3. Dampening: H += percdamp * mean(diag H) * I (diag after the dead fix).
//  4. U = cholesky(H^{-1}) upper (linalg.h). If H is not positive definite even after dampening, an Error
//     says so (raise percdamp or use more calibration data).
//  5. Error feedback column by column with lazy 128-column batches (error_feedback.h), each column rounded
//     to the uniform grid of uniform.h; a group's (scale, zero) are computed when its first column comes
//     up, from the current, error-updated weights of the group (per-channel: from the whole row at the
//     start). GPTQ's quantizer includes 0 in [min, max], so options default to include_zero = true.
// Everything runs in double (W copy, H/U), so the result matches the unblocked loop to ~1e-12 and rounding
// decisions do not flip with the blocking.
#pragma once
#include <cstdint>
#include <vector>

#include "quant/algo/uniform.h"

namespace sqz::quant {

struct GptqOptions {
  UniformOptions quant{.bits = 4, .group = 128, .clip_search = false, .include_zero = true};
  double percdamp = 0.01;
  bool act_order = false;
  int64_t block = 128;  // lazy-batch width
};

// Prepared inverse Hessian for error feedback: U upper [n x n], U^T U = (H' + damp I)^{-1}, where H' is
// H with dead diagonals set to 1, permuted by perm when given (H'[i][j] = H[perm[i]][perm[j]]).
struct HessianInverse {
  int64_t n = 0;
  std::vector<double> U;
  std::vector<uint8_t> dead;  // n, original (unpermuted) column order
  double damp = 0;            // the value added to the diagonal
};
HessianInverse hessian_inverse(const double* H, int64_t n, double percdamp, const int64_t* perm = nullptr);
HessianInverse hessian_inverse(const float* H, int64_t n, double percdamp, const int64_t* perm = nullptr);

// act-order permutation: column indices by decreasing H_ii (dead columns count as H_ii = 1), stable.
std::vector<int64_t> act_order_perm(const double* H, int64_t n);
std::vector<int64_t> act_order_perm(const float* H, int64_t n);

struct GptqResult {
  GroupQuant q;              // codes in original column order; g_idx filled when act_order
  double loss = 0;           // GPTQ proxy loss sum (w - q)^2 / Hinv_ii^2 / 2
  int64_t dead_columns = 0;
  double damp = 0;
  std::vector<int64_t> perm; // act_order processing order (empty otherwise)
};

// H: [cols x cols], symmetric (read fully). Throws Error if H is not positive definite after dampening.
GptqResult gptq_quantize(const float* W, int64_t rows, int64_t cols, const double* H, const GptqOptions& opt = {});
GptqResult gptq_quantize(const float* W, int64_t rows, int64_t cols, const float* H, const GptqOptions& opt = {});

}  // namespace sqz::quant

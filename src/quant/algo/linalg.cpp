#include "quant/algo/linalg.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace sqz::quant {

namespace {

constexpr int64_t kBlock = 128;  // diagonal block size: large enough for level-3 BLAS to dominate

// Unblocked Cholesky of the nb x nb diagonal block at A[k, k] (leading dimension n), lower triangle.
void chol_block(double* A, int64_t n, int64_t k, int64_t nb, const char* what) {
  for (int64_t j = 0; j < nb; ++j) {
    double* rj = A + (k + j) * n + k;
    double d = rj[j];
    for (int64_t p = 0; p < j; ++p) d -= rj[p] * rj[p];
    if (!(d > 0) || !std::isfinite(d))
      fail("{}: not positive definite (pivot {} at column {}); more dampening or calibration data needed",
           what, d, k + j);
    const double ljj = std::sqrt(d);
    rj[j] = ljj;
    for (int64_t i = j + 1; i < nb; ++i) {
      double* ri = A + (k + i) * n + k;
      double s = ri[j];
      for (int64_t p = 0; p < j; ++p) s -= ri[p] * rj[p];
      ri[j] = s / ljj;
    }
  }
}

// In-place inverse of the nb x nb lower-triangular diagonal block at A[k, k].
void inv_lower_block(double* A, int64_t n, int64_t k, int64_t nb) {
  std::vector<double> L(nb * nb), X(nb * nb, 0.0);
  for (int64_t i = 0; i < nb; ++i)
    for (int64_t j = 0; j <= i; ++j) L[i * nb + j] = A[(k + i) * n + k + j];
  // Forward substitution, column by column of X = L^{-1}.
  for (int64_t j = 0; j < nb; ++j) {
    X[j * nb + j] = 1.0 / L[j * nb + j];
    for (int64_t i = j + 1; i < nb; ++i) {
      double s = 0;
      for (int64_t p = j; p < i; ++p) s += L[i * nb + p] * X[p * nb + j];
      X[i * nb + j] = -s / L[i * nb + i];
    }
  }
  for (int64_t i = 0; i < nb; ++i)
    for (int64_t j = 0; j <= i; ++j) A[(k + i) * n + k + j] = X[i * nb + j];
}

}  // namespace

void cholesky_lower_inplace(double* A, int64_t n, const char* what) {
  // Right-looking blocked Cholesky: factor the diagonal block, solve the panel below it against L_kk^T,
  // subtract the panel's outer product from the trailing matrix (dsyrk, lower triangle only).
  for (int64_t k = 0; k < n; k += kBlock) {
    const int64_t nb = std::min(kBlock, n - k);
    chol_block(A, n, k, nb, what);
    const int64_t m = n - k - nb;
    if (m == 0) break;
    double* panel = A + (k + nb) * n + k;
    cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, (int)m, (int)nb, 1.0,
                A + k * n + k, (int)n, panel, (int)n);
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, (int)m, (int)nb, -1.0, panel, (int)n, 1.0,
                A + (k + nb) * n + k + nb, (int)n);
  }
}

void invert_lower_inplace(double* A, int64_t n) {
  // LAPACK dtrtri order (lower): walk block columns from the last; the trailing block L22 is already
  // inverted, so the new off-diagonal block is -L22^{-1} L21 L11^{-1} (dtrmm, then dtrsm against L11).
  const int64_t last = ((n - 1) / kBlock) * kBlock;
  for (int64_t j = last; j >= 0; j -= kBlock) {
    const int64_t jb = std::min(kBlock, n - j);
    const int64_t m = n - j - jb;
    if (m > 0) {
      double* b = A + (j + jb) * n + j;
      cblas_dtrmm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, (int)m, (int)jb, 1.0,
                  A + (j + jb) * n + j + jb, (int)n, b, (int)n);
      cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, (int)m, (int)jb, -1.0,
                  A + j * n + j, (int)n, b, (int)n);
    }
    inv_lower_block(A, n, j, jb);
  }
}

void inverse_cholesky_upper_inplace(double* A, int64_t n, const char* what) {
  if (n <= 0) return;
  // Reversing the flat row-major array maps A[i][j] to A[n-1-i][n-1-j], i.e. A -> J A J.
  std::reverse(A, A + n * n);
  cholesky_lower_inplace(A, n, what);
  for (int64_t i = 0; i < n; ++i) std::fill(A + i * n + i + 1, A + (i + 1) * n, 0.0);
  invert_lower_inplace(A, n);
  std::reverse(A, A + n * n);  // J L^{-1} J: upper triangular
}

}  // namespace sqz::quant

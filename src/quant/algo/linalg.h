// Dense symmetric-positive-definite linear algebra that GPTQ-style error feedback needs, in double,
// row-major, in place. Blocked so the O(n^3) work runs in OpenBLAS level-3 calls (dtrsm/dsyrk/dtrmm/dgemm);
// only the small diagonal blocks use scalar loops. Sized for Hessians up to ~11008 x 11008 (~1 GB).
#pragma once
#include <cstdint>

namespace sqz::quant {

// A = L L^T: overwrites the lower triangle of the SPD matrix A[n x n] with L (upper triangle is left
// untouched and never read). Throws Error naming `what` if a pivot is <= 0 or not finite (A not
// positive definite).
void cholesky_lower_inplace(double* A, int64_t n, const char* what = "matrix");

// Overwrites the lower-triangular L (lower triangle of A, non-unit diagonal) with L^{-1}.
void invert_lower_inplace(double* A, int64_t n);

// On entry A is SPD; on exit A holds the upper-triangular U with U^T U = A^{-1} (the Cholesky factor of the
// inverse, what GPTQ calls Hinv; the strict lower triangle is zeroed). Computed as GPTQ's
// chol(cholesky_inverse(chol(H)), upper) but with two O(n^3/3) passes instead of four: with J the
// reversal permutation, J A J = L L^T gives A = (J L J)(J L J)^T = Ut Ut^T with Ut = J L J upper, so
// A^{-1} = Ut^{-T} Ut^{-1} and U = Ut^{-1} = J L^{-1} J is upper with positive diagonal, hence it is the
// (unique) Cholesky factor of A^{-1}. Throws Error naming `what` if A is not positive definite.
void inverse_cholesky_upper_inplace(double* A, int64_t n, const char* what = "matrix");

}  // namespace sqz::quant

#include "quant/algo/fold.h"

namespace sqz::quant {

void scale_columns(float* W, int64_t rows, int64_t cols, const float* s) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) W[r * cols + c] *= s[c];
}

void divide_vector(float* v, int64_t n, const float* s) {
  for (int64_t c = 0; c < n; ++c) v[c] /= s[c];
}

void divide_rows(float* P, int64_t rows, int64_t cols, const float* s) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) P[r * cols + c] /= s[r];
}

}  // namespace sqz::quant

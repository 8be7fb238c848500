// Per-input-channel rescaling that leaves a network's function unchanged (AWQ, SmoothQuant): for a linear
// y = W x whose input x comes from a previous op P, with any s > 0 per input channel
//     y = (W diag(s)) (diag(1/s) x),
// so W is replaced by W diag(s) and 1/s is folded into P: an RMSNorm/LayerNorm weight (and bias) is
// divided by s, or the rows of a previous linear (x = P z) are divided by s.
#pragma once
#include <cstdint>

namespace sqz::quant {

// One linear of a group that shares an input (q/k/v, or gate/up): W[rows x cols].
struct LinearRef {
  const float* W = nullptr;
  int64_t rows = 0;
  bool clip = true;  // AWQ: run auto_clip on this linear (AWQ skips q and k, whose errors softmax amplifies)
};

void scale_columns(float* W, int64_t rows, int64_t cols, const float* s);   // W[r, c] *= s[c]
void divide_vector(float* v, int64_t n, const float* s);                     // v[c] /= s[c] (norm weight/bias)
void divide_rows(float* P, int64_t rows, int64_t cols, const float* s);      // P[r, :] /= s[r] (previous linear)

}  // namespace sqz::quant

// The LLaMA forward pass's element-wise and attention operations, on fp32 row-major buffers. Each has a
// naive reference in tests/model/ops_test.cpp.
#pragma once
#include <cstdint>

#include "io/config.h"

namespace sqz {

// out[t] = x[t] / rms(x[t]) * weight, for n rows of dim.
void rmsnorm(const float* x, const float* weight, int64_t n, int64_t dim, float eps, float* out);

// Rotates q or k in place: x holds n tokens of n_heads heads of head_dim, token t at position pos0 + t.
// RotateHalf pairs (i, i + head_dim/2) (HF); Interleaved pairs (2i, 2i+1) (llama2.c, GGUF). Angles
// pos * theta^(-2i/head_dim) are computed in double so long positions stay exact in fp32.
void rope(float* x, int64_t n, int64_t n_heads, int64_t head_dim, int64_t pos0, float theta, RopeLayout layout);

// Causal grouped-query attention. q: [n, n_heads*head_dim] for tokens at positions pos0..pos0+n-1;
// k_cache/v_cache: [pos0+n, n_kv_heads*head_dim] holding every position so far; out: [n, n_heads*head_dim].
// Head h reads kv head h / (n_heads / n_kv_heads).
void attention(const float* q, const float* k_cache, const float* v_cache, int64_t n, int64_t pos0,
               int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, float* out);

// out = silu(gate) * up, element-wise over n values.
void swiglu(const float* gate, const float* up, int64_t n, float* out);

// In place over one row: softmax(x).
void softmax(float* x, int64_t n);

// log(sum(exp(x))) in double, and the NLL of `target`: logsumexp(x) - x[target].
double log_sum_exp(const float* x, int64_t n);

}  // namespace sqz

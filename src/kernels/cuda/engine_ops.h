// Internal: launchers of the LLaMA engine's device operations (llama_ops.cu), CUDA-free for the host code.
// Each returns the cudaError_t of its launch (0: none).
#pragma once
#include <cstdint>

struct CUstream_st;

namespace sqz::kernels::cuda::detail {

int launch_embed(const int* tokens, int64_t n, const float* E, int64_t dim, float* x, CUstream_st* s, bool pdl);
// out[t, :dim] = fp16(x[t] / rms(x[t]) * w) for n rows of x (stride dim); out has stride ldo.
int launch_rmsnorm(const float* x, const float* w, int64_t n, int64_t dim, float eps, uint16_t* out, int64_t ldo,
                   CUstream_st* s, bool pdl);
// Rotates q [n, n_heads * hd] in place and k_new [n, n_kv * hd] into the cache rows *pos_dev + t of kc; copies
// v_new into vc (caches [max_len, n_kv * hd] fp32).
int launch_rope_append(float* q, const float* k_new, const float* v_new, const int* pos_dev, int64_t n, int64_t n_heads,
                       int64_t n_kv, int64_t hd, const float* freq, bool interleaved, float* kc, float* vc,
                       CUstream_st* s, bool pdl);
// out[t, h * hd ..] (fp16, stride ldo) = causal attention of q token t (position *pos_dev + t) over the cache.
int launch_attention(const float* q, const float* kc, const float* vc, const int* pos_dev, int64_t n, int64_t n_heads,
                     int64_t n_kv, int64_t hd, uint16_t* out, int64_t ldo, CUstream_st* s, bool pdl);
// *token = argmax(logits); hist[*pos_dev] = *token (hist may be null); ++*pos_dev.
int launch_argmax(const float* logits, int64_t vocab, int* token, int* pos_dev, int* hist, CUstream_st* s, bool pdl);

}  // namespace sqz::kernels::cuda::detail

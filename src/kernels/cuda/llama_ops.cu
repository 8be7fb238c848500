// The LLaMA engine's device operations besides the products (llama_engine.cpp drives them): embedding rows,
// RMSNorm to fp16, RoPE (both pairings) with the KV-cache append, causal grouped-query attention over the
// cache, and greedy argmax. Positions are read from device memory, so one captured decode step replays
// at every position. Each follows its CPU version in model/ops.cpp (fp32 arithmetic; RoPE angles and the
// RMSNorm sum in double).
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/engine_ops.h"

namespace sqz::kernels::cuda::detail {
namespace {

__global__ void embed_kernel(const int* tokens, const float* E, int64_t dim, float* x) {
  pdl_wait();
  const int64_t t = blockIdx.x;
  const float* row = E + (int64_t)tokens[t] * dim;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) x[t * dim + i] = row[i];
}

__global__ void rmsnorm_kernel(const float* x, const float* w, int64_t dim, float eps, uint16_t* out, int64_t ldo) {
  __shared__ double sh[32];
  pdl_wait();
  pdl_trigger();
  const int64_t t = blockIdx.x;
  const float* xt = x + t * dim;
  double ss = 0.0;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) ss += (double)xt[i] * xt[i];
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (lane == 0) sh[warp] = ss;
  __syncthreads();
  double tot = 0.0;
  for (int i = 0; i < (int)(blockDim.x >> 5); ++i) tot += sh[i];
  const float inv = (float)(1.0 / sqrt(tot / (double)dim + (double)eps));
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) out[t * ldo + i] = f_to_h(xt[i] * inv * w[i]);
}

// Block per token: the angles pos * freq[i] (freq as HF computes it, in fp32; the product in double),
// then every q and k head rotated; k and v appended to the cache at their positions.
__global__ void rope_append_kernel(float* q, const float* k_new, const float* v_new, const int* pos_dev, int64_t n_heads,
                                   int64_t n_kv, int64_t hd, const float* freq, int interleaved, float* kc, float* vc) {
  extern __shared__ float cs[];  // [hd/2] cos, then [hd/2] sin
  pdl_wait();
  pdl_trigger();
  const int64_t t = blockIdx.x, half = hd / 2;
  const int64_t pos = (int64_t)*pos_dev + t;
  float* sn = cs + half;
  for (int64_t i = threadIdx.x; i < half; i += blockDim.x) {
    const double ang = (double)pos * (double)freq[i];
    cs[i] = (float)cos(ang);
    sn[i] = (float)sin(ang);
  }
  __syncthreads();
  const int64_t qd = n_heads * hd, kvd = n_kv * hd;
  for (int64_t w = threadIdx.x; w < (n_heads + n_kv) * half; w += blockDim.x) {
    const int64_t h = w / half, i = w % half;
    const int64_t a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + half;
    if (h < n_heads) {
      float* v = q + t * qd + h * hd;
      const float x0 = v[a], x1 = v[b];
      v[a] = x0 * cs[i] - x1 * sn[i];
      v[b] = x0 * sn[i] + x1 * cs[i];
    } else {
      const float* v = k_new + t * kvd + (h - n_heads) * hd;
      float* o = kc + pos * kvd + (h - n_heads) * hd;
      const float x0 = v[a], x1 = v[b];
      o[a] = x0 * cs[i] - x1 * sn[i];
      o[b] = x0 * sn[i] + x1 * cs[i];
    }
  }
  for (int64_t i = threadIdx.x; i < kvd; i += blockDim.x) vc[pos * kvd + i] = v_new[t * kvd + i];
}

constexpr int kAttnWarps = 16;
constexpr int kMaxHeadDim = 256;
constexpr int kKeysPerIter = 4;

// Block (h, t): token t (position pos0 + t) against keys 0..pos0 + t of kv head h / group, online softmax
// per warp over its share of the keys, then the warps' partial results combined. A warp takes 4
// consecutive keys at a time and loads all their k and v rows before using any (decode is latency-bound:
// one head's keys are a few kilobytes), and 16 warps share a head.
__global__ void __launch_bounds__(kAttnWarps * 32) attention_kernel(const float* q, const float* kc, const float* vc,
                                                                    const int* pos_dev, int64_t n_heads, int64_t n_kv,
                                                                    int64_t hd, float scale, uint16_t* out, int64_t ldo) {
  constexpr int ND = kMaxHeadDim / 32;
  __shared__ float s_m[kAttnWarps], s_l[kAttnWarps];
  __shared__ float s_acc[kAttnWarps][kMaxHeadDim];
  pdl_wait();
  pdl_trigger();
  const int64_t h = blockIdx.x, t = blockIdx.y;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t len = (int64_t)*pos_dev + t + 1;
  const int64_t kvd = n_kv * hd, kvh = h / (n_heads / n_kv);
  const float* qt = q + t * n_heads * hd + h * hd;
  float qr[ND], acc[ND];
#pragma unroll
  for (int i = 0; i < ND; ++i) {
    const int64_t d = lane + 32 * i;
    qr[i] = d < hd ? qt[d] : 0.f;
    acc[i] = 0.f;
  }
  float m = -INFINITY, l = 0.f;
  for (int64_t j0 = (int64_t)warp * kKeysPerIter; j0 < len; j0 += kAttnWarps * kKeysPerIter) {
    float kr[kKeysPerIter][ND], vr[kKeysPerIter][ND];
#pragma unroll
    for (int u = 0; u < kKeysPerIter; ++u) {
      const int64_t j = j0 + u;
      const float* kj = kc + j * kvd + kvh * hd;
      const float* vj = vc + j * kvd + kvh * hd;
#pragma unroll
      for (int i = 0; i < ND; ++i) {
        const int64_t d = lane + 32 * i;
        const bool ok = j < len && d < hd;
        kr[u][i] = ok ? kj[d] : 0.f;
        vr[u][i] = ok ? vj[d] : 0.f;
      }
    }
#pragma unroll
    for (int u = 0; u < kKeysPerIter; ++u) {
      if (j0 + u >= len) break;  // the same for every lane
      float s = 0.f;
#pragma unroll
      for (int i = 0; i < ND; ++i) s += qr[i] * kr[u][i];
      s = warp_sum(s) * scale;
      const float mn = fmaxf(m, s);
      const float corr = expf(m - mn), p = expf(s - mn);
      l = l * corr + p;
#pragma unroll
      for (int i = 0; i < ND; ++i) acc[i] = acc[i] * corr + p * vr[u][i];
      m = mn;
    }
  }
  if (lane == 0) s_m[warp] = m, s_l[warp] = l;
#pragma unroll
  for (int i = 0; i < ND; ++i) {
    const int64_t d = lane + 32 * i;
    if (d < hd) s_acc[warp][d] = acc[i];
  }
  __syncthreads();
  float M = -INFINITY;
  for (int w = 0; w < kAttnWarps; ++w) M = fmaxf(M, s_m[w]);
  float L = 0.f;
  for (int w = 0; w < kAttnWarps; ++w)
    if (s_l[w] > 0.f) L += s_l[w] * expf(s_m[w] - M);
  const float invL = 1.f / L;
  for (int64_t d = threadIdx.x; d < hd; d += blockDim.x) {
    float o = 0.f;
    for (int w = 0; w < kAttnWarps; ++w)
      if (s_l[w] > 0.f) o += s_acc[w][d] * expf(s_m[w] - M);
    out[t * ldo + h * hd + d] = f_to_h(o * invL);
  }
}

// The first index of the largest value (std::max_element's choice); appends it to hist[pos] and moves pos.
__global__ void argmax_kernel(const float* logits, int64_t vocab, int* token, int* pos_dev, int* hist) {
  __shared__ float sv[32];
  __shared__ int si[32];
  pdl_wait();
  float best = -INFINITY;
  int bi = 0x7fffffff;
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float v = logits[i];
    if (v > best || (v == best && i < bi)) best = v, bi = (int)i;
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, best, o);
    const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (ov > best || (ov == best && oi < bi)) best = ov, bi = oi;
  }
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (lane == 0) sv[warp] = best, si[warp] = bi;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < (int)(blockDim.x >> 5); ++w)
      if (sv[w] > best || (sv[w] == best && si[w] < bi)) best = sv[w], bi = si[w];
    const int p = *pos_dev;
    if (hist) hist[p] = bi;
    *token = bi;
    *pos_dev = p + 1;
  }
}

}  // namespace

int launch_embed(const int* tokens, int64_t n, const float* E, int64_t dim, float* x, CUstream_st* s, bool pdl) {
  return launch(embed_kernel, dim3((unsigned)n), dim3(256), 0, s, pdl, tokens, E, dim, x);
}

int launch_rmsnorm(const float* x, const float* w, int64_t n, int64_t dim, float eps, uint16_t* out, int64_t ldo,
                   CUstream_st* s, bool pdl) {
  return launch(rmsnorm_kernel, dim3((unsigned)n), dim3(256), 0, s, pdl, x, w, dim, eps, out, ldo);
}

int launch_rope_append(float* q, const float* k_new, const float* v_new, const int* pos_dev, int64_t n, int64_t n_heads,
                       int64_t n_kv, int64_t hd, const float* freq, bool interleaved, float* kc, float* vc,
                       CUstream_st* s, bool pdl) {
  return launch(rope_append_kernel, dim3((unsigned)n), dim3(256), (size_t)hd * 4, s, pdl, q, k_new, v_new, pos_dev,
                n_heads, n_kv, hd, freq, interleaved ? 1 : 0, kc, vc);
}

int launch_attention(const float* q, const float* kc, const float* vc, const int* pos_dev, int64_t n, int64_t n_heads,
                     int64_t n_kv, int64_t hd, uint16_t* out, int64_t ldo, CUstream_st* s, bool pdl) {
  if (hd > kMaxHeadDim || hd < 1 || n_kv < 1 || n_heads % n_kv != 0) return (int)cudaErrorInvalidValue;
  const float scale = 1.0f / sqrtf((float)hd);
  return launch(attention_kernel, dim3((unsigned)n_heads, (unsigned)n), dim3(kAttnWarps * 32), 0, s, pdl, q, kc, vc,
                pos_dev, n_heads, n_kv, hd, scale, out, ldo);
}

int launch_argmax(const float* logits, int64_t vocab, int* token, int* pos_dev, int* hist, CUstream_st* s, bool pdl) {
  return launch(argmax_kernel, dim3(1), dim3(1024), 0, s, pdl, logits, vocab, token, pos_dev, hist);
}

}  // namespace sqz::kernels::cuda::detail

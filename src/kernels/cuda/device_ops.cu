// Small device operations around the products: W8A8 activation quantization and its int8-GEMM epilogue,
// bias and SwiGLU for the cuBLAS paths, fp32 -> fp16 rows, and reproducible random fills (benchmark models).
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/device_args.h"

namespace sqz::kernels::cuda::detail {
namespace {

__device__ __forceinline__ float load_f(const float* p) { return *p; }
__device__ __forceinline__ float load_f(const uint16_t* p) { return h_to_f(*p); }

__device__ float block_max(float v, float* sh) {
  v = warp_max(v);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  float r = 0.f;
  for (int i = 0; i < nw; ++i) r = fmaxf(r, sh[i]);
  return r;
}

// As quantize_activations (kernels/cpu/formats.cpp): s = absmax / 127 (1 for zeros), q = clamp(rint(x / s)).
template <typename T>
__global__ void quantize_act_kernel(const T* x, int64_t ldx, int64_t n, int64_t cols, int mode, float static_scale,
                                    int8_t* q, int64_t ldq, float* scales) {
  __shared__ float sh[32];
  pdl_wait();
  const int64_t t = blockIdx.x;
  float m = 0.f;
  const int64_t t0 = mode == 1 ? 0 : t, t1 = mode == 1 ? n : t + 1;
  if (mode != 2)
    for (int64_t u = t0; u < t1; ++u)
      for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, fabsf(load_f(x + u * ldx + c)));
  m = block_max(m, sh);
  const float s = mode == 2 ? static_scale : (m > 0.f ? m / 127.f : 1.f);
  const float inv = 1.f / s;
  for (int64_t c = threadIdx.x; c < ldq; c += blockDim.x) {
    int8_t v = 0;
    if (c < cols) v = (int8_t)fminf(fmaxf(rintf(load_f(x + t * ldx + c) * inv), -127.f), 127.f);
    q[t * ldq + c] = v;
  }
  if (threadIdx.x == 0) scales[t] = s;
}

__global__ void w8a8_epilogue_kernel(const int32_t* C, int64_t n, const __grid_constant__ GemvArgs a) {
  const MatArgs& m = a.m[0];
  const float* ws = static_cast<const float*>(m.t[1]);
  const int64_t total = n * m.rows;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t t = i / m.rows, r = i % m.rows;
    float f = (float)C[i] * a.xs[t] * ws[r];
    if (m.bias) f += m.bias[r];
    float* yp = m.y + t * m.ldy + r;
    *yp = a.epi == kAccumulate ? *yp + f : f;
  }
}

__global__ void bias_kernel(float* y, int64_t ldy, const float* b, int64_t n, int64_t rows) {
  const int64_t total = n * rows;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x)
    y[(i / rows) * ldy + i % rows] += b[i % rows];
}

__global__ void swiglu_kernel(const float* g, const float* u, int64_t ld, const float* bg, const float* bu, int64_t n,
                              int64_t rows, uint16_t* out, int64_t ldo) {
  pdl_wait();
  const int64_t total = n * rows;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t t = i / rows, r = i % rows;
    const float gv = g[t * ld + r] + (bg ? bg[r] : 0.f), uv = u[t * ld + r] + (bu ? bu[r] : 0.f);
    out[t * ldo + r] = f_to_h(gv / (1.0f + expf(-gv)) * uv);
  }
}

__global__ void f32_to_f16_kernel(const float* x, int64_t ldx, int64_t n, int64_t cols, uint16_t* out, int64_t ldo) {
  const int64_t total = n * ldo;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t t = i / ldo, c = i % ldo;
    out[i] = c < cols ? f_to_h(x[t * ldx + c]) : (uint16_t)0;
  }
}

// splitmix64: reproducible, position-independent random bits.
__device__ __forceinline__ uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
__device__ __forceinline__ float unit_float(uint64_t bits) { return (float)(bits >> 40) * (1.0f / 16777216.0f); }

__global__ void fill_u32_kernel(uint32_t* p, size_t n, uint64_t seed) {
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
    p[i] = (uint32_t)mix64(seed * 0x100000001B3ull + i);
}
__global__ void fill_f16_kernel(uint16_t* p, size_t n, float lo, float hi, uint64_t seed) {
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
    p[i] = f_to_h(lo + (hi - lo) * unit_float(mix64(seed * 0x100000001B3ull + i)));
}
__global__ void fill_f32_kernel(float* p, size_t n, float lo, float hi, uint64_t seed) {
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
    p[i] = lo + (hi - lo) * unit_float(mix64(seed * 0x100000001B3ull + i));
}
__global__ void fill_i8_kernel(int8_t* p, size_t n, uint64_t seed) {
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
    p[i] = (int8_t)((int)(mix64(seed * 0x100000001B3ull + i) % 255u) - 127);
}
__global__ void fill_const_f16_kernel(uint16_t* p, size_t n, float v) {
  const uint16_t h = f_to_h(v);
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) p[i] = h;
}
__global__ void fill_csr_kernel(int32_t* row_ptr, int32_t* col, uint16_t* val, int64_t rows, int64_t cols,
                                int64_t per_row, uint64_t seed) {
  const int64_t total = rows * per_row;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t r = i / per_row, k = i % per_row;
    // Distinct columns per row: k-th of per_row evenly spaced slots, jittered inside its slot.
    const int64_t slot = cols / per_row;
    col[i] = (int32_t)(k * slot + (int64_t)(mix64(seed + 2 * i) % (uint64_t)(slot > 0 ? slot : 1)));
    val[i] = f_to_h(0.05f * (unit_float(mix64(seed + 2 * i + 1)) - 0.5f));
    if (k == 0) row_ptr[r] = (int32_t)(r * per_row);
    if (i == total - 1) row_ptr[rows] = (int32_t)total;
  }
}

unsigned grid_for(size_t n) {
  const size_t b = (n + 255) / 256;
  return (unsigned)(b < 4096 ? (b < 1 ? 1 : b) : 4096);
}

}  // namespace

int launch_quantize_act(const void* x, bool x_is_f32, int64_t ldx, int64_t n, int64_t cols, int mode,
                        float static_scale, int8_t* q, int64_t ldq, float* scales, CUstream_st* s, bool pdl) {
  if (x_is_f32)
    return launch(quantize_act_kernel<float>, dim3((unsigned)n), dim3(256), 0, s, pdl, static_cast<const float*>(x), ldx,
                  n, cols, mode, static_scale, q, ldq, scales);
  return launch(quantize_act_kernel<uint16_t>, dim3((unsigned)n), dim3(256), 0, s, pdl, static_cast<const uint16_t*>(x),
                ldx, n, cols, mode, static_scale, q, ldq, scales);
}

int launch_w8a8_epilogue(const int32_t* C, int64_t n, const GemvArgs& a, CUstream_st* s) {
  w8a8_epilogue_kernel<<<grid_for((size_t)(n * a.m[0].rows)), 256, 0, s>>>(C, n, a);
  return (int)cudaGetLastError();
}

int launch_bias_epilogue(float* y, int64_t ldy, const float* bias, int64_t n, int64_t rows, CUstream_st* s) {
  bias_kernel<<<grid_for((size_t)(n * rows)), 256, 0, s>>>(y, ldy, bias, n, rows);
  return (int)cudaGetLastError();
}

int launch_swiglu_f32(const float* g, const float* u, int64_t ld, const float* bg, const float* bu, int64_t n,
                      int64_t rows, uint16_t* out, int64_t ldo, CUstream_st* s, bool pdl) {
  return launch(swiglu_kernel, dim3(grid_for((size_t)(n * rows))), dim3(256), 0, s, pdl, g, u, ld, bg, bu, n, rows, out,
                ldo);
}

int launch_f32_to_f16_rows(const float* x, int64_t ldx, int64_t n, int64_t cols, uint16_t* out, int64_t ldo,
                           CUstream_st* s) {
  f32_to_f16_kernel<<<grid_for((size_t)(n * ldo)), 256, 0, s>>>(x, ldx, n, cols, out, ldo);
  return (int)cudaGetLastError();
}

int launch_fill_u32(uint32_t* p, size_t n, uint64_t seed, CUstream_st* s) {
  fill_u32_kernel<<<grid_for(n), 256, 0, s>>>(p, n, seed);
  return (int)cudaGetLastError();
}
int launch_fill_f16(uint16_t* p, size_t n, float lo, float hi, uint64_t seed, CUstream_st* s) {
  fill_f16_kernel<<<grid_for(n), 256, 0, s>>>(p, n, lo, hi, seed);
  return (int)cudaGetLastError();
}
int launch_fill_f32(float* p, size_t n, float lo, float hi, uint64_t seed, CUstream_st* s) {
  fill_f32_kernel<<<grid_for(n), 256, 0, s>>>(p, n, lo, hi, seed);
  return (int)cudaGetLastError();
}
int launch_fill_i8(int8_t* p, size_t n, uint64_t seed, CUstream_st* s) {
  fill_i8_kernel<<<grid_for(n), 256, 0, s>>>(p, n, seed);
  return (int)cudaGetLastError();
}
int launch_fill_const_f16(uint16_t* p, size_t n, float v, CUstream_st* s) {
  fill_const_f16_kernel<<<grid_for(n), 256, 0, s>>>(p, n, v);
  return (int)cudaGetLastError();
}
int launch_fill_csr(int32_t* row_ptr, int32_t* col, uint16_t* val, int64_t rows, int64_t cols, int64_t per_row,
                    uint64_t seed, CUstream_st* s) {
  fill_csr_kernel<<<grid_for((size_t)(rows * per_row)), 256, 0, s>>>(row_ptr, col, val, rows, cols, per_row, seed);
  return (int)cudaGetLastError();
}

}  // namespace sqz::kernels::cuda::detail

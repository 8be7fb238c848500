// Internal: the plain arguments of the CUDA kernels, shared by the host code (g++) and the .cu files
// (nvcc), which therefore include no sqz header beyond this one. Pointers are device pointers.
#pragma once
#include <cstdint>

struct CUstream_st;

namespace sqz::kernels::cuda::detail {

constexpr int kMaxMats = 3;

// One matrix of a product: a packed format's tensors in the row's schema order.
struct MatArgs {
  const void* t[6];
  int64_t rows, cols;
  int64_t row_words;  // stored 32-bit words per row (packed indices), or bytes per row (int8 weights)
  int bits;
  int64_t group;     // group format: columns per group (cols when one group per row); NF4: block size
  int64_t n_groups;  // group format: groups per row
  const int32_t* csr_row_ptr;  // nullptr: no sparse part
  const int32_t* csr_col;
  const uint16_t* csr_val;
  const float* bias;  // nullptr: none
  float* y;           // Store / Accumulate output [n, ldy]
  int64_t ldy;
};

enum EpilogueKind : int { kStore = 0, kAccumulate = 1, kSwiGLU = 2 };

// A fused product: rows of matrices 0..nmat-1 in groups of 8 (row_group_begin[i] = first group of matrix
// i); SwiGLU: nmat = 2, both matrices' rows in one group, gate then up.
struct GemvArgs {
  MatArgs m[kMaxMats];
  int nmat;
  int64_t row_group_begin[kMaxMats + 1];
  int epi;
  const void* x;     // fp16 [n, ldx] (int8 [n, ldx] for W8A8)
  const float* xs;   // W8A8: one activation scale per token
  int64_t ldx;
  int n;             // tokens, 1..16
  uint16_t* out_h;   // SwiGLU output, fp16 [n, ldo]
  int64_t ldo;
  int vec;           // every row starts 16-byte aligned (16-byte weight loads)
  int copies;        // LUT pair-table copies per row (1, 2 or 4)
};

// Launchers (fused_gemv.cu, w8a8.cu, device_ops.cu): each returns the cudaError_t of its launch (0: none)
// for the host code to report; grids come from the kernels' occupancy.
// Copies the kernels' constant tables (the NF4 codebook) to the device; once, before any capture.
int init_device_constants();
int launch_lut_gemv(const GemvArgs& a, CUstream_st* s, bool pdl);
int launch_group_gemv(const GemvArgs& a, bool per_column_groups, CUstream_st* s, bool pdl);
int launch_nf4_gemv(const GemvArgs& a, bool per_column_blocks, CUstream_st* s, bool pdl);
int launch_w8a8_gemv(const GemvArgs& a, CUstream_st* s, bool pdl);

// Dequantize rows of one matrix to fp16 [rows, cols] (ld = cols), then add its CSR part.
enum DequantKind : int { kDqLut = 0, kDqGroup, kDqGroupPerColumn, kDqNf4, kDqNf4PerColumn, kDqW8a8 };
int launch_dequant(const MatArgs& m, int kind, uint16_t* out, CUstream_st* s);

// W8A8 activations: X (fp16 or fp32 rows, stride ldx) to int8 [n, ldq] (zero tail up to ldq) and one scale
// per token; mode 0 per token, 1 per tensor (dynamic), 2 per tensor with static_scale.
int launch_quantize_act(const void* x, bool x_is_f32, int64_t ldx, int64_t n, int64_t cols, int mode,
                         float static_scale, int8_t* q, int64_t ldq, float* scales, CUstream_st* s, bool pdl);
// Y (epilogue) from int32 results C [n, rows] (cuBLAS int8 GEMM): y = (float)C * xs[t] * wscale[r] (+ b).
int launch_w8a8_epilogue(const int32_t* C, int64_t n, const GemvArgs& a, CUstream_st* s);

// Element-wise helpers for the cuBLAS paths.
int launch_bias_epilogue(float* y, int64_t ldy, const float* bias, int64_t n, int64_t rows, CUstream_st* s);
int launch_swiglu_f32(const float* g, const float* u, int64_t ld, const float* bg, const float* bu, int64_t n,
                       int64_t rows, uint16_t* out, int64_t ldo, CUstream_st* s, bool pdl);
int launch_f32_to_f16_rows(const float* x, int64_t ldx, int64_t n, int64_t cols, uint16_t* out, int64_t ldo,
                            CUstream_st* s);
int launch_fill_u32(uint32_t* p, size_t n, uint64_t seed, CUstream_st* s);
int launch_fill_f16(uint16_t* p, size_t n, float lo, float hi, uint64_t seed, CUstream_st* s);
int launch_fill_f32(float* p, size_t n, float lo, float hi, uint64_t seed, CUstream_st* s);
int launch_fill_i8(int8_t* p, size_t n, uint64_t seed, CUstream_st* s);
int launch_fill_const_f16(uint16_t* p, size_t n, float v, CUstream_st* s);
int launch_fill_csr(int32_t* row_ptr, int32_t* col, uint16_t* val, int64_t rows, int64_t cols, int64_t per_row,
                     uint64_t seed, CUstream_st* s);

}  // namespace sqz::kernels::cuda::detail

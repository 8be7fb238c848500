// sqz's own packed weight formats as typed views (the arguments of their kernels), the index packing they
// share and typed entry points for benchmarks and tests. Each format's one description is its row of the
// format table (kernels/format.h, rows in formats.cpp); the entry points here run through that row.
// Pure compute on packed buffers: no model knowledge.
//
// Index packing (shared by the LUT and uniform-group formats): each row of `cols` b-bit indices is packed
// on its own into packed_words_per_row(bits, cols) little-endian uint32 words; the tail of the last word
// or group is zero. Layout per bit width is specified in docs/format.md (3-bit packs 32 indices into 3
// words, wasting no bits).
#pragma once
#include <cstdint>
#include <string_view>

namespace sqz::kernels {

// Version of the index layout, stored as quantization_config.index_packing. 2: 3-bit blocks are a bit
// stream (1, before it: a 2+1 bit-plane split, no longer read).
constexpr int kIndexPacking = 2;

int64_t packed_words_per_row(int bits, int64_t cols);
void pack_row(int bits, const uint8_t* idx, int64_t cols, uint32_t* out);    // scalar reference
void unpack_row(int bits, const uint32_t* in, int64_t cols, uint8_t* idx);  // scalar reference

// Sparse part of dense-and-sparse weights: CSR with fp16 values. row_ptr has rows+1 entries.
struct CsrMatrix {
  int64_t rows = 0, cols = 0;
  const int32_t* row_ptr = nullptr;
  const int32_t* col_idx = nullptr;
  const uint16_t* values = nullptr;  // fp16
  int64_t nnz() const { return rows ? row_ptr[rows] : 0; }
};

// SqueezeLLM: per-row codebook. Row r's weight c is lut[r * 2^bits + idx(r, c)] (fp16 LUT).
struct LutMatrix {
  int bits = 3;
  int64_t rows = 0, cols = 0;
  const uint32_t* packed = nullptr;  // rows * packed_words_per_row(bits, cols)
  const uint16_t* lut = nullptr;     // rows * 2^bits, fp16
};

// y = W x (+ S x when sparse != nullptr). Multi-threaded over rows; the sparse part balanced by nnz.
void lut_gemv(const LutMatrix& w, const CsrMatrix* sparse, const float* x, float* y);
void lut_gemv_ref(const LutMatrix& w, const CsrMatrix* sparse, const float* x, float* y);
// Y[n, rows] = X[n, cols] W^T (+ sparse), for prefill/perplexity.
void lut_gemm(const LutMatrix& w, const CsrMatrix* sparse, const float* X, int64_t n, float* Y);
// Dequantized rows [r0, r1) into out[(r1-r0) * cols] (dense part only).
void lut_dequant_rows(const LutMatrix& w, int64_t r0, int64_t r1, float* out);
// out[r, c] += S[r, c] for rows [r0, r1) (out is the [(r1-r0), cols] block of those rows).
void csr_add_rows(const CsrMatrix& s, int64_t r0, int64_t r1, float* out);

// Uniform asymmetric quantization (RTN, GPTQ, AWQ): w = (q - zero) * scale, per group of `group` input
// columns (group == cols: per output channel). Column c belongs to group g_idx ? g_idx[c] : c / group
// (GPTQ's act-order keeps a g_idx).
struct GroupMatrix {
  int bits = 4;
  int64_t rows = 0, cols = 0, group = 128;
  const uint32_t* packed = nullptr;  // rows * packed_words_per_row(bits, cols)
  const uint16_t* scales = nullptr;  // rows * n_groups, fp16
  const uint16_t* zeros = nullptr;   // rows * n_groups, fp16 (integer zero points, stored as fp16)
  const int32_t* g_idx = nullptr;    // cols, optional
  int64_t n_groups() const;
};
// The uniform grid (the group format's encoding rule): scale = fp16((hi - lo) / (2^b - 1)) raised to at
// least 2^-24, zero = clamp(round(-lo / scale), 0, 2^b - 1); degenerate ranges in quant/algo/uniform.h.
struct GroupGrid {
  float scale = 1;  // fp16-representable, > 0
  float zero = 0;   // integer in [0, 2^b - 1]
};
GroupGrid group_grid(double lo, double hi, int bits, bool include_zero);
uint8_t group_code(double w, const GroupGrid& g, int bits);  // clamp(round(w / scale) + zero, 0, 2^b - 1)
void group_gemv(const GroupMatrix& w, const float* x, float* y);
void group_gemv_ref(const GroupMatrix& w, const float* x, float* y);
void group_gemm(const GroupMatrix& w, const float* X, int64_t n, float* Y);
void group_dequant_rows(const GroupMatrix& w, int64_t r0, int64_t r1, float* out);

// NF4 (QLoRA): 4-bit NormalFloat code per weight, blocks of `block` consecutive weights (row-major over the
// whole matrix) scaled by an fp32 absmax. The table is QLoRA's.
extern const float kNf4Codebook[16];
// The code nearest to a value normalised by its block's absmax: by midpoints in double, ties to the lower.
uint8_t nf4_nearest(float v);
struct Nf4Matrix {
  int64_t rows = 0, cols = 0, block = 64;
  const uint32_t* packed = nullptr;  // rows * packed_words_per_row(4, cols)
  const float* absmax = nullptr;     // ceil(rows * cols / block)
};
void nf4_gemv(const Nf4Matrix& w, const float* x, float* y);
void nf4_gemv_ref(const Nf4Matrix& w, const float* x, float* y);
void nf4_gemm(const Nf4Matrix& w, const float* X, int64_t n, float* Y);
void nf4_dequant_rows(const Nf4Matrix& w, int64_t r0, int64_t r1, float* out);

// W8A8 (SmoothQuant): int8 weights with an fp32 scale per output row; activations quantized to int8 at
// run time, per token (dynamic) or with one given scale (static); int32 accumulation.
struct Int8Matrix {
  int64_t rows = 0, cols = 0;
  const int8_t* q = nullptr;       // rows * cols
  const float* scale = nullptr;    // rows
};
enum class ActQuant { PerToken, PerTensorDynamic, PerTensorStatic };
// Names as stored in quantization_config.act_quant ("per_token", ...).
const char* act_quant_name(ActQuant a);
bool parse_act_quant(std::string_view name, ActQuant& out);
// The weight encoding: per row scale = max |w| / 127 (1 for an all-zero row), q = clamp(round(w / scale),
// -127, 127), round half to even.
void int8_encode_rows(const float* W, int64_t rows, int64_t cols, int8_t* q, float* scale);
// Quantizes X[n, cols] to int8 (symmetric, round-to-nearest, clamp to [-127,127]); writes one scale per
// token (PerToken) or the same scale to every token.
void quantize_activations(const float* X, int64_t n, int64_t cols, ActQuant mode, float static_scale,
                          int8_t* q, float* scales);
void w8a8_gemm(const Int8Matrix& w, const float* X, int64_t n, ActQuant mode, float static_scale, float* Y);
// The same product from already-quantized activations (Xq[n, cols], one scale per token); equal to
// w8a8_gemm_ref bit for bit.
void w8a8_gemm_q(const Int8Matrix& w, const int8_t* Xq, const float* x_scales, int64_t n, float* Y);
// Exact integer reference: int32 dot products of already-quantized activations.
void w8a8_gemm_ref(const Int8Matrix& w, const int8_t* Xq, const float* x_scales, int64_t n, float* Y);

}  // namespace sqz::kernels

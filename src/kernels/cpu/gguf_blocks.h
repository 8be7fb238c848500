// GGUF (ggml) block-quantized tensor types: scalar reference decoders and encoders.
//
// A GGUF tensor of one of these types is a row-major run of fixed-size blocks; each block holds
// `block_weights` consecutive weights of a row (32, or 256 for the k-quant/IQ "super-blocks") in
// `block_bytes` bytes. Layouts, scale encodings and rounding follow ggml's definitions
// (ggml-common.h / ggml-quants.c) and gguf-py; the decoders here reproduce gguf-py's
// gguf.quants.dequantize bit for bit (tests/kernels/gguf_blocks_test.cpp).
//
// This file is the plain, obviously-correct definition the SIMD kernels are tested against: one
// weight at a time, fp32 arithmetic in the format's own order (gguf_blocks.cpp is built without
// floating-point contraction so that a*b+c is never fused into an FMA).
//
// Encoders follow llama.cpp's quantizers (what ggml_quantize_chunk writes into model files for one
// row): without importance, the deterministic reference quantizer (quantize_row_*_ref); with an
// importance vector (per-column weights, e.g. an imatrix' mean squared activations), the
// importance-weighted search. `x` is ONE row of `n` weights (n a multiple of block_weights) and
// `importance` has n entries or is null; the legacy types' weighted search uses statistics of the whole
// row, so a matrix is quantized row by row.
#pragma once
#include <cstdint>
#include <span>
#include <string_view>

namespace sqz::kernels::gguf {

// ggml's GGMLQuantizationType numbers (as stored in a GGUF tensor-info record).
enum GgmlType : uint32_t {
  kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8, kQ8_1 = 9,
  kQ2_K = 10, kQ3_K = 11, kQ4_K = 12, kQ5_K = 13, kQ6_K = 14, kQ8_K = 15,
  kIQ2_XXS = 16, kIQ2_XS = 17, kIQ3_XXS = 18, kIQ1_S = 19, kIQ4_NL = 20, kIQ3_S = 21, kIQ2_S = 22,
  kIQ4_XS = 23, kIQ1_M = 29,
};

using DequantFn = void (*)(const uint8_t* blocks, float* out, int64_t n);
using QuantizeFn = void (*)(const float* x, uint8_t* blocks, int64_t n, const float* importance);

struct BlockType {
  const char* name;       // lowercase, "q4_k"
  const char* ggml_name;  // "Q4_K"
  uint32_t ggml_type;     // GgmlType
  int64_t block_weights;  // weights per block
  int64_t block_bytes;    // bytes per block
  DequantFn dequant;      // n weights (a multiple of block_weights) from n / block_weights blocks
  QuantizeFn quantize;    // null where sqz has no encoder (IQ1/IQ2/IQ3); Q8_0 and Q8_K ignore importance, as ggml does
};

// Every type above, in ggml type order.
std::span<const BlockType> block_types();
// nullptr when unknown. The name matches either spelling ("q4_k" or "Q4_K").
const BlockType* find_block_type(uint32_t ggml_type);
const BlockType* find_block_type(std::string_view name);

// Bytes of n weights of type t (n a multiple of t.block_weights, else an sqz::Error).
int64_t row_bytes(const BlockType& t, int64_t n);


}  // namespace sqz::kernels::gguf

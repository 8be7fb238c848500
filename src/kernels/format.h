// The format table: one row per packed weight format, as ggml's type traits are for its types. A row
// holds everything sqz knows about a format: its name (stored as quantization_config.format), the bit
// widths it allows, its tensor schema (suffix, dtype, shape rule), its size, its scalar reference
// decoder and encoder, its row kernels per instruction set and its section of docs/format.md. The loader
// (model/quantized_linear.cpp), the writers (quant/methods/packing.cpp, SmoothQuant, finetune), GGUF
// reading and writing, `inspect` and every bit-width check read the row; nothing else describes a format.
//
// Adding a format: its row (kernels/cpu/formats.cpp for sqz's own formats, kernels/cpu/gguf_formats.cpp
// for GGUF block types), its kernels (the scalar reference in the row; SIMD ones listed by name in the
// ISA files, see kernels/cpu/ops.h) and its section of docs/format.md.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"
#include "kernels/cpu/formats.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/tuning.h"

namespace sqz::kernels {

struct Format;

// What a matrix's tensors do not say: read from quantization_config (or implied by a GGUF type) and
// checked by the row before any tensor is read.
struct FormatParams {
  int bits = 0;          // index width (0 where the format has one fixed width)
  int64_t group = 0;     // weights per group or block along a row (uniform groups, NF4 blocks); 0: none
  int64_t dq_block = 0;  // NF4 double quantization: absmax values per second-level block
  ActQuant act = ActQuant::PerToken;  // W8A8 activations
};

// One stored tensor of a format. The shape rule gives the expected shape of a rows x cols matrix; a -1
// entry (a length only the data knows, such as a sparse part's entry count) is checked by the row's
// validate().
struct TensorSpec {
  const char* suffix;  // appended to the linear's name, e.g. ".qweight"
  DType dtype;
  bool optional;
  Shape (*shape)(int64_t rows, int64_t cols, const FormatParams& p);
};

constexpr int kMaxFormatTensors = 6;

// A matrix in a packed format: the row, its parameters and its tensors' data in the row's schema order
// (nullptr for an absent optional tensor). Views only, except what the row's prepare() made at load.
struct PackedMatrix {
  const Format* format = nullptr;
  FormatParams p;
  int64_t rows = 0, cols = 0;
  std::array<const void*, kMaxFormatTensors> t{};
  std::array<int64_t, kMaxFormatTensors> numel{};
  std::shared_ptr<const std::vector<float>> owned;  // e.g. expanded double-quantized NF4 scales

  template <typename T>
  const T* at(int i) const { return static_cast<const T*>(t[(size_t)i]); }
};

// Row kernels (single-threaded, rows [r0, r1)): Y[t * ldy + r] = W[r, :] . X[t * cols ..] for t < n, plus
// the sparse row of s when the format carries one (fused) and s is given. dequant writes rows [r0, r1)
// as fp32 to out[(r1 - r0) * cols] (dense part only); every ISA's equals the scalar reference bit for bit.
using RowsFn = void (*)(const PackedMatrix& m, const CsrMatrix* s, int64_t r0, int64_t r1, const float* X, int64_t n,
                        float* Y, int64_t ldy);
using DequantFn = void (*)(const PackedMatrix& m, int64_t r0, int64_t r1, float* out);

struct FormatKernels {
  RowsFn rows = nullptr;
  DequantFn dequant = nullptr;
  // Parameters these kernels handle (nullptr: all the row allows); others run the next lower ISA's.
  bool (*handles)(const FormatParams& p) = nullptr;
  // How the kernels get their weights, which sets the batched-path crossover (kernels/cpu/tuning.h).
  RowDecode (*decode)(const PackedMatrix& m) = nullptr;
};

constexpr uint32_t kNoGgmlType = UINT32_MAX;

struct Format {
  const char* name;     // "lut", "group", "nf4", "q4_k", ...
  const char* summary;  // one line, for `sqz formats` and help text
  const char* doc;      // its section of docs/format.md
  std::vector<int> bits;           // allowed index widths; empty: the format has no width parameter
  std::vector<TensorSpec> tensors;  // at most kMaxFormatTensors
  bool sparse = false;              // may carry a dense-and-sparse CSR part (.sparse_row_ptr, ...)
  bool index_packing = false;       // its indices follow pack_row (whose 3-bit layout is versioned)
  const char* group_key = nullptr;  // quantization_config key of FormatParams::group ("group_size", ...)
  bool quantized_activations = false;  // FormatParams::act applies (stored as "act_quant")
  uint32_t ggml_type = kNoGgmlType;  // the GGUF tensor type this format is, if any
  // "" when the parameters are valid for a rows x cols matrix, else what is wrong (names the values).
  std::string (*check)(const FormatParams& p, int64_t rows, int64_t cols) = nullptr;
  // Stored bytes of the packed tensors (the sparse part is counted by the caller).
  size_t (*bytes)(const FormatParams& p, int64_t rows, int64_t cols) = nullptr;
  // Short name of one matrix's storage, e.g. "lut3", "int4g128", "nf4+dq", "q4_k".
  std::string (*label)(const FormatParams& p) = nullptr;
  // Cross-tensor checks (index ranges, finite values) and load-time preparation; throws Error naming
  // `where` (file and tensor). May be null.
  void (*validate)(PackedMatrix& m, const std::string& where) = nullptr;
  // The reference encoder: W [rows, cols] to the row's tensors, in schema order (absent optional ones
  // empty). `importance` (per weight, nullable) weighs the rounding error where the format searches.
  std::vector<OwnedTensor> (*encode)(const float* W, int64_t rows, int64_t cols, const FormatParams& p,
                                     const float* importance) = nullptr;
  // A whole-matrix product that replaces the row driver (W8A8 quantizes the activations once per call).
  void (*gemm)(const PackedMatrix& m, const float* X, int64_t n, float* Y) = nullptr;
  // [Isa::Scalar] is the reference and always set; the others come from the ISA files' kernel lists.
  std::array<FormatKernels, 3> isa{};

  bool allows_bits(int b) const;
  std::string bits_list() const;  // "2, 3, 4"
  int tensor_index(std::string_view suffix) const;  // -1 when absent
};

std::span<const Format> format_table();
const Format* find_format(std::string_view name);
const Format& format(std::string_view name);  // throws Error listing the known names
const Format* find_ggml_format(uint32_t ggml_type);
std::string format_names();  // "lut, group, nf4, ..."

// Checks params against the row (bit width, group sizes); throws UsageError when `usage` (a command-line
// value) else Error, naming `where` and the valid values.
void check_params(const Format& f, const FormatParams& p, int64_t rows, int64_t cols, const std::string& where,
                  bool usage = false);

// A matrix's parameters as stored in quantization_config: "bits", the row's group_key, "double_quant" with
// "dq_block_size", "act_quant". Reading checks types and values against the row and throws Error naming
// `where` and the key; writing adds the keys to `q`.
FormatParams params_from_json(const Format& f, const nlohmann::json& q, int64_t rows, int64_t cols,
                              const std::string& where);
void params_to_json(const Format& f, const FormatParams& p, nlohmann::json& q);

// The tensors of the sparse (CSR) part any format with sparse = true may carry.
extern const std::array<TensorSpec, 3> kSparseTensors;

// ---- running a packed matrix ----

// Y[n, rows] = X[n, cols] W^T (+ S X): the row kernels of the active ISA over row ranges split across
// threads (a CSR part balanced by its entries), or for more tokens than the format's measured crossover,
// row tiles dequantized to fp32 and multiplied by sgemm.
void packed_gemm(const PackedMatrix& m, const CsrMatrix* s, const float* X, int64_t n, float* Y);
// The same through the scalar reference kernels only, single-threaded.
void packed_gemm_ref(const PackedMatrix& m, const CsrMatrix* s, const float* X, int64_t n, float* Y);
// Rows [r0, r1) of W (+ S when given) as fp32 into out[(r1 - r0) * cols], multi-threaded.
void packed_dequant(const PackedMatrix& m, const CsrMatrix* s, int64_t r0, int64_t r1, float* out);
void packed_dequant_ref(const PackedMatrix& m, int64_t r0, int64_t r1, float* out);
// Bytes one product reads: the packed tensors plus the sparse part.
size_t packed_bytes(const PackedMatrix& m, const CsrMatrix* s);

// The kernels the active ISA (or `isa`) runs for this matrix: the highest ISA at or below it whose
// entry handles the parameters.
const FormatKernels& kernels_for(const PackedMatrix& m);
const FormatKernels& kernels_for(const PackedMatrix& m, Isa isa);

// A tensor of a packed format (TensorView::packed_format set: its logical shape [rows, cols], nbytes the
// stored bytes, e.g. a GGUF Q4_K weight) as a matrix; checks the byte count against the row.
PackedMatrix packed_view(const TensorView& t);
// Rows [r0, r1) of a 2-D tensor of any float dtype or packed format as fp32 (embeddings, tests).
void tensor_rows_to_f32(const TensorView& t, int64_t r0, int64_t r1, float* out);
std::vector<float> tensor_to_f32(const TensorView& t);

}  // namespace sqz::kernels

// The CUDA kernels of the packed formats, the cuBLAS baselines and device memory, for code that does not
// know CUDA: this header includes no CUDA header (a stream is the opaque CUstream_st*, the cuBLAS handle a
// void*). Built only when CMake finds nvcc (SQZ_CUDA=AUTO|ON); the model layer reaches it through
// model/cuda_engine.h, which reports a clear error in a build without it.
//
// Each format's kernels are one entry of cuda_format_kernels(), found by the format-table row's name, as
// the CPU ISA files list theirs (kernels/cpu/ops.h). A product runs
//   - for n <= 16 tokens per pass: one fused kernel per format that decodes the packed weights once for all
//     tokens into fp16 tensor-core fragments (mma.sync, fp32 accumulation), adds the CSR part in the same
//     pass and applies the epilogue (store, accumulate into a residual, or SwiGLU of a gate/up pair);
//   - for more tokens: the packed matrix dequantized to fp16 into a workspace, then cuBLAS (fp32
//     accumulation); W8A8 uses cuBLAS's int8 GEMM (int32 accumulation) where it takes the shape.
// Activations enter as fp16 rows of stride padded_cols(cols) whose tail is zero (the fused kernels read
// whole 512-column steps); outputs are fp32.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/format.h"

struct CUstream_st;

namespace sqz::kernels::cuda {

// Whether a CUDA device can be used here. When not, `why` gets "no CUDA device: <cudaGetErrorString>" (or
// "no CUDA device: cudaGetDeviceCount returned 0").
bool device_available(std::string* why = nullptr);

struct DeviceInfo {
  std::string name;
  int sm_count = 0, cc_major = 0, cc_minor = 0;
  size_t global_mem = 0, l2_bytes = 0;
  int driver_version = 0, runtime_version = 0;
};
DeviceInfo device_info();  // throws Error without a device

// Owned device memory (cudaMalloc); throws Error naming the size and the CUDA error.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& o) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return p_; }
  size_t bytes() const { return n_; }
  explicit operator bool() const { return p_ != nullptr; }
  template <typename T>
  T* as() const { return static_cast<T*>(p_); }

  // Synchronous copies (tests, loading); offsets and sizes in bytes.
  void upload(const void* host, size_t bytes, size_t offset = 0);
  void download(void* host, size_t bytes, size_t offset = 0) const;
  void zero();

 private:
  void* p_ = nullptr;
  size_t n_ = 0;
};

template <typename T>
DeviceBuffer to_device(const std::vector<T>& v) {
  DeviceBuffer b(v.size() * sizeof(T));
  if (!v.empty()) b.upload(v.data(), v.size() * sizeof(T));
  return b;
}

// The fused kernels read activations in whole steps of this many columns.
constexpr int64_t kColPad = 512;
inline int64_t padded_cols(int64_t cols) { return (cols + kColPad - 1) / kColPad * kColPad; }
// Tokens one fused pass decodes the weights for (the mma's 16 rows).
constexpr int64_t kFusedTokens = 16;

// A matrix resident on the device: a packed format's tensors exactly as stored (the row's schema order),
// or dense fp16 (format "f16", t[0] = [rows, cols] fp16); its CSR part and fp32 bias when present.
struct DeviceMatrix {
  std::string format;
  FormatParams p;
  int64_t rows = 0, cols = 0;
  std::array<DeviceBuffer, kMaxFormatTensors> t;
  std::array<int64_t, kMaxFormatTensors> numel{};
  DeviceBuffer csr_row_ptr, csr_col, csr_val;  // int32 [rows + 1], int32 [nnz], fp16 [nnz]
  int64_t nnz = 0;
  DeviceBuffer bias;  // fp32 [rows]
  float act_scale = 0;  // W8A8 per_tensor_static: the calibrated activation scale (also in t[2])

  bool dense() const { return format == "f16"; }
  size_t bytes() const;       // read by one product: tensors, CSR and bias
  std::string label() const;  // "lut3+csr", "int4g128", "f16", ...
};

// Copies a packed matrix (and its CSR part) to the device; throws Error when its format or parameters have
// no CUDA kernel (find_cuda_kernels / handles).
DeviceMatrix upload(const PackedMatrix& m, const CsrMatrix* s);
// Dense weights W [rows, cols] rounded to fp16.
DeviceMatrix upload_f16(const float* W, int64_t rows, int64_t cols);
DeviceMatrix upload_f16_bits(const uint16_t* W, int64_t rows, int64_t cols);
void set_bias(DeviceMatrix& m, const std::vector<float>& bias);  // empty: none

// A CUDA stream with its cuBLAS handle and workspaces. Workspaces grow on demand, except while a graph is
// being captured: reserve() them first.
class Context {
 public:
  Context();
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  CUstream_st* stream() const { return stream_; }
  void* cublas() const { return cublas_; }
  void sync() const;
  // Sizes that the products of these matrices for up to `tokens` tokens need.
  void reserve_for(const DeviceMatrix& m, int64_t tokens);
  // Scratch memory of at least `bytes` (slot 0: dequantized weights; 1: quantized activations; 2: fp32
  // temporaries; 3: int32 results).
  void* workspace(int slot, size_t bytes);

 private:
  CUstream_st* stream_ = nullptr;
  void* cublas_ = nullptr;
  DeviceBuffer cublas_ws_;
  std::array<DeviceBuffer, 4> ws_;
};

// What a product does with its result.
enum class Epilogue {
  Store,       // y = X W^T (+ S X) + b
  Accumulate,  // y += X W^T (+ S X) + b (a residual stream)
  SwiGLU,      // matrices 0 (gate) and 1 (up) of equal rows: out_h = fp16(silu(G) * U)
};

// One product of up to three matrices of one format and parameters sharing the input X.
struct Product {
  std::array<const DeviceMatrix*, 3> m{};
  int nmat = 1;
  const uint16_t* x = nullptr;  // fp16 [n, ldx], ldx >= padded_cols(cols), zero in [cols, ldx)
  int64_t ldx = 0;
  int64_t n = 0;
  // W8A8 only: quantize these fp32 activations [n, ldx32] instead of x (tests compare bit for bit).
  const float* x32 = nullptr;
  int64_t ldx32 = 0;
  std::array<float*, 3> y{};  // Store / Accumulate: fp32 [n, ldy]
  std::array<int64_t, 3> ldy{};
  Epilogue epi = Epilogue::Store;
  uint16_t* out_h = nullptr;  // SwiGLU: fp16 [n, ldo]
  int64_t ldo = 0;
};

// How a product is computed; Auto: fused kernels up to cuda_tuning().fused_max_tokens tokens, else
// dequantize + cuBLAS (fp16 formats) or cuBLAS int8 (W8A8). Dense fp16 always runs through cuBLAS.
enum class Path { Auto, Fused, DequantGemm };
void run(Context& ctx, const Product& p, Path path = Path::Auto);

// The CUDA kernels of one format-table row.
struct CudaFormatKernels {
  // Parameters and shapes these kernels take (nullptr: all the row allows).
  bool (*handles)(const FormatParams& p, int64_t rows, int64_t cols) = nullptr;
  // The fused product, n <= kFusedTokens.
  void (*fused)(Context& ctx, const Product& p) = nullptr;
  // W (+ S) as fp16 [rows, cols] into out (device), for the prefill GEMM.
  void (*dequant_f16)(Context& ctx, const DeviceMatrix& m, uint16_t* out) = nullptr;
  // A whole product for many tokens that replaces dequant + cuBLAS (W8A8: int8 GEMM); may be nullptr.
  void (*gemm)(Context& ctx, const Product& p) = nullptr;
};
struct NamedCudaKernels {
  const char* format;
  CudaFormatKernels kernels;
};
std::span<const NamedCudaKernels> cuda_format_kernels();
const CudaFormatKernels* find_cuda_kernels(std::string_view format);
// Whether upload() takes this matrix (format with CUDA kernels that handle its parameters).
bool cuda_handles(const PackedMatrix& m);

// Knobs the benchmark varies.
struct CudaTuning {
  int lut4_table_copies = 4;     // per-lane copies of the 4-bit LUT pair tables: 4 (no bank conflicts) or 1
  int64_t fused_max_tokens = 64;  // Path::Auto's crossover to dequantize + cuBLAS
  bool pdl = true;                // programmatic dependent launch (kernels overlap the previous one's tail)
};
CudaTuning& cuda_tuning();

// ---- small device operations (tests, benchmarks, the engine) ----

// fp32 [n, cols] (host) to fp16 [n, ldx] (device, zero tail), and back.
void upload_rows_f16(const float* X, int64_t n, int64_t cols, uint16_t* dst, int64_t ldx);
// Fills device memory with reproducible pseudo-random contents (benchmark models without a checkpoint).
void fill_random_u32(void* dst, size_t words, uint64_t seed, CUstream_st* s = nullptr);
void fill_random_f16(void* dst, size_t n, float lo, float hi, uint64_t seed, CUstream_st* s = nullptr);
void fill_random_f32(void* dst, size_t n, float lo, float hi, uint64_t seed, CUstream_st* s = nullptr);
void fill_random_i8(void* dst, size_t n, uint64_t seed, CUstream_st* s = nullptr);
// A CSR part with `per_row` entries in every row at pseudo-random columns (benchmarks).
void fill_random_csr(DeviceMatrix& m, int64_t per_row, uint64_t seed);
void fill_f16(void* dst, size_t n, float v, CUstream_st* s = nullptr);

}  // namespace sqz::kernels::cuda

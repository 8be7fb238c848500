// Host side of the CUDA kernels (cuda_kernels.h): device memory, uploads by the format table's schema, the
// per-format kernel list and the product driver (fused kernels, dequantize + cuBLAS, cuBLAS int8).
#include "kernels/cuda/cuda_kernels.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/half.h"
#include "kernels/cuda/cuda_host.h"
#include "kernels/cuda/device_args.h"

namespace sqz::kernels::cuda {

using namespace detail;

void check_cuda(int err, const char* what) {
  if (err != cudaSuccess) fail("CUDA error in {}: {} ({})", what, cudaGetErrorString((cudaError_t)err), err);
}

void check_cublas(int status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) fail("cuBLAS error in {}: status {}", what, status);
}

bool device_available(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    if (why) *why = fmt::format("no CUDA device: {}", cudaGetErrorString(e));
    cudaGetLastError();
    return false;
  }
  if (n == 0) {
    if (why) *why = "no CUDA device: cudaGetDeviceCount returned 0";
    return false;
  }
  return true;
}

DeviceInfo device_info() {
  std::string why;
  SQZ_CHECK(device_available(&why), "{}", why);
  int dev = 0;
  check_cuda(cudaGetDevice(&dev), "cudaGetDevice");
  cudaDeviceProp p{};
  check_cuda(cudaGetDeviceProperties(&p, dev), "cudaGetDeviceProperties");
  DeviceInfo d;
  d.name = p.name;
  d.sm_count = p.multiProcessorCount;
  d.cc_major = p.major, d.cc_minor = p.minor;
  d.global_mem = p.totalGlobalMem;
  d.l2_bytes = (size_t)p.l2CacheSize;
  cudaDriverGetVersion(&d.driver_version);
  cudaRuntimeGetVersion(&d.runtime_version);
  return d;
}

// ---- device memory ----

DeviceBuffer::DeviceBuffer(size_t bytes) : n_(bytes) {
  if (bytes == 0) return;
  const cudaError_t e = cudaMalloc(&p_, bytes);
  if (e != cudaSuccess) {
    p_ = nullptr;
    fail("cudaMalloc of {} bytes ({:.1f} MiB) failed: {}", bytes, (double)bytes / (1 << 20), cudaGetErrorString(e));
  }
}
DeviceBuffer::~DeviceBuffer() {
  if (p_) cudaFree(p_);
}
DeviceBuffer::DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    if (p_) cudaFree(p_);
    p_ = o.p_, n_ = o.n_;
    o.p_ = nullptr, o.n_ = 0;
  }
  return *this;
}
void DeviceBuffer::upload(const void* host, size_t bytes, size_t offset) {
  SQZ_CHECK(offset + bytes <= n_, "internal: upload of {} bytes at {} into a device buffer of {}", bytes, offset, n_);
  check_cuda(cudaMemcpy(static_cast<char*>(p_) + offset, host, bytes, cudaMemcpyHostToDevice), "cudaMemcpy to device");
}
void DeviceBuffer::download(void* host, size_t bytes, size_t offset) const {
  SQZ_CHECK(offset + bytes <= n_, "internal: download of {} bytes at {} from a device buffer of {}", bytes, offset, n_);
  check_cuda(cudaMemcpy(host, static_cast<const char*>(p_) + offset, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy to host");
}
void DeviceBuffer::zero() {
  if (p_) check_cuda(cudaMemset(p_, 0, n_), "cudaMemset");
}

// ---- matrices ----

size_t DeviceMatrix::bytes() const {
  size_t b = 0;
  for (const DeviceBuffer& x : t) b += x.bytes();
  return b + csr_row_ptr.bytes() + csr_col.bytes() + csr_val.bytes() + bias.bytes();
}

std::string DeviceMatrix::label() const {
  std::string s = dense() ? "f16" : format;
  if (!dense())
    if (const Format* f = find_format(format)) s = f->label(p);
  return nnz ? s + "+csr" : s;
}

namespace {

int64_t tensor_numel(const Format& f, size_t i, const PackedMatrix& m) {
  const Shape s = f.tensors[i].shape(m.rows, m.cols, m.p);
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) return m.numel[i];
    n *= d;
  }
  return n;
}

bool lut_handles(const FormatParams& p, int64_t, int64_t) { return p.bits == 2 || p.bits == 3 || p.bits == 4; }
bool group_handles(const FormatParams& p, int64_t, int64_t) {
  return p.bits == 2 || p.bits == 3 || p.bits == 4 || p.bits == 8;
}
bool nf4_handles(const FormatParams& p, int64_t, int64_t) { return p.group >= 1; }
bool w8a8_handles(const FormatParams&, int64_t, int64_t) { return true; }

int64_t group_size(const DeviceMatrix& m) { return m.p.group > 0 && m.p.group < m.cols ? m.p.group : m.cols; }

}  // namespace

MatArgs mat_args(const DeviceMatrix& m, float* y, int64_t ldy) {
  MatArgs a{};
  for (size_t i = 0; i < 6; ++i) a.t[i] = m.t[i].get();
  a.rows = m.rows, a.cols = m.cols;
  a.bits = m.p.bits;
  if (m.format == "w8a8") {
    a.row_words = m.cols;
  } else if (!m.dense()) {
    a.row_words = packed_words_per_row(m.p.bits, m.cols);
  }
  if (m.format == "group") {
    a.group = group_size(m);
    a.n_groups = (m.cols + a.group - 1) / a.group;
  } else if (m.format == "nf4") {
    a.group = m.p.group;
  }
  if (m.nnz) {
    a.csr_row_ptr = m.csr_row_ptr.as<int32_t>();
    a.csr_col = m.csr_col.as<int32_t>();
    a.csr_val = m.csr_val.as<uint16_t>();
  }
  a.bias = m.bias ? m.bias.as<float>() : nullptr;
  a.y = y, a.ldy = ldy;
  return a;
}

DeviceMatrix upload(const PackedMatrix& m, const CsrMatrix* s) {
  const Format& f = *m.format;
  const CudaFormatKernels* k = find_cuda_kernels(f.name);
  SQZ_CHECK(k, "format {} has no CUDA kernels (CUDA formats: lut, group, nf4, w8a8; dense weights run as fp16)", f.name);
  SQZ_CHECK(!k->handles || k->handles(m.p, m.rows, m.cols), "format {} ({}) has no CUDA kernel for these parameters",
            f.name, f.label(m.p));
  DeviceMatrix d;
  d.format = f.name;
  d.p = m.p;
  d.rows = m.rows, d.cols = m.cols;
  for (size_t i = 0; i < f.tensors.size(); ++i) {
    if (!m.t[i]) continue;
    const int64_t n = tensor_numel(f, i, m);
    const size_t bytes = (size_t)n * dtype_size(f.tensors[i].dtype);
    d.t[i] = DeviceBuffer(bytes);
    d.t[i].upload(m.t[i], bytes);
    d.numel[i] = n;
  }
  if (d.format == "w8a8" && m.p.act == ActQuant::PerTensorStatic && m.t[2]) d.act_scale = *static_cast<const float*>(m.t[2]);
  // NF4 double quantization: the kernels read the absmax the row's validate() expanded at load.
  if (d.format == "nf4" && !m.t[1]) {
    SQZ_CHECK(m.owned && !m.owned->empty(), "NF4 matrix without .absmax or its expansion");
    d.t[1] = to_device(*m.owned);
    d.numel[1] = (int64_t)m.owned->size();
  }
  if (s && s->nnz() > 0) {
    SQZ_CHECK(f.sparse, "format {} carries no sparse part", f.name);
    SQZ_CHECK(s->rows == m.rows && s->cols == m.cols, "sparse part [{}, {}] does not match the matrix [{}, {}]", s->rows,
              s->cols, m.rows, m.cols);
    d.nnz = s->nnz();
    d.csr_row_ptr = DeviceBuffer((size_t)(m.rows + 1) * 4);
    d.csr_row_ptr.upload(s->row_ptr, (size_t)(m.rows + 1) * 4);
    d.csr_col = DeviceBuffer((size_t)d.nnz * 4);
    d.csr_col.upload(s->col_idx, (size_t)d.nnz * 4);
    d.csr_val = DeviceBuffer((size_t)d.nnz * 2);
    d.csr_val.upload(s->values, (size_t)d.nnz * 2);
  }
  return d;
}

DeviceMatrix upload_f16_bits(const uint16_t* W, int64_t rows, int64_t cols) {
  DeviceMatrix d;
  d.format = "f16";
  d.rows = rows, d.cols = cols;
  d.t[0] = DeviceBuffer((size_t)(rows * cols) * 2);
  if (W) d.t[0].upload(W, (size_t)(rows * cols) * 2);
  d.numel[0] = rows * cols;
  return d;
}

DeviceMatrix upload_f16(const float* W, int64_t rows, int64_t cols) {
  std::vector<uint16_t> h((size_t)(rows * cols));
  for (size_t i = 0; i < h.size(); ++i) h[i] = f32_to_fp16(W[i]);
  return upload_f16_bits(h.data(), rows, cols);
}

void set_bias(DeviceMatrix& m, const std::vector<float>& bias) {
  if (bias.empty()) {
    m.bias = DeviceBuffer();
    return;
  }
  SQZ_CHECK((int64_t)bias.size() == m.rows, "bias of {} values for a matrix of {} rows", bias.size(), m.rows);
  m.bias = to_device(bias);
}

// ---- context ----

Context::Context() {
  std::string why;
  SQZ_CHECK(device_available(&why), "{}", why);
  cudaStream_t s = nullptr;
  check_cuda(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
  stream_ = s;
  cublasHandle_t h = nullptr;
  check_cublas(cublasCreate(&h), "cublasCreate");
  cublas_ = h;
  check_cublas(cublasSetStream(h, s), "cublasSetStream");
  // A fixed workspace, so that cuBLAS allocates nothing while a graph is captured.
  cublas_ws_ = DeviceBuffer(size_t{32} << 20);
  check_cublas(cublasSetWorkspace(h, cublas_ws_.get(), cublas_ws_.bytes()), "cublasSetWorkspace");
  check_cuda(init_device_constants(), "constant tables");
}

Context::~Context() {
  if (cublas_) cublasDestroy(static_cast<cublasHandle_t>(cublas_));
  if (stream_) cudaStreamDestroy(stream_);
}

void Context::sync() const { check_cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"); }

void* Context::workspace(int slot, size_t bytes) {
  DeviceBuffer& b = ws_.at((size_t)slot);
  if (b.bytes() < bytes) {
    cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
    cudaStreamIsCapturing(stream_, &st);
    SQZ_CHECK(st == cudaStreamCaptureStatusNone,
              "internal: CUDA workspace {} needs {} bytes while a graph is captured (reserve it first)", slot, bytes);
    sync();
    b = DeviceBuffer(std::max(bytes, b.bytes() * 3 / 2));
  }
  return b.get();
}

namespace {
size_t act_q_bytes(int64_t tokens, int64_t cols) { return (size_t)(tokens * padded_cols(cols)) + 256 + (size_t)tokens * 4; }
}  // namespace

void Context::reserve_for(const DeviceMatrix& m, int64_t tokens) {
  const bool many = tokens > cuda_tuning().fused_max_tokens;
  if (many && !m.dense() && m.format != "w8a8") workspace(0, (size_t)(m.rows * m.cols) * 2);
  if (m.format == "w8a8") workspace(1, act_q_bytes(tokens, m.cols));
  workspace(2, (size_t)(2 * tokens * m.rows) * 4);
  if (many && m.format == "w8a8") workspace(3, (size_t)(tokens * m.rows) * 4);
}

CudaTuning& cuda_tuning() {
  static CudaTuning t;
  return t;
}

// ---- products ----

namespace {

GemvArgs gemv_args(const Product& p) {
  GemvArgs a{};
  a.nmat = p.nmat;
  a.epi = p.epi == Epilogue::Store ? kStore : p.epi == Epilogue::Accumulate ? kAccumulate : kSwiGLU;
  int64_t groups = 0;
  bool vec = true;
  for (int i = 0; i < p.nmat; ++i) {
    const DeviceMatrix& m = *p.m[(size_t)i];
    a.m[i] = mat_args(m, p.y[(size_t)i], p.ldy[(size_t)i]);
    a.row_group_begin[i] = groups;
    groups += (m.rows + 7) / 8;
    const int64_t row_bytes = m.format == "w8a8" ? m.cols : a.m[i].row_words * 4;
    vec = vec && row_bytes % 16 == 0 && reinterpret_cast<uintptr_t>(m.t[0].get()) % 16 == 0;
  }
  a.row_group_begin[p.nmat] = groups;
  a.x = p.x;
  a.ldx = p.ldx;
  a.n = (int)p.n;
  a.out_h = p.out_h;
  a.ldo = p.ldo;
  a.vec = vec ? 1 : 0;
  a.copies = cuda_tuning().lut4_table_copies == 1 ? 1 : 4;
  return a;
}

void lut_fused(Context& ctx, const Product& p) {
  check_cuda(launch_lut_gemv(gemv_args(p), ctx.stream(), cuda_tuning().pdl), "LUT fused product");
}

bool group_per_column(const DeviceMatrix& m) {
  const int64_t g = group_size(m);
  return m.t[3] || !(g % 32 == 0 || g >= m.cols);
}
void group_fused(Context& ctx, const Product& p) {
  check_cuda(launch_group_gemv(gemv_args(p), group_per_column(*p.m[0]), ctx.stream(), cuda_tuning().pdl),
             "group fused product");
}

bool nf4_per_column(const DeviceMatrix& m) { return !(m.p.group % 32 == 0 && m.cols % m.p.group == 0); }
void nf4_fused(Context& ctx, const Product& p) {
  check_cuda(launch_nf4_gemv(gemv_args(p), nf4_per_column(*p.m[0]), ctx.stream(), cuda_tuning().pdl),
             "NF4 fused product");
}

int act_mode(const DeviceMatrix& m) {
  switch (m.p.act) {
    case ActQuant::PerTensorDynamic: return 1;
    case ActQuant::PerTensorStatic: return 2;
    default: return 0;
  }
}

// Quantizes the product's activations once for all its matrices (they share parameters); returns Xq and
// the scales in workspace 1.
std::pair<int8_t*, float*> quantize_for(Context& ctx, const Product& p, int64_t ldq) {
  const DeviceMatrix& m = *p.m[0];
  char* ws = static_cast<char*>(ctx.workspace(1, act_q_bytes(p.n, m.cols)));
  int8_t* q = reinterpret_cast<int8_t*>(ws);
  float* sc = reinterpret_cast<float*>(ws + (((size_t)(p.n * ldq) + 255) / 256) * 256);
  const float static_scale = m.act_scale;
  SQZ_CHECK(act_mode(m) != 2 || static_scale > 0, "W8A8 per_tensor_static matrix without .act_scale");
  const bool f32 = p.x32 != nullptr;
  check_cuda(launch_quantize_act(f32 ? static_cast<const void*>(p.x32) : p.x, f32, f32 ? p.ldx32 : p.ldx, p.n, m.cols,
                                 act_mode(m), static_scale, q, ldq, sc, ctx.stream(), cuda_tuning().pdl),
             "W8A8 activation quantization");
  return {q, sc};
}

void w8a8_fused(Context& ctx, const Product& p) {
  const int64_t ldq = padded_cols(p.m[0]->cols);
  const auto [q, sc] = quantize_for(ctx, p, ldq);
  GemvArgs a = gemv_args(p);
  a.x = q, a.xs = sc, a.ldx = ldq;
  check_cuda(launch_w8a8_gemv(a, ctx.stream(), cuda_tuning().pdl), "W8A8 fused product");
}

void cublas_f16(Context& ctx, const uint16_t* W, int64_t rows, int64_t cols, const uint16_t* x, int64_t ldx, int64_t n,
                float* y, int64_t ldy, bool accumulate) {
  const float one = 1.f, beta = accumulate ? 1.f : 0.f;
  check_cublas(cublasGemmEx(static_cast<cublasHandle_t>(ctx.cublas()), CUBLAS_OP_T, CUBLAS_OP_N, (int)rows, (int)n,
                            (int)cols, &one, W, CUDA_R_16F, (int)cols, x, CUDA_R_16F, (int)ldx, &beta, y, CUDA_R_32F,
                            (int)ldy, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
               "cublasGemmEx (fp16)");
}

// The SwiGLU epilogue of a gate/up pair whose products went to tmp in fp32 ([gate | up], n x rows each).
void swiglu_from_f32(Context& ctx, const Product& p, const float* tmp) {
  const DeviceMatrix &g = *p.m[0], &u = *p.m[1];
  check_cuda(launch_swiglu_f32(tmp, tmp + (size_t)(p.n * g.rows), g.rows, g.bias ? g.bias.as<float>() : nullptr,
                               u.bias ? u.bias.as<float>() : nullptr, p.n, g.rows, p.out_h, p.ldo, ctx.stream(),
                               cuda_tuning().pdl),
             "SwiGLU");
}

// Each matrix's fp16 weights, one after another (a packed one dequantized into workspace 0), through cuBLAS.
void cublas_product(Context& ctx, const Product& p) {
  const bool swiglu = p.epi == Epilogue::SwiGLU;
  float* tmp = swiglu ? static_cast<float*>(ctx.workspace(2, (size_t)(2 * p.n * p.m[0]->rows) * 4)) : nullptr;
  for (int i = 0; i < p.nmat; ++i) {
    const DeviceMatrix& m = *p.m[(size_t)i];
    const uint16_t* W = m.t[0].as<uint16_t>();
    if (!m.dense()) {
      const CudaFormatKernels* k = find_cuda_kernels(m.format);
      uint16_t* ws = static_cast<uint16_t*>(ctx.workspace(0, (size_t)(m.rows * m.cols) * 2));
      k->dequant_f16(ctx, m, ws);
      W = ws;
    }
    float* y = swiglu ? tmp + (size_t)(i * p.n * m.rows) : p.y[(size_t)i];
    const int64_t ldy = swiglu ? m.rows : p.ldy[(size_t)i];
    cublas_f16(ctx, W, m.rows, m.cols, p.x, p.ldx, p.n, y, ldy, p.epi == Epilogue::Accumulate);
    if (m.bias && !swiglu)
      check_cuda(launch_bias_epilogue(y, ldy, m.bias.as<float>(), p.n, m.rows, ctx.stream()), "bias");
  }
  if (swiglu) swiglu_from_f32(ctx, p, tmp);
}

// W8A8 for many tokens: cuBLAS's int8 GEMM (exact int32 sums), then the scales; the fused kernel in passes
// of 16 tokens where cuBLAS refuses the shape.
void w8a8_gemm(Context& ctx, const Product& p) {
  const int64_t ldq = padded_cols(p.m[0]->cols);
  const auto [q, sc] = quantize_for(ctx, p, ldq);
  const bool swiglu = p.epi == Epilogue::SwiGLU;
  float* tmp = swiglu ? static_cast<float*>(ctx.workspace(2, (size_t)(2 * p.n * p.m[0]->rows) * 4)) : nullptr;
  for (int i = 0; i < p.nmat; ++i) {
    const DeviceMatrix& m = *p.m[(size_t)i];
    int32_t* C = static_cast<int32_t*>(ctx.workspace(3, (size_t)(p.n * m.rows) * 4));
    const int32_t one = 1, zero = 0;
    const cublasStatus_t st = cublasGemmEx(static_cast<cublasHandle_t>(ctx.cublas()), CUBLAS_OP_T, CUBLAS_OP_N,
                                           (int)m.rows, (int)p.n, (int)m.cols, &one, m.t[0].get(), CUDA_R_8I, (int)m.cols,
                                           q, CUDA_R_8I, (int)ldq, &zero, C, CUDA_R_32I, (int)m.rows, CUBLAS_COMPUTE_32I,
                                           CUBLAS_GEMM_DEFAULT);
    Product one_p = p;
    one_p.nmat = 1;
    one_p.m = {&m, nullptr, nullptr};
    one_p.epi = swiglu ? Epilogue::Store : p.epi;
    one_p.y = {swiglu ? tmp + (size_t)(i * p.n * m.rows) : p.y[(size_t)i], nullptr, nullptr};
    one_p.ldy = {swiglu ? m.rows : p.ldy[(size_t)i], 0, 0};
    GemvArgs a = gemv_args(one_p);
    a.xs = sc;
    if (st == CUBLAS_STATUS_SUCCESS) {
      check_cuda(launch_w8a8_epilogue(C, p.n, a, ctx.stream()), "W8A8 epilogue");
      continue;
    }
    a.x = q, a.ldx = ldq;
    for (int64_t t0 = 0; t0 < p.n; t0 += kFusedTokens) {
      GemvArgs c = a;
      c.n = (int)std::min<int64_t>(kFusedTokens, p.n - t0);
      c.x = q + t0 * ldq;
      c.xs = sc + t0;
      c.m[0].y = a.m[0].y + t0 * a.m[0].ldy;
      check_cuda(launch_w8a8_gemv(c, ctx.stream(), cuda_tuning().pdl), "W8A8 fused product");
    }
  }
  if (swiglu) swiglu_from_f32(ctx, p, tmp);
}

int dequant_kind(const DeviceMatrix& m) {
  if (m.format == "lut") return kDqLut;
  if (m.format == "group") return group_per_column(m) ? kDqGroupPerColumn : kDqGroup;
  if (m.format == "nf4") return nf4_per_column(m) ? kDqNf4PerColumn : kDqNf4;
  return kDqW8a8;
}
void dequant_any(Context& ctx, const DeviceMatrix& m, uint16_t* out) {
  check_cuda(launch_dequant(mat_args(m, nullptr, 0), dequant_kind(m), out, ctx.stream()), "dequantize to fp16");
}

const NamedCudaKernels kList[] = {
    {"lut", {lut_handles, lut_fused, dequant_any, nullptr}},
    {"group", {group_handles, group_fused, dequant_any, nullptr}},
    {"nf4", {nf4_handles, nf4_fused, dequant_any, nullptr}},
    {"w8a8", {w8a8_handles, w8a8_fused, dequant_any, w8a8_gemm}},
};

void check_product(const Product& p) {
  SQZ_CHECK(p.nmat >= 1 && p.nmat <= 3, "internal: CUDA product of {} matrices", p.nmat);
  SQZ_CHECK(p.n >= 1, "internal: CUDA product of {} tokens", p.n);
  const DeviceMatrix& m0 = *p.m[0];
  for (int i = 1; i < p.nmat; ++i) {
    const DeviceMatrix& m = *p.m[(size_t)i];
    SQZ_CHECK(m.format == m0.format && m.p.bits == m0.p.bits && m.p.group == m0.p.group && m.p.act == m0.p.act &&
                  m.cols == m0.cols && (m.t[3].get() != nullptr) == (m0.t[3].get() != nullptr),
              "internal: one CUDA product over matrices of different formats or shapes ({} and {})", m0.label(),
              m.label());
  }
  SQZ_CHECK(p.ldx >= padded_cols(m0.cols), "internal: activations of stride {} for {} columns (need {})", p.ldx, m0.cols,
            padded_cols(m0.cols));
  if (p.epi == Epilogue::SwiGLU) {
    SQZ_CHECK(p.nmat == 2 && p.m[1]->rows == m0.rows && p.out_h, "internal: SwiGLU product needs gate and up of equal rows");
  } else {
    for (int i = 0; i < p.nmat; ++i) SQZ_CHECK(p.y[(size_t)i], "internal: CUDA product without output {}", i);
  }
}

}  // namespace

std::span<const NamedCudaKernels> cuda_format_kernels() { return kList; }

const CudaFormatKernels* find_cuda_kernels(std::string_view format) {
  for (const NamedCudaKernels& k : kList)
    if (format == k.format) return &k.kernels;
  return nullptr;
}

bool cuda_handles(const PackedMatrix& m) {
  const CudaFormatKernels* k = find_cuda_kernels(m.format->name);
  return k && (!k->handles || k->handles(m.p, m.rows, m.cols));
}

void run(Context& ctx, const Product& p, Path path) {
  check_product(p);
  const DeviceMatrix& m0 = *p.m[0];
  if (m0.dense()) {
    cublas_product(ctx, p);
    return;
  }
  const CudaFormatKernels* k = find_cuda_kernels(m0.format);
  SQZ_CHECK(k, "internal: no CUDA kernels for format {}", m0.format);
  const bool fused = path == Path::Fused || (path == Path::Auto && p.n <= cuda_tuning().fused_max_tokens);
  if (!fused) {
    if (k->gemm) k->gemm(ctx, p);
    else cublas_product(ctx, p);
    return;
  }
  for (int64_t t0 = 0; t0 < p.n; t0 += kFusedTokens) {
    Product c = p;
    c.n = std::min<int64_t>(kFusedTokens, p.n - t0);
    c.x = p.x + t0 * p.ldx;
    if (p.x32) c.x32 = p.x32 + t0 * p.ldx32;
    for (int i = 0; i < p.nmat; ++i)
      if (p.y[(size_t)i]) c.y[(size_t)i] = p.y[(size_t)i] + t0 * p.ldy[(size_t)i];
    if (p.out_h) c.out_h = p.out_h + t0 * p.ldo;
    k->fused(ctx, c);
  }
}

// ---- small operations ----

void upload_rows_f16(const float* X, int64_t n, int64_t cols, uint16_t* dst, int64_t ldx) {
  std::vector<uint16_t> h((size_t)(n * ldx), 0);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t c = 0; c < cols; ++c) h[(size_t)(t * ldx + c)] = f32_to_fp16(X[t * cols + c]);
  check_cuda(cudaMemcpy(dst, h.data(), h.size() * 2, cudaMemcpyHostToDevice), "cudaMemcpy to device");
}

void fill_random_u32(void* dst, size_t words, uint64_t seed, CUstream_st* s) {
  check_cuda(launch_fill_u32(static_cast<uint32_t*>(dst), words, seed, s), "random fill");
}
void fill_random_f16(void* dst, size_t n, float lo, float hi, uint64_t seed, CUstream_st* s) {
  check_cuda(launch_fill_f16(static_cast<uint16_t*>(dst), n, lo, hi, seed, s), "random fill");
}
void fill_random_f32(void* dst, size_t n, float lo, float hi, uint64_t seed, CUstream_st* s) {
  check_cuda(launch_fill_f32(static_cast<float*>(dst), n, lo, hi, seed, s), "random fill");
}
void fill_random_i8(void* dst, size_t n, uint64_t seed, CUstream_st* s) {
  check_cuda(launch_fill_i8(static_cast<int8_t*>(dst), n, seed, s), "random fill");
}
void fill_f16(void* dst, size_t n, float v, CUstream_st* s) {
  check_cuda(launch_fill_const_f16(static_cast<uint16_t*>(dst), n, v, s), "fill");
}
void fill_random_csr(DeviceMatrix& m, int64_t per_row, uint64_t seed) {
  SQZ_CHECK(per_row >= 1 && per_row <= m.cols, "internal: {} random CSR entries per row of {} columns", per_row, m.cols);
  m.nnz = m.rows * per_row;
  m.csr_row_ptr = DeviceBuffer((size_t)(m.rows + 1) * 4);
  m.csr_col = DeviceBuffer((size_t)m.nnz * 4);
  m.csr_val = DeviceBuffer((size_t)m.nnz * 2);
  check_cuda(launch_fill_csr(m.csr_row_ptr.as<int32_t>(), m.csr_col.as<int32_t>(), m.csr_val.as<uint16_t>(), m.rows,
                             m.cols, per_row, seed, nullptr),
             "random CSR fill");
}

}  // namespace sqz::kernels::cuda

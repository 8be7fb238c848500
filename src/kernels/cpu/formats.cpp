// Packed formats (kernels/cpu/formats.h): index packing, the scalar references, and the public kernels,
// which split rows across threads and run the row kernels of the active ISA (kernels/cpu/ops.h).
#include "kernels/cpu/formats.h"

#include <cblas.h>

#include <algorithm>
#include <cstdint>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "core/threads.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/tuning.h"

namespace sqz::kernels {

KernelTuning& kernel_tuning() {
  static KernelTuning t;
  return t;
}

int64_t row_kernel_max_tokens_for(Isa isa, RowDecode decode) {
  if (decode == RowDecode::PerLane) {
    switch (isa) {
      case Isa::Avx512: return 16;
      case Isa::Avx2: return 4;
      default: return 1;
    }
  }
  switch (isa) {
    case Isa::Avx512: return INT64_MAX;
    case Isa::Avx2: return 32;
    default: return 1;
  }
}

using detail::ops;
using detail::RowOps;
using detail::scalar_ops;

const float kNf4Codebook[16] = {-1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
                                -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
                                0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
                                0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

int64_t packed_words_per_row(int bits, int64_t cols) {
  switch (bits) {
    case 2: return (cols + 15) / 16;
    case 3: return (cols + 31) / 32 * 3;
    case 4: return (cols + 7) / 8;
    case 8: return (cols + 3) / 4;
    default: fail("packed index width of {} bits is not supported (2, 3, 4, 8)", bits);
  }
}

// 3-bit: per block of 32 indices (3 words), a little-endian bit stream: index j at bits 3j..3j+2 of the
// block's 96 bits (indices 10 and 21 straddle words). Contiguous fields let a SIMD decoder pull 16
// indices out of one 64-bit load with a single byte-granular shift (vpmultishiftqb). The others: index c
// at bits bits*(c mod (32/bits)) of word c / (32/bits).
void pack_row(int bits, const uint8_t* idx, int64_t cols, uint32_t* out) {
  std::memset(out, 0, (size_t)packed_words_per_row(bits, cols) * 4);
  if (bits == 3) {
    for (int64_t c = 0; c < cols; ++c) {
      uint32_t* blk = out + (c / 32) * 3;
      const int bit = 3 * (int)(c % 32);
      const uint32_t v = (uint32_t)idx[c] & 7u;
      blk[bit / 32] |= v << (bit % 32);
      if (bit % 32 > 29) blk[bit / 32 + 1] |= v >> (32 - bit % 32);
    }
    return;
  }
  const int per = 32 / bits;
  const uint32_t mask = (1u << bits) - 1;
  for (int64_t c = 0; c < cols; ++c) out[c / per] |= ((uint32_t)idx[c] & mask) << (bits * (c % per));
}

void unpack_row(int bits, const uint32_t* in, int64_t cols, uint8_t* idx) {
  if (bits == 3) {
    for (int64_t c = 0; c < cols; ++c) {
      const uint32_t* blk = in + (c / 32) * 3;
      const int bit = 3 * (int)(c % 32);
      uint64_t two = blk[bit / 32];
      if (bit / 32 < 2) two |= (uint64_t)blk[bit / 32 + 1] << 32;
      idx[c] = (uint8_t)((two >> (bit % 32)) & 7u);
    }
    return;
  }
  const int per = 32 / bits;
  const uint32_t mask = (1u << bits) - 1;
  for (int64_t c = 0; c < cols; ++c) idx[c] = (uint8_t)((in[c / per] >> (bits * (c % per))) & mask);
}

namespace {

bool use_row_kernels(int64_t n, RowDecode decode = RowDecode::Table) {
  const int64_t max = kernel_tuning().row_kernel_max_tokens;
  return n <= (max >= 0 ? max : row_kernel_max_tokens_for(active_isa(), decode));
}

// Runs fn(r0, r1) over contiguous row ranges, one per thread, of equal cost where row r costs row_cost
// plus nz_cost per entry of row_ptr's sparse row (so a CSR part is balanced by its entries, not by rows).
template <typename Fn>
void parallel_rows(int64_t rows, int64_t work, double row_cost, const int32_t* row_ptr, double nz_cost, Fn&& fn) {
  if (rows <= 0) return;
  const int nt = (int)std::min<int64_t>(num_threads(), rows);
  if (nt <= 1 || work < kernel_tuning().parallel_min_work) {
    fn(int64_t{0}, rows);
    return;
  }
  auto cost = [&](int64_t r) { return row_cost * (double)r + (row_ptr ? nz_cost * (double)row_ptr[r] : 0.0); };
  const double total = cost(rows);
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    // First row whose prefix cost reaches the thread's share.
    auto split = [&](int k) -> int64_t {
      if (k <= 0) return 0;
      if (k >= T) return rows;
      const double target = total * k / T;
      int64_t lo = 0, hi = rows;
      while (lo < hi) {
        const int64_t mid = (lo + hi) / 2;
        if (cost(mid) < target) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    };
    const int64_t b = split(t), e = split(t + 1);
    if (b < e) fn(b, e);
  }
}

template <typename Fn>
void parallel_rows(int64_t rows, int64_t work, Fn&& fn) {
  parallel_rows(rows, work, 1.0, nullptr, 0.0, fn);
}

// Multiplies n tokens by a matrix given by a row-range dequantizer: tiles of rows are expanded to fp32
// (in parallel) and handed to sgemm (OpenBLAS threads), which writes those output columns.
template <typename Dequant>
void gemm_by_tiles(int64_t rows, int64_t cols, const float* X, int64_t n, float* Y, Dequant&& deq) {
  const int64_t tile = std::min(rows, std::max<int64_t>(64, (int64_t{1} << 20) / std::max<int64_t>(cols, 1)));
  static thread_local std::vector<float> buf;
  if (buf.size() < (size_t)(tile * cols)) buf.resize((size_t)(tile * cols));
  for (int64_t r0 = 0; r0 < rows; r0 += tile) {
    const int64_t r1 = std::min(rows, r0 + tile);
    float* b = buf.data();
    parallel_rows(r1 - r0, (r1 - r0) * cols, [&](int64_t a, int64_t e) { deq(r0 + a, r0 + e, b + a * cols); });
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)(r1 - r0), (int)cols, 1.0f, X, (int)cols, b,
                (int)cols, 0.0f, Y + r0, (int)rows);
  }
}

// Y[t, :] for all n tokens through the row kernels, rows split across threads.
template <typename RowFn>
void rows_by_passes(int64_t rows, int64_t cols, int64_t n, const float* X, float* Y, double row_cost,
                    const int32_t* row_ptr, double nz_cost, RowFn&& fn) {
  parallel_rows(rows, rows * cols * n, row_cost, row_ptr, nz_cost,
                [&](int64_t r0, int64_t r1) { fn(r0, r1, X, n, Y); });
}

void csr_gemv_add(const CsrMatrix& s, const float* x, float* y) {
  for (int64_t r = 0; r < s.rows; ++r) {
    float acc = 0.f;
    for (int32_t i = s.row_ptr[r]; i < s.row_ptr[r + 1]; ++i) acc += fp16_to_f32(s.values[i]) * x[s.col_idx[i]];
    y[r] += acc;
  }
}

bool lut_simd_bits(int bits) { return bits == 2 || bits == 3 || bits == 4; }

// The row kernels of the active ISA when they handle this bit width, else the scalar ones.
const RowOps& ops_for_bits(int bits) { return lut_simd_bits(bits) ? ops() : scalar_ops(); }
// The group kernels also compute 8-bit weights directly (256 levels do not fit a register table, so the
// LUT kernels, which look weights up in one, stay on ops_for_bits).
const RowOps& group_ops_for_bits(int bits) { return bits == 8 ? ops() : ops_for_bits(bits); }

}  // namespace

// ---- LUT (SqueezeLLM) ----

void lut_dequant_rows(const LutMatrix& w, int64_t r0, int64_t r1, float* out) {
  const RowOps& o = ops_for_bits(w.bits);
  parallel_rows(r1 - r0, (r1 - r0) * w.cols, [&](int64_t a, int64_t b) { o.lut_dequant(w, r0 + a, r0 + b, out + a * w.cols); });
}

void csr_add_rows(const CsrMatrix& s, int64_t r0, int64_t r1, float* out) {
  for (int64_t r = r0; r < r1; ++r)
    for (int32_t i = s.row_ptr[r]; i < s.row_ptr[r + 1]; ++i) out[(r - r0) * s.cols + s.col_idx[i]] += fp16_to_f32(s.values[i]);
}

void lut_gemv_ref(const LutMatrix& w, const CsrMatrix* sparse, const float* x, float* y) {
  scalar_ops().lut_rows(w, nullptr, 0, w.rows, x, 1, y, w.rows);
  if (sparse) csr_gemv_add(*sparse, x, y);
}

static void lut_rows_parallel(const LutMatrix& w, const CsrMatrix* sparse, const float* X, int64_t n, float* Y) {
  const RowOps& o = ops_for_bits(w.bits);
  // Cost in bytes read: the packed row and its LUT; a sparse entry reads 6 bytes plus an x value.
  const double row_cost = (double)detail::words_per_row(w.bits, w.cols) * 4 + (double)(2 << w.bits);
  rows_by_passes(w.rows, w.cols, n, X, Y, row_cost, sparse ? sparse->row_ptr : nullptr, 12.0,
                 [&](int64_t r0, int64_t r1, const float* Xp, int64_t k, float* Yp) {
                   o.lut_rows(w, sparse, r0, r1, Xp, k, Yp, w.rows);
                 });
}

void lut_gemv(const LutMatrix& w, const CsrMatrix* sparse, const float* x, float* y) {
  lut_rows_parallel(w, sparse, x, 1, y);
}

void lut_gemm(const LutMatrix& w, const CsrMatrix* sparse, const float* X, int64_t n, float* Y) {
  if (use_row_kernels(n)) {
    lut_rows_parallel(w, sparse, X, n, Y);
    return;
  }
  const RowOps& o = ops_for_bits(w.bits);
  gemm_by_tiles(w.rows, w.cols, X, n, Y, [&](int64_t a, int64_t b, float* out) {
    o.lut_dequant(w, a, b, out);
    if (sparse) csr_add_rows(*sparse, a, b, out);
  });
}

// ---- uniform groups (RTN / GPTQ / AWQ) ----

int64_t GroupMatrix::n_groups() const { return (cols + group - 1) / group; }

void group_dequant_rows(const GroupMatrix& w, int64_t r0, int64_t r1, float* out) {
  const RowOps& o = group_ops_for_bits(w.bits);
  parallel_rows(r1 - r0, (r1 - r0) * w.cols, [&](int64_t a, int64_t b) { o.group_dequant(w, r0 + a, r0 + b, out + a * w.cols); });
}

void group_gemv_ref(const GroupMatrix& w, const float* x, float* y) { scalar_ops().group_rows(w, 0, w.rows, x, 1, y, w.rows); }

static void group_rows_parallel(const GroupMatrix& w, const float* X, int64_t n, float* Y) {
  const RowOps& o = group_ops_for_bits(w.bits);
  rows_by_passes(w.rows, w.cols, n, X, Y, 1.0, nullptr, 0.0, [&](int64_t r0, int64_t r1, const float* Xp, int64_t k, float* Yp) {
    o.group_rows(w, r0, r1, Xp, k, Yp, w.rows);
  });
}

void group_gemv(const GroupMatrix& w, const float* x, float* y) { group_rows_parallel(w, x, 1, y); }

void group_gemm(const GroupMatrix& w, const float* X, int64_t n, float* Y) {
  if (use_row_kernels(n, w.bits == 8 || !detail::group_aligned(w) ? RowDecode::PerLane : RowDecode::Table)) {
    group_rows_parallel(w, X, n, Y);
    return;
  }
  const RowOps& o = group_ops_for_bits(w.bits);
  gemm_by_tiles(w.rows, w.cols, X, n, Y, [&](int64_t a, int64_t b, float* out) { o.group_dequant(w, a, b, out); });
}

// ---- NF4 ----

void nf4_dequant_rows(const Nf4Matrix& w, int64_t r0, int64_t r1, float* out) {
  const RowOps& o = ops();
  parallel_rows(r1 - r0, (r1 - r0) * w.cols, [&](int64_t a, int64_t b) { o.nf4_dequant(w, r0 + a, r0 + b, out + a * w.cols); });
}

void nf4_gemv_ref(const Nf4Matrix& w, const float* x, float* y) { scalar_ops().nf4_rows(w, 0, w.rows, x, 1, y, w.rows); }

static void nf4_rows_parallel(const Nf4Matrix& w, const float* X, int64_t n, float* Y) {
  const RowOps& o = ops();
  rows_by_passes(w.rows, w.cols, n, X, Y, 1.0, nullptr, 0.0, [&](int64_t r0, int64_t r1, const float* Xp, int64_t k, float* Yp) {
    o.nf4_rows(w, r0, r1, Xp, k, Yp, w.rows);
  });
}

void nf4_gemv(const Nf4Matrix& w, const float* x, float* y) { nf4_rows_parallel(w, x, 1, y); }

void nf4_gemm(const Nf4Matrix& w, const float* X, int64_t n, float* Y) {
  if (use_row_kernels(n, detail::nf4_aligned(w) ? RowDecode::Table : RowDecode::PerLane)) {
    nf4_rows_parallel(w, X, n, Y);
    return;
  }
  const RowOps& o = ops();
  gemm_by_tiles(w.rows, w.cols, X, n, Y, [&](int64_t a, int64_t b, float* out) { o.nf4_dequant(w, a, b, out); });
}

// ---- W8A8 ----

void quantize_activations(const float* X, int64_t n, int64_t cols, ActQuant mode, float static_scale, int8_t* q,
                          float* scales) {
  const RowOps& o = ops();
  float tensor_scale = static_scale;
  if (mode == ActQuant::PerTensorDynamic) {
    const float m = o.absmax(X, n * cols);
    tensor_scale = m > 0 ? m / 127.f : 1.f;
  }
  for (int64_t t = 0; t < n; ++t) {
    float s = tensor_scale;
    if (mode == ActQuant::PerToken) {
      const float m = o.absmax(X + t * cols, cols);
      s = m > 0 ? m / 127.f : 1.f;
    }
    scales[t] = s;
    o.quantize_i8(X + t * cols, cols, 1.f / s, q + t * cols);
  }
}

void w8a8_gemm_ref(const Int8Matrix& w, const int8_t* Xq, const float* xs, int64_t n, float* Y) {
  for (int64_t t = 0; t < n; ++t)
    for (int64_t r = 0; r < w.rows; ++r) {
      int32_t acc = 0;
      for (int64_t c = 0; c < w.cols; ++c) acc += (int32_t)Xq[t * w.cols + c] * (int32_t)w.q[r * w.cols + c];
      Y[t * w.rows + r] = (float)acc * xs[t] * w.scale[r];
    }
}

void w8a8_gemm_q(const Int8Matrix& w, const int8_t* Xq, const float* xs, int64_t n, float* Y) {
  std::vector<int32_t> xsum((size_t)n);
  for (int64_t t = 0; t < n; ++t) {
    int32_t s = 0;
    for (int64_t c = 0; c < w.cols; ++c) s += Xq[t * w.cols + c];
    xsum[(size_t)t] = s;
  }
  const RowOps& o = ops();
  parallel_rows(w.rows, w.rows * w.cols * n, [&](int64_t r0, int64_t r1) { o.i8_rows(w, r0, r1, Xq, xsum.data(), xs, n, Y); });
}

void w8a8_gemm(const Int8Matrix& w, const float* X, int64_t n, ActQuant mode, float static_scale, float* Y) {
  static thread_local std::vector<int8_t> q;
  static thread_local std::vector<float> s;
  q.resize((size_t)(n * w.cols));
  s.resize((size_t)n);
  quantize_activations(X, n, w.cols, mode, static_scale, q.data(), s.data());
  w8a8_gemm_q(w, q.data(), s.data(), n, Y);
}

}  // namespace sqz::kernels

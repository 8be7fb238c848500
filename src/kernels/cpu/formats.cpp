// The rows of sqz's own formats in the format table (kernels/format.h): LUT (SqueezeLLM), uniform groups
// (RTN / GPTQ / AWQ), NF4 and W8A8, each with its schema, size, scalar reference kernels and reference
// encoder; the index packing they share; and the typed entry points of formats.h.
#include "kernels/cpu/formats.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "kernels/cpu/format_views.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/row_driver.h"

namespace sqz::kernels {

// A format's scalar reference kernels from its reference dequantizer: rows through dequantized rows.
template <auto Ref, auto View>
constexpr FormatKernels reference_kernels() {
  return {detail::rows_by_dequant<detail::dequant_rows<Ref, View>>, detail::dequant_rows<Ref, View>};
}

using detail::group_size_of;

// ---- index packing ----

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

std::vector<uint32_t> pack_matrix(int bits, const uint8_t* codes, int64_t rows, int64_t cols) {
  const int64_t words = packed_words_per_row(bits, cols);
  std::vector<uint32_t> packed((size_t)(rows * words));
  for (int64_t r = 0; r < rows; ++r) pack_row(bits, codes + r * cols, cols, packed.data() + r * words);
  return packed;
}

std::vector<uint16_t> to_fp16(const std::vector<float>& v) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = f32_to_fp16(v[i]);
  return h;
}

// Group and block sizes beyond this are refused (their products with row counts must not overflow).
constexpr int64_t kMaxGroup = int64_t{1} << 30;

Shape packed_shape(int64_t rows, int64_t cols, const FormatParams& p) { return {rows, packed_words_per_row(p.bits, cols)}; }
Shape rows_shape(int64_t rows, int64_t, const FormatParams&) { return {rows}; }
Shape matrix_shape(int64_t rows, int64_t cols, const FormatParams&) { return {rows, cols}; }
Shape one_shape(int64_t, int64_t, const FormatParams&) { return {1}; }

std::string bits_error(const Format& f, int bits) {
  return f.allows_bits(bits) ? std::string() : fmt::format("{} bits is not a width of format {} ({})", bits, f.name, f.bits_list());
}

void check_finite_f16(const PackedMatrix& m, int i, const std::string& where) {
  const uint16_t* v = m.at<uint16_t>(i);
  for (int64_t k = 0; k < m.numel[(size_t)i]; ++k)
    SQZ_CHECK((v[k] & 0x7c00) != 0x7c00, "{}{}: element {} is not finite", where, m.format->tensors[(size_t)i].suffix, k);
}
void check_finite_f32(const PackedMatrix& m, int i, const std::string& where) {
  const float* v = m.at<float>(i);
  for (int64_t k = 0; k < m.numel[(size_t)i]; ++k)
    SQZ_CHECK(std::isfinite(v[k]), "{}{}: element {} is not finite", where, m.format->tensors[(size_t)i].suffix, k);
}

// ---- LUT (SqueezeLLM): row r's weight c is lut[r, idx(r, c)] ----

const Format& lut_format();

void lut_dequant_ref(const LutMatrix& w, int64_t r0, int64_t r1, float* out) {
  const int64_t words = detail::words_per_row(w.bits, w.cols);
  std::vector<uint8_t> idx((size_t)w.cols);
  for (int64_t r = r0; r < r1; ++r) {
    unpack_row(w.bits, w.packed + r * words, w.cols, idx.data());
    const uint16_t* lut = w.lut + (r << w.bits);
    float* o = out + (r - r0) * w.cols;
    for (int64_t c = 0; c < w.cols; ++c) o[c] = fp16_to_f32(lut[idx[(size_t)c]]);
  }
}

// The reference encoder: the 2^b levels are the row's quantiles at (k + 1/2) / 2^b, each weight takes the
// nearest (SqueezeLLM's k-means codebooks are quant/algo/squeezellm.h; this one needs no search).
std::vector<OwnedTensor> lut_encode(const float* W, int64_t rows, int64_t cols, const FormatParams& p, const float*) {
  const int K = 1 << p.bits;
  std::vector<uint8_t> codes((size_t)(rows * cols));
  std::vector<float> lut((size_t)(rows * K));
  std::vector<float> sorted((size_t)cols);
  for (int64_t r = 0; r < rows; ++r) {
    const float* w = W + r * cols;
    std::copy(w, w + cols, sorted.begin());
    std::sort(sorted.begin(), sorted.end());
    float* l = &lut[(size_t)(r * K)];
    for (int k = 0; k < K; ++k)
      l[k] = cols ? round_fp16(sorted[(size_t)std::min<int64_t>(cols - 1, (int64_t)((k + 0.5) * cols / K))]) : 0.f;
    for (int64_t c = 0; c < cols; ++c) {
      int best = 0;
      for (int k = 1; k < K; ++k)
        if (std::fabs((double)w[c] - l[k]) < std::fabs((double)w[c] - l[best])) best = k;
      codes[(size_t)(r * cols + c)] = (uint8_t)best;
    }
  }
  return {OwnedTensor::from(DType::U32, packed_shape(rows, cols, p), pack_matrix(p.bits, codes.data(), rows, cols)),
          OwnedTensor::from(DType::F16, {rows, K}, to_fp16(lut))};
}

Shape lut_table_shape(int64_t rows, int64_t, const FormatParams& p) { return {rows, int64_t{1} << p.bits}; }

const Format& lut_format() {
  static const Format f = [] {
    Format f;
    f.name = "lut";
    f.summary = "per-row non-uniform codebook (SqueezeLLM), fp16 LUT, optional fp16 CSR outliers";
    f.doc = "docs/format.md#lut-squeezellm";
    f.bits = {2, 3, 4};
    f.tensors = {{".qweight", DType::U32, false, packed_shape}, {".lut", DType::F16, false, lut_table_shape}};
    f.sparse = true;
    f.index_packing = true;
    f.check = [](const FormatParams& p, int64_t, int64_t) { return bits_error(lut_format(), p.bits); };
    f.bytes = [](const FormatParams& p, int64_t rows, int64_t cols) {
      return (size_t)(rows * packed_words_per_row(p.bits, cols) * 4 + (rows << p.bits) * 2);
    };
    f.label = [](const FormatParams& p) { return fmt::format("lut{}", p.bits); };
    f.validate = [](PackedMatrix& m, const std::string& where) { check_finite_f16(m, detail::kLutTable, where); };
    f.encode = lut_encode;
    f.isa[0] = reference_kernels<lut_dequant_ref, detail::lut_of>();
    return f;
  }();
  return f;
}

// ---- uniform groups (RTN / GPTQ / AWQ): w = (q - zero) * scale per group of input columns ----

const Format& group_format();

void group_dequant_ref(const GroupMatrix& w, int64_t r0, int64_t r1, float* out) {
  const int64_t words = detail::words_per_row(w.bits, w.cols), ng = w.n_groups();
  std::vector<uint8_t> q((size_t)w.cols);
  for (int64_t r = r0; r < r1; ++r) {
    unpack_row(w.bits, w.packed + r * words, w.cols, q.data());
    float* o = out + (r - r0) * w.cols;
    for (int64_t c = 0; c < w.cols; ++c) {
      const int64_t g = w.g_idx ? w.g_idx[c] : c / w.group;
      const float s = fp16_to_f32(w.scales[r * ng + g]), z = fp16_to_f32(w.zeros[r * ng + g]);
      o[c] = ((float)q[(size_t)c] - z) * s;
    }
  }
}

int64_t n_groups_of(const FormatParams& p, int64_t cols) {
  const int64_t g = group_size_of(p, cols);
  return g > 0 ? (cols + g - 1) / g : 0;
}
Shape group_params_shape(int64_t rows, int64_t cols, const FormatParams& p) { return {rows, n_groups_of(p, cols)}; }
Shape gidx_shape(int64_t, int64_t cols, const FormatParams&) { return {cols}; }

// The reference encoder: min/max round to nearest per group (quant/algo/uniform.h adds the clip search).
std::vector<OwnedTensor> group_encode(const float* W, int64_t rows, int64_t cols, const FormatParams& p, const float*) {
  const int64_t g = group_size_of(p, cols), ng = n_groups_of(p, cols);
  std::vector<uint8_t> codes((size_t)(rows * cols));
  std::vector<float> scales((size_t)(rows * ng)), zeros((size_t)(rows * ng));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t gi = 0; gi < ng; ++gi) {
      const int64_t c0 = gi * g, c1 = std::min(cols, c0 + g);
      const float* w = W + r * cols;
      const auto [lo, hi] = std::minmax_element(w + c0, w + c1);
      const GroupGrid grid = group_grid(*lo, *hi, p.bits, false);
      scales[(size_t)(r * ng + gi)] = grid.scale, zeros[(size_t)(r * ng + gi)] = grid.zero;
      for (int64_t c = c0; c < c1; ++c) codes[(size_t)(r * cols + c)] = group_code(w[c], grid, p.bits);
    }
  return {OwnedTensor::from(DType::U32, packed_shape(rows, cols, p), pack_matrix(p.bits, codes.data(), rows, cols)),
          OwnedTensor::from(DType::F16, {rows, ng}, to_fp16(scales)), OwnedTensor::from(DType::F16, {rows, ng}, to_fp16(zeros)),
          OwnedTensor{}};
}

const Format& group_format() {
  static const Format f = [] {
    Format f;
    f.name = "group";
    f.summary = "uniform asymmetric grid per group of input columns (RTN, GPTQ, AWQ), fp16 scales and zeros";
    f.doc = "docs/format.md#uniform-groups-rtn-gptq-awq";
    f.bits = {2, 3, 4, 8};
    f.index_packing = true;
    f.group_key = "group_size";
    f.tensors = {{".qweight", DType::U32, false, packed_shape},
                 {".scales", DType::F16, false, group_params_shape},
                 {".qzeros", DType::F16, false, group_params_shape},
                 {".g_idx", DType::I32, true, gidx_shape}};
    f.check = [](const FormatParams& p, int64_t, int64_t) {
      std::string e = bits_error(group_format(), p.bits);
      if (e.empty() && (p.group < 0 || p.group > kMaxGroup))
        e = fmt::format("group size {} is not valid: -1 or 0 (one group per row) or 1 to {}", p.group, kMaxGroup);
      return e;
    };
    f.bytes = [](const FormatParams& p, int64_t rows, int64_t cols) {
      return (size_t)(rows * packed_words_per_row(p.bits, cols) * 4 + rows * n_groups_of(p, cols) * 4);
    };
    f.label = [](const FormatParams& p) {
      return p.group > 0 ? fmt::format("int{}g{}", p.bits, p.group) : fmt::format("int{}", p.bits);
    };
    f.validate = [](PackedMatrix& m, const std::string& where) {
      check_finite_f16(m, detail::kGroupScales, where);
      check_finite_f16(m, detail::kGroupZeros, where);
      if (const int32_t* gi = m.at<int32_t>(detail::kGroupGidx)) {
        const int64_t ng = n_groups_of(m.p, m.cols);
        for (int64_t c = 0; c < m.cols; ++c)
          SQZ_CHECK(gi[c] >= 0 && gi[c] < ng, "{}.g_idx[{}] = {} is outside [0, {})", where, c, gi[c], ng);
      }
    };
    f.encode = group_encode;
    f.isa[0] = reference_kernels<group_dequant_ref, detail::group_of>();
    return f;
  }();
  return f;
}

// ---- NF4: w = NF4[q] * absmax[block], blocks row-major over the whole matrix ----

const Format& nf4_format();

void nf4_dequant_ref(const Nf4Matrix& w, int64_t r0, int64_t r1, float* out) {
  const int64_t words = detail::words_per_row(4, w.cols);
  std::vector<uint8_t> q((size_t)w.cols);
  for (int64_t r = r0; r < r1; ++r) {
    unpack_row(4, w.packed + r * words, w.cols, q.data());
    float* o = out + (r - r0) * w.cols;
    for (int64_t c = 0; c < w.cols; ++c) o[c] = kNf4Codebook[q[(size_t)c]] * w.absmax[(r * w.cols + c) / w.block];
  }
}

int64_t nf4_blocks(int64_t rows, int64_t cols, const FormatParams& p) { return p.group > 0 ? (rows * cols + p.group - 1) / p.group : 0; }
int64_t nf4_dq_blocks(int64_t rows, int64_t cols, const FormatParams& p) {
  return p.dq_block > 0 ? (nf4_blocks(rows, cols, p) + p.dq_block - 1) / p.dq_block : 0;
}
Shape nf4_absmax_shape(int64_t rows, int64_t cols, const FormatParams& p) { return {nf4_blocks(rows, cols, p)}; }
Shape nf4_dq_shape(int64_t rows, int64_t cols, const FormatParams& p) { return {nf4_dq_blocks(rows, cols, p)}; }

std::vector<OwnedTensor> nf4_encode(const float* W, int64_t rows, int64_t cols, const FormatParams& p, const float*) {
  const int64_t n = rows * cols, nb = nf4_blocks(rows, cols, p);
  std::vector<float> absmax((size_t)nb, 0.f);
  for (int64_t i = 0; i < n; ++i) absmax[(size_t)(i / p.group)] = std::max(absmax[(size_t)(i / p.group)], std::fabs(W[i]));
  std::vector<uint8_t> codes((size_t)n);
  for (int64_t i = 0; i < n; ++i) {
    const float a = absmax[(size_t)(i / p.group)];
    codes[(size_t)i] = a > 0 ? nf4_nearest(W[i] / a) : (uint8_t)7;
  }
  return {OwnedTensor::from(DType::U32, packed_shape(rows, cols, p), pack_matrix(4, codes.data(), rows, cols)),
          OwnedTensor::from(DType::F32, {nb}, absmax), OwnedTensor{}, OwnedTensor{}, OwnedTensor{}};
}

// Double quantization (QLoRA): absmax = int8 code * scale of its block of dq_block + mean, expanded once
// at load (the kernels read fp32 absmax).
void nf4_validate(PackedMatrix& m, const std::string& where) {
  const bool plain = m.t[detail::kNf4Absmax] != nullptr;
  const bool dq = m.t[detail::kNf4AbsmaxQ] && m.t[detail::kNf4DqScale] && m.t[detail::kNf4DqMean];
  SQZ_CHECK(plain != dq, "{}: NF4 needs either .absmax or all of .absmax_q, .absmax_dq_scale, .absmax_dq_mean", where);
  if (plain) {
    check_finite_f32(m, detail::kNf4Absmax, where);
    return;
  }
  SQZ_CHECK(m.p.dq_block > 0, "{}: double-quantized NF4 needs dq_block_size >= 1, got {}", where, m.p.dq_block);
  check_finite_f32(m, detail::kNf4DqScale, where);
  check_finite_f32(m, detail::kNf4DqMean, where);
  const int64_t nb = m.numel[detail::kNf4AbsmaxQ];
  const int8_t* aq = m.at<int8_t>(detail::kNf4AbsmaxQ);
  const float* ds = m.at<float>(detail::kNf4DqScale);
  const float mean = m.at<float>(detail::kNf4DqMean)[0];
  auto absmax = std::make_shared<std::vector<float>>((size_t)nb);
  for (int64_t i = 0; i < nb; ++i) (*absmax)[(size_t)i] = (float)aq[i] * ds[i / m.p.dq_block] + mean;
  m.owned = std::move(absmax);
}

const Format& nf4_format() {
  static const Format f = [] {
    Format f;
    f.name = "nf4";
    f.summary = "4-bit NormalFloat codes, fp32 absmax per block (QLoRA), optionally double-quantized";
    f.doc = "docs/format.md#nf4";
    f.bits = {4};
    f.group_key = "block_size";
    f.tensors = {{".qweight", DType::U32, false, [](int64_t r, int64_t c, const FormatParams&) -> Shape {
                    return {r, packed_words_per_row(4, c)};
                  }},
                 {".absmax", DType::F32, true, nf4_absmax_shape},
                 {".absmax_q", DType::I8, true, nf4_absmax_shape},
                 {".absmax_dq_scale", DType::F32, true, nf4_dq_shape},
                 {".absmax_dq_mean", DType::F32, true, one_shape}};
    f.check = [](const FormatParams& p, int64_t, int64_t) -> std::string {
      std::string e = bits_error(nf4_format(), p.bits);
      if (e.empty() && (p.group < 1 || p.group > kMaxGroup))
        e = fmt::format("NF4 block size {} is not valid: 1 to {}", p.group, kMaxGroup);
      if (e.empty() && (p.dq_block < 0 || p.dq_block > kMaxGroup))
        e = fmt::format("NF4 dq_block_size {} is not valid: 1 to {} (0: no double quantization)", p.dq_block, kMaxGroup);
      return e;
    };
    f.bytes = [](const FormatParams& p, int64_t rows, int64_t cols) {
      const int64_t nb = nf4_blocks(rows, cols, p);
      const size_t scales = p.dq_block > 0 ? (size_t)(nb + 4 * nf4_dq_blocks(rows, cols, p) + 4) : (size_t)nb * 4;
      return (size_t)(rows * packed_words_per_row(4, cols) * 4) + scales;
    };
    f.label = [](const FormatParams& p) { return std::string(p.dq_block > 0 ? "nf4+dq" : "nf4"); };
    f.validate = nf4_validate;
    f.encode = nf4_encode;
    f.isa[0] = reference_kernels<nf4_dequant_ref, detail::nf4_of>();
    return f;
  }();
  return f;
}

// ---- W8A8 (SmoothQuant): int8 weights, fp32 scale per row; int8 activations at run time ----

const Format& w8a8_format();

void w8a8_dequant_ref(const PackedMatrix& m, int64_t r0, int64_t r1, float* out) {
  const Int8Matrix w = detail::int8_of(m);
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t c = 0; c < w.cols; ++c) out[(r - r0) * w.cols + c] = (float)w.q[r * w.cols + c] * w.scale[r];
}

// The activation scale the matrix was calibrated with (per_tensor_static), else 0.
float static_scale(const PackedMatrix& m) {
  return m.p.act == ActQuant::PerTensorStatic ? m.at<float>(detail::kW8a8ActScale)[0] : 0.f;
}

void w8a8_rows_ref(const PackedMatrix& m, const CsrMatrix*, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y,
                   int64_t ldy) {
  std::vector<int8_t> q((size_t)(n * m.cols));
  std::vector<float> xs((size_t)n);
  quantize_activations(X, n, m.cols, m.p.act, static_scale(m), q.data(), xs.data());
  const Int8Matrix w = detail::int8_of(m);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t r = r0; r < r1; ++r) {
      int32_t acc = 0;
      for (int64_t c = 0; c < w.cols; ++c) acc += (int32_t)q[(size_t)(t * w.cols + c)] * (int32_t)w.q[r * w.cols + c];
      Y[t * ldy + r] = (float)acc * xs[(size_t)t] * w.scale[r];
    }
}

std::vector<OwnedTensor> w8a8_encode(const float* W, int64_t rows, int64_t cols, const FormatParams&, const float*) {
  std::vector<int8_t> q((size_t)(rows * cols));
  std::vector<float> scale((size_t)rows);
  int8_encode_rows(W, rows, cols, q.data(), scale.data());
  return {OwnedTensor::from(DType::I8, {rows, cols}, q), OwnedTensor::from(DType::F32, {rows}, scale), OwnedTensor{}};
}

const Format& w8a8_format() {
  static const Format f = [] {
    Format f;
    f.name = "w8a8";
    f.summary = "int8 weights with an fp32 scale per row, int8 activations (SmoothQuant), int32 accumulation";
    f.doc = "docs/format.md#w8a8-smoothquant";
    f.bits = {8};
    f.quantized_activations = true;
    f.tensors = {{".qweight_i8", DType::I8, false, matrix_shape},
                 {".wscale", DType::F32, false, rows_shape},
                 {".act_scale", DType::F32, true, one_shape}};
    f.check = [](const FormatParams& p, int64_t, int64_t) { return bits_error(w8a8_format(), p.bits); };
    f.bytes = [](const FormatParams&, int64_t rows, int64_t cols) { return (size_t)(rows * cols + rows * 4); };
    f.label = [](const FormatParams&) { return std::string("w8a8"); };
    f.validate = [](PackedMatrix& m, const std::string& where) {
      check_finite_f32(m, detail::kW8a8Scale, where);
      if (m.p.act == ActQuant::PerTensorStatic) {
        SQZ_CHECK(m.t[detail::kW8a8ActScale], "{}: act_quant per_tensor_static needs the tensor .act_scale", where);
        const float s = m.at<float>(detail::kW8a8ActScale)[0];
        SQZ_CHECK(std::isfinite(s) && s > 0, "{}.act_scale = {} is not a positive finite scale", where, s);
      }
    };
    f.encode = w8a8_encode;
    f.gemm = [](const PackedMatrix& m, const float* X, int64_t n, float* Y) {
      w8a8_gemm(detail::int8_of(m), X, n, m.p.act, static_scale(m), Y);
    };
    f.isa[0] = {w8a8_rows_ref, w8a8_dequant_ref};
    return f;
  }();
  return f;
}

}  // namespace

std::span<const Format* const> own_formats() {
  static const Format* const rows[] = {&lut_format(), &group_format(), &nf4_format(), &w8a8_format()};
  return rows;
}

// ---- grids and encoders shared with the quantizers ----

const float kNf4Codebook[16] = {-1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
                                -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
                                0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
                                0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

uint8_t nf4_nearest(float v) {
  const double x = v;
  int lo = 0, hi = 15;  // first code whose upper midpoint is >= x
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (x <= 0.5 * ((double)kNf4Codebook[mid] + (double)kNf4Codebook[mid + 1])) hi = mid;
    else lo = mid + 1;
  }
  return (uint8_t)lo;
}

GroupGrid group_grid(double lo, double hi, int bits, bool include_zero) {
  SQZ_CHECK(bits >= 1 && bits <= 8, "uniform grid: bits = {} not in [1, 8]", bits);
  const int maxq = (1 << bits) - 1;
  if (include_zero) lo = std::min(lo, 0.0), hi = std::max(hi, 0.0);
  GroupGrid g;
  if (lo == hi) {
    if (lo == 0) {
      lo = -1, hi = 1;  // GPTQ's convention for an all-zero group
    } else {
      g.scale = round_fp16((float)std::fabs(lo));
      SQZ_CHECK(std::isfinite(g.scale), "uniform quantization: constant {} overflows an fp16 scale", lo);
      g.scale = std::max(g.scale, 0x1.0p-24f);
      g.zero = lo > 0 ? 0.0f : 1.0f;
      return g;
    }
  }
  g.scale = round_fp16((float)((hi - lo) / maxq));
  SQZ_CHECK(std::isfinite(g.scale), "uniform quantization: range [{}, {}] overflows an fp16 scale", lo, hi);
  g.scale = std::max(g.scale, 0x1.0p-24f);
  g.zero = (float)std::clamp(std::nearbyint(-lo / (double)g.scale), 0.0, (double)maxq);
  return g;
}

uint8_t group_code(double w, const GroupGrid& g, int bits) {
  const double maxq = (double)((1 << bits) - 1);
  return (uint8_t)std::clamp(std::nearbyint(w / (double)g.scale) + (double)g.zero, 0.0, maxq);
}

void int8_encode_rows(const float* W, int64_t rows, int64_t cols, int8_t* q, float* scale) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* w = W + r * cols;
    float amax = 0;
    for (int64_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(w[c]));
    const float s = amax > 0 ? amax / 127.0f : 1.0f;
    scale[r] = s;
    for (int64_t c = 0; c < cols; ++c) q[r * cols + c] = (int8_t)std::clamp(std::nearbyint((double)w[c] / s), -127.0, 127.0);
  }
}

const char* act_quant_name(ActQuant a) {
  switch (a) {
    case ActQuant::PerTensorDynamic: return "per_tensor_dynamic";
    case ActQuant::PerTensorStatic: return "per_tensor_static";
    default: return "per_token";
  }
}

bool parse_act_quant(std::string_view name, ActQuant& out) {
  for (ActQuant a : {ActQuant::PerToken, ActQuant::PerTensorDynamic, ActQuant::PerTensorStatic})
    if (name == act_quant_name(a)) {
      out = a;
      return true;
    }
  return false;
}

// ---- typed entry points (benchmarks, tests) ----

namespace detail {

// The typed views run through the table's rows (format()), which carry the ISA files' kernels; the rows
// built above have only the scalar reference ones.
PackedMatrix packed_of(const LutMatrix& w) {
  PackedMatrix m;
  static const Format& row = format("lut");
  m.format = &row;
  m.p.bits = w.bits;
  m.rows = w.rows, m.cols = w.cols;
  m.t[kLutQweight] = w.packed, m.t[kLutTable] = w.lut;
  return m;
}
PackedMatrix packed_of(const GroupMatrix& w) {
  PackedMatrix m;
  static const Format& row = format("group");
  m.format = &row;
  m.p.bits = w.bits;
  m.p.group = w.group >= w.cols ? 0 : w.group;
  m.rows = w.rows, m.cols = w.cols;
  m.t[kGroupQweight] = w.packed, m.t[kGroupScales] = w.scales, m.t[kGroupZeros] = w.zeros, m.t[kGroupGidx] = w.g_idx;
  return m;
}
PackedMatrix packed_of(const Nf4Matrix& w) {
  PackedMatrix m;
  static const Format& row = format("nf4");
  m.format = &row;
  m.p.bits = 4;
  m.p.group = w.block;
  m.rows = w.rows, m.cols = w.cols;
  m.t[kNf4Qweight] = w.packed, m.t[kNf4Absmax] = w.absmax;
  return m;
}

}  // namespace detail

using detail::packed_of;

int64_t GroupMatrix::n_groups() const { return (cols + group - 1) / group; }

void lut_gemv(const LutMatrix& w, const CsrMatrix* s, const float* x, float* y) { packed_gemm(packed_of(w), s, x, 1, y); }
void lut_gemv_ref(const LutMatrix& w, const CsrMatrix* s, const float* x, float* y) { packed_gemm_ref(packed_of(w), s, x, 1, y); }
void lut_gemm(const LutMatrix& w, const CsrMatrix* s, const float* X, int64_t n, float* Y) { packed_gemm(packed_of(w), s, X, n, Y); }
void lut_dequant_rows(const LutMatrix& w, int64_t r0, int64_t r1, float* out) { packed_dequant(packed_of(w), nullptr, r0, r1, out); }

void group_gemv(const GroupMatrix& w, const float* x, float* y) { packed_gemm(packed_of(w), nullptr, x, 1, y); }
void group_gemv_ref(const GroupMatrix& w, const float* x, float* y) { packed_gemm_ref(packed_of(w), nullptr, x, 1, y); }
void group_gemm(const GroupMatrix& w, const float* X, int64_t n, float* Y) { packed_gemm(packed_of(w), nullptr, X, n, Y); }
void group_dequant_rows(const GroupMatrix& w, int64_t r0, int64_t r1, float* out) {
  packed_dequant(packed_of(w), nullptr, r0, r1, out);
}

void nf4_gemv(const Nf4Matrix& w, const float* x, float* y) { packed_gemm(packed_of(w), nullptr, x, 1, y); }
void nf4_gemv_ref(const Nf4Matrix& w, const float* x, float* y) { packed_gemm_ref(packed_of(w), nullptr, x, 1, y); }
void nf4_gemm(const Nf4Matrix& w, const float* X, int64_t n, float* Y) { packed_gemm(packed_of(w), nullptr, X, n, Y); }
void nf4_dequant_rows(const Nf4Matrix& w, int64_t r0, int64_t r1, float* out) { packed_dequant(packed_of(w), nullptr, r0, r1, out); }

// ---- W8A8 ----

void quantize_activations(const float* X, int64_t n, int64_t cols, ActQuant mode, float static_scale, int8_t* q,
                          float* scales) {
  const detail::RowOps& o = detail::ops();
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
  const detail::RowOps& o = detail::ops();
  parallel_row_ranges(w.rows, w.rows * w.cols * n, 1.0, nullptr, 0.0,
                      [&](int64_t r0, int64_t r1) { o.i8_rows(w, r0, r1, Xq, xsum.data(), xs, n, Y); });
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

// The format table (kernels/format.h): its assembly from the rows of formats.cpp and gguf_formats.cpp with
// the ISA files' kernel lists, parameter checks, and the one driver every packed format runs through.
#include "kernels/format.h"

#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/row_driver.h"

namespace sqz::kernels {

bool Format::allows_bits(int b) const { return std::find(bits.begin(), bits.end(), b) != bits.end(); }

std::string Format::bits_list() const {
  std::string s;
  for (int b : bits) s += (s.empty() ? "" : ", ") + std::to_string(b);
  return s;
}

int Format::tensor_index(std::string_view suffix) const {
  for (size_t i = 0; i < tensors.size(); ++i)
    if (suffix == tensors[i].suffix) return (int)i;
  return -1;
}

const std::array<TensorSpec, 3> kSparseTensors = {{
    {".sparse_row_ptr", DType::I32, true, [](int64_t rows, int64_t, const FormatParams&) -> Shape { return {rows + 1}; }},
    {".sparse_col_idx", DType::I32, true, [](int64_t, int64_t, const FormatParams&) -> Shape { return {-1}; }},
    {".sparse_values", DType::F16, true, [](int64_t, int64_t, const FormatParams&) -> Shape { return {-1}; }},
}};

namespace {

// The SIMD kernels of each row, taken by name from the ISA files' lists once.
struct Table {
  std::vector<Format> rows;
  Table() {
    for (auto part : {own_formats(), gguf_formats()})
      for (const Format* f : part) rows.push_back(*f);
    auto attach = [&](Isa isa, std::span<const detail::NamedFormatKernels> list) {
      for (const auto& k : list) {
        auto it = std::find_if(rows.begin(), rows.end(), [&](const Format& f) { return k.format == std::string_view(f.name); });
        SQZ_CHECK(it != rows.end(), "internal: {} kernels for unknown format {}", isa_name(isa), k.format);
        it->isa[(size_t)isa] = k.kernels;
      }
    };
    attach(Isa::Avx2, detail::avx2_format_kernels());
    attach(Isa::Avx2, detail::avx2_gguf_kernels());
    attach(Isa::Avx512, detail::avx512_format_kernels());
    attach(Isa::Avx512, detail::avx512_gguf_kernels());
  }
};

const Table& table() {
  static const Table t;
  return t;
}

}  // namespace

std::span<const Format> format_table() { return table().rows; }

const Format* find_format(std::string_view name) {
  for (const Format& f : table().rows)
    if (name == f.name) return &f;
  return nullptr;
}

std::string format_names() {
  std::string s;
  for (const Format& f : table().rows) s += (s.empty() ? "" : ", ") + std::string(f.name);
  return s;
}

const Format& format(std::string_view name) {
  if (const Format* f = find_format(name)) return *f;
  fail("unknown packed format \"{}\" (known: {})", name, format_names());
}

const Format* find_ggml_format(uint32_t ggml_type) {
  for (const Format& f : table().rows)
    if (f.ggml_type == ggml_type) return &f;
  return nullptr;
}

void check_params(const Format& f, const FormatParams& p, int64_t rows, int64_t cols, const std::string& where,
                  bool usage) {
  const std::string e = f.check ? f.check(p, rows, cols) : std::string();
  if (e.empty()) return;
  if (usage) usage_fail("{}: {}", where, e);
  fail("{}: {}", where, e);
}

namespace {

int64_t json_int(const nlohmann::json& q, const char* key, int64_t dflt, const std::string& where) {
  const auto it = q.find(key);
  if (it == q.end() || it->is_null()) return dflt;
  SQZ_CHECK(it->is_number_integer(), "{}: quantization_config \"{}\" is not an integer", where, key);
  return it->get<int64_t>();
}

}  // namespace

FormatParams params_from_json(const Format& f, const nlohmann::json& q, int64_t rows, int64_t cols,
                              const std::string& where) {
  SQZ_CHECK(q.is_object(), "{}: quantization_config is not an object", where);
  FormatParams p;
  if (!f.bits.empty()) {
    const int64_t b = json_int(q, "bits", f.bits.size() == 1 ? f.bits[0] : -1, where);
    SQZ_CHECK(b >= 0 && b <= 64, "{}: quantization_config bits = {} is not a width of format {} ({})", where, b, f.name,
              f.bits_list());
    p.bits = (int)b;
  }
  if (f.group_key) {
    p.group = json_int(q, f.group_key, 0, where);
    if (p.group == -1) p.group = 0;  // stored -1: one group per row
  }
  const auto dq = q.find("double_quant");
  if (dq != q.end() && !dq->is_null()) {
    SQZ_CHECK(dq->is_boolean(), "{}: quantization_config \"double_quant\" is not true or false", where);
    if (dq->get<bool>()) p.dq_block = json_int(q, "dq_block_size", 256, where);
    SQZ_CHECK(!dq->get<bool>() || p.dq_block > 0, "{}: quantization_config dq_block_size = {} is not positive", where,
              p.dq_block);
  }
  const auto act = q.find("act_quant");
  if (act != q.end() && !act->is_null()) {
    SQZ_CHECK(act->is_string() && parse_act_quant(act->get<std::string>(), p.act),
              "{}: quantization_config act_quant is not one of per_token, per_tensor_dynamic, per_tensor_static", where);
  }
  check_params(f, p, rows, cols, where);
  return p;
}

void params_to_json(const Format& f, const FormatParams& p, nlohmann::json& q) {
  q["format"] = f.name;
  if (!f.bits.empty()) q["bits"] = p.bits;
  if (f.group_key) q[f.group_key] = p.group > 0 ? p.group : -1;
  if (p.dq_block > 0) {
    q["double_quant"] = true;
    q["dq_block_size"] = p.dq_block;
  }
  if (f.quantized_activations) q["act_quant"] = act_quant_name(p.act);
}

// ---- the driver ----

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

const FormatKernels& kernels_for(const PackedMatrix& m, Isa isa) {
  for (int i = (int)isa; i > 0; --i) {
    const FormatKernels& k = m.format->isa[(size_t)i];
    if (k.rows && (!k.handles || k.handles(m.p))) return k;
  }
  return m.format->isa[0];
}

const FormatKernels& kernels_for(const PackedMatrix& m) { return kernels_for(m, active_isa()); }

namespace {

// Row kernels for n tokens (weights decoded once per pass over all of them) up to the measured crossover
// of the ISA and decode class; beyond it tiles of dequantized rows go to sgemm.
bool use_row_kernels(const PackedMatrix& m, const FormatKernels& k, int64_t n) {
  const int64_t max = kernel_tuning().row_kernel_max_tokens;
  if (max >= 0) return n <= max;
  if (&k == &m.format->isa[0]) return n <= 1;
  const RowDecode d = k.decode ? k.decode(m) : RowDecode::Table;
  return n <= row_kernel_max_tokens_for(active_isa(), d);
}

// Bytes a row reads, for balancing threads (a sparse entry reads 6 bytes plus an x value).
double row_cost(const PackedMatrix& m) { return (double)m.format->bytes(m.p, 1, m.cols); }
constexpr double kSparseEntryCost = 12.0;

}  // namespace

void csr_add_rows(const CsrMatrix& s, int64_t r0, int64_t r1, float* out) {
  for (int64_t r = r0; r < r1; ++r) {
    float* o = out + (r - r0) * s.cols;
    detail::for_csr_row(s, r, [&](int32_t c, float v) { o[c] += v; });
  }
}

void packed_gemm(const PackedMatrix& m, const CsrMatrix* s, const float* X, int64_t n, float* Y) {
  if (m.format->gemm) {
    m.format->gemm(m, X, n, Y);
    return;
  }
  const FormatKernels& k = kernels_for(m);
  if (use_row_kernels(m, k, n)) {
    parallel_row_ranges(m.rows, m.rows * m.cols * n, row_cost(m), s ? s->row_ptr : nullptr, kSparseEntryCost,
                        [&](int64_t r0, int64_t r1) { k.rows(m, s, r0, r1, X, n, Y, m.rows); });
    return;
  }
  // Tiles of rows expanded to fp32 (in parallel) and handed to sgemm (OpenBLAS threads), which writes
  // those output columns.
  const int64_t tile = std::min(m.rows, std::max<int64_t>(64, (int64_t{1} << 20) / std::max<int64_t>(m.cols, 1)));
  static thread_local std::vector<float> buf;
  if (buf.size() < (size_t)(tile * m.cols)) buf.resize((size_t)(tile * m.cols));
  for (int64_t r0 = 0; r0 < m.rows; r0 += tile) {
    const int64_t r1 = std::min(m.rows, r0 + tile);
    float* b = buf.data();
    parallel_row_ranges(r1 - r0, (r1 - r0) * m.cols, 1.0, nullptr, 0.0, [&](int64_t a, int64_t e) {
      k.dequant(m, r0 + a, r0 + e, b + a * m.cols);
      if (s) csr_add_rows(*s, r0 + a, r0 + e, b + a * m.cols);
    });
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)(r1 - r0), (int)m.cols, 1.0f, X, (int)m.cols, b,
                (int)m.cols, 0.0f, Y + r0, (int)m.rows);
  }
}

void packed_gemm_ref(const PackedMatrix& m, const CsrMatrix* s, const float* X, int64_t n, float* Y) {
  m.format->isa[0].rows(m, s, 0, m.rows, X, n, Y, m.rows);
}

void packed_dequant(const PackedMatrix& m, const CsrMatrix* s, int64_t r0, int64_t r1, float* out) {
  const FormatKernels& k = kernels_for(m);
  parallel_row_ranges(r1 - r0, (r1 - r0) * m.cols, 1.0, nullptr, 0.0, [&](int64_t a, int64_t b) {
    k.dequant(m, r0 + a, r0 + b, out + a * m.cols);
    if (s) csr_add_rows(*s, r0 + a, r0 + b, out + a * m.cols);
  });
}

void packed_dequant_ref(const PackedMatrix& m, int64_t r0, int64_t r1, float* out) {
  m.format->isa[0].dequant(m, r0, r1, out);
}

size_t packed_bytes(const PackedMatrix& m, const CsrMatrix* s) {
  size_t b = m.format->bytes(m.p, m.rows, m.cols);
  if (s) b += (size_t)(s->rows + 1) * 4 + (size_t)s->nnz() * 6;
  return b;
}

// ---- packed tensors (GGUF block types) ----

PackedMatrix packed_view(const TensorView& t) {
  const Format& f = format(t.packed_format);
  SQZ_CHECK(t.shape.size() == 2, "{}: packed tensor of format {} has shape {}, expected 2 dimensions", t.source, f.name,
            shape_str(t.shape));
  PackedMatrix m;
  m.format = &f;
  m.rows = t.shape[0], m.cols = t.shape[1];
  check_params(f, m.p, m.rows, m.cols, t.source);
  const size_t want = f.bytes(m.p, m.rows, m.cols);
  SQZ_CHECK(t.nbytes == want, "{}: packed tensor of format {} [{}, {}] has {} bytes, expected {}", t.source, f.name, m.rows,
            m.cols, t.nbytes, want);
  SQZ_CHECK(f.tensors.size() == 1, "internal: format {} is not a single-tensor format", f.name);
  m.t[0] = t.data;
  m.numel[0] = (int64_t)t.nbytes;
  if (f.validate) f.validate(m, t.source);
  return m;
}

void tensor_rows_to_f32(const TensorView& t, int64_t r0, int64_t r1, float* out) {
  if (t.packed_format.empty()) {
    const int64_t cols = t.shape.size() >= 2 ? t.numel() / t.shape[0] : t.numel();
    convert_to_f32(t, out, r0 * cols, (r1 - r0) * cols);
    return;
  }
  packed_dequant(packed_view(t), nullptr, r0, r1, out);
}

std::vector<float> tensor_to_f32(const TensorView& t) {
  std::vector<float> v((size_t)t.numel());
  if (t.packed_format.empty()) {
    convert_to_f32(t, v.data());
    return v;
  }
  tensor_rows_to_f32(t, 0, t.shape[0], v.data());
  return v;
}

}  // namespace sqz::kernels

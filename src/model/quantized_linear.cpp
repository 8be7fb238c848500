#include "model/quantized_linear.h"

#include <fmt/format.h>

#include "core/error.h"
#include "kernels/format.h"

namespace sqz {

namespace {

class PackedLinear : public Linear {
 public:
  PackedLinear(kernels::PackedMatrix m, std::optional<kernels::CsrMatrix> s)
      : Linear(m.cols, m.rows), m_(std::move(m)), s_(s) {}
  void dequantize(float* W) const override { kernels::packed_dequant(m_, sparse(), 0, m_.rows, W); }
  size_t weight_bytes() const override { return kernels::packed_bytes(m_, sparse()); }
  std::string format() const override { return m_.format->label(m_.p) + (s_ ? "+csr" : ""); }
  const kernels::PackedMatrix* packed() const override { return &m_; }
  const kernels::CsrMatrix* sparse() const override { return s_ ? &*s_ : nullptr; }

 protected:
  void matmul(const float* X, int64_t n, float* Y) const override { kernels::packed_gemm(m_, sparse(), X, n, Y); }

 private:
  kernels::PackedMatrix m_;
  std::optional<kernels::CsrMatrix> s_;
};

// Whether a tensor matches a schema shape, where -1 stands for any length.
bool shape_matches(const Shape& got, const Shape& want) {
  if (got.size() != want.size()) return false;
  for (size_t i = 0; i < got.size(); ++i)
    if (want[i] != -1 && got[i] != want[i]) return false;
  return true;
}

const TensorView* schema_tensor(const TensorLookup& find, const kernels::TensorSpec& spec, const std::string& base,
                                const Shape& want, const std::string& source) {
  const TensorView* t = find(base + spec.suffix);
  if (!t) {
    SQZ_CHECK(spec.optional, "{}: missing tensor {}{}", source, base, spec.suffix);
    return nullptr;
  }
  SQZ_CHECK(t->dtype == spec.dtype && t->packed_format.empty(), "{}: tensor {}{} has dtype {}, expected {}", source, base,
            spec.suffix, dtype_name(t->dtype), dtype_name(spec.dtype));
  SQZ_CHECK(shape_matches(t->shape, want), "{}: tensor {}{} has shape {}, expected {}", source, base, spec.suffix,
            shape_str(t->shape), shape_str(want));
  return t;
}

// The CSR part of dense-and-sparse weights, checked entry by entry (a bad column index would be read out of
// bounds by every kernel).
std::optional<kernels::CsrMatrix> sparse_part(const TensorLookup& find, const std::string& base, int64_t out, int64_t in,
                                              const std::string& source) {
  const auto& specs = kernels::kSparseTensors;
  const TensorView* rp = schema_tensor(find, specs[0], base, specs[0].shape(out, in, {}), source);
  if (!rp) return std::nullopt;
  kernels::CsrMatrix m;
  m.rows = out;
  m.cols = in;
  m.row_ptr = rp->as<int32_t>();
  const int64_t nnz = m.row_ptr[out];
  SQZ_CHECK(m.row_ptr[0] == 0 && nnz >= 0, "{}: {}.sparse_row_ptr is not a valid CSR row pointer", source, base);
  for (int64_t r = 0; r < out; ++r)
    SQZ_CHECK(m.row_ptr[r] <= m.row_ptr[r + 1], "{}: {}.sparse_row_ptr decreases at row {}", source, base, r);
  m.col_idx = schema_tensor(find, {specs[1].suffix, specs[1].dtype, false, nullptr}, base, {nnz}, source)->as<int32_t>();
  m.values = schema_tensor(find, {specs[2].suffix, specs[2].dtype, false, nullptr}, base, {nnz}, source)->as<uint16_t>();
  for (int64_t i = 0; i < nnz; ++i) {
    SQZ_CHECK(m.col_idx[i] >= 0 && m.col_idx[i] < in, "{}: {}.sparse_col_idx[{}] = {} is outside [0, {})", source, base, i,
              m.col_idx[i], in);
    SQZ_CHECK((m.values[i] & 0x7c00) != 0x7c00, "{}: {}.sparse_values[{}] is not finite", source, base, i);
  }
  return m;
}

}  // namespace

LinearFormat linear_format(const nlohmann::json& q, const std::string& base, int64_t out, int64_t in,
                           const std::string& source) {
  SQZ_CHECK(q.is_object(), "{}: quantization_config is not an object", source);
  // A plan that mixes formats (sqz quantize --bpw) stores each linear's own entry under "linears".
  const nlohmann::json* cfg = &q;
  if (auto it = q.find("linears"); it != q.end() && it->is_object())
    if (auto own = it->find(base); own != it->end()) {
      SQZ_CHECK(own->is_object(), "{}: quantization_config.linears[\"{}\"] is not an object", source, base);
      cfg = &*own;
    }
  std::string name;
  if (auto f = cfg->find("format"); f != cfg->end()) {
    SQZ_CHECK(f->is_string(), "{}: quantization_config \"format\" is not a string", source);
    name = f->get<std::string>();
  } else {
    // Directories written before the format table name only their method.
    const std::string method = q.value("method", q.value("quant_method", std::string()));
    name = method == "squeezellm" ? "lut"
           : method == "rtn" || method == "gptq" || method == "awq" ? "group"
           : method == "nf4" ? "nf4"
           : method == "smoothquant" ? "w8a8"
                                     : "";
    SQZ_CHECK(!name.empty(), "{}: quantization_config names no format (method \"{}\"); re-run `sqz quantize` on the original model",
              source, method);
  }
  const kernels::Format* f = kernels::find_format(name);
  SQZ_CHECK(f, "{}: quantization_config format \"{}\" is not one this sqz reads ({}); re-run `sqz quantize` on the original "
            "model", source, name, kernels::format_names());
  const std::string where = fmt::format("{}: {}", source, base);
  LinearFormat lf{f, kernels::params_from_json(*f, *cfg, out, in, where)};
  // 3-bit indices changed layout once (docs/format.md); an older file would decode to wrong weights.
  const int64_t packing = q.value("index_packing", int64_t{1});
  SQZ_CHECK(!f->index_packing || lf.params.bits != 3 || packing == kernels::kIndexPacking,
            "{}: 3-bit indices in index_packing {} (written by an older sqz); this version reads index_packing {} only: "
            "re-run `sqz quantize`",
            source, packing, kernels::kIndexPacking);
  return lf;
}

std::unique_ptr<Linear> make_quantized_linear(const TensorLookup& find, const nlohmann::json& q, const std::string& base,
                                              int64_t out, int64_t in, const std::string& source) {
  if (q.is_null()) return nullptr;
  const LinearFormat lf = linear_format(q, base, out, in, source);
  const kernels::Format& f = *lf.format;
  if (!find(base + f.tensors[0].suffix)) return nullptr;  // this linear is not quantized (e.g. lm_head)
  kernels::PackedMatrix m;
  m.format = &f;
  m.p = lf.params;
  m.rows = out;
  m.cols = in;
  for (size_t i = 0; i < f.tensors.size(); ++i) {
    const kernels::TensorSpec& spec = f.tensors[i];
    if (const TensorView* t = schema_tensor(find, spec, base, spec.shape(out, in, m.p), source)) {
      m.t[i] = t->data;
      m.numel[i] = t->numel();
    }
  }
  std::optional<kernels::CsrMatrix> s;
  if (f.sparse) s = sparse_part(find, base, out, in, source);
  if (f.validate) f.validate(m, fmt::format("{}: {}", source, base));
  return std::make_unique<PackedLinear>(std::move(m), s);
}

std::unique_ptr<Linear> make_quantized_linear(const Checkpoint& ckpt, const std::string& base, int64_t out, int64_t in) {
  return make_quantized_linear([&](const std::string& n) { return ckpt.find(n); }, ckpt.quantization_config, base, out,
                               in, ckpt.path);
}

std::unique_ptr<Linear> make_packed_tensor_linear(const TensorView& w) {
  return std::make_unique<PackedLinear>(kernels::packed_view(w), std::nullopt);
}

}  // namespace sqz

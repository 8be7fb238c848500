#include "model/quantized_linear.h"

#include <fmt/format.h>

#include "core/error.h"
#include "kernels/cpu/formats.h"

namespace sqz {

namespace {

struct TensorGetter {
  const TensorLookup& find;
  const std::string& base;
  const std::string& source;

  const TensorView* opt(const std::string& suffix) const { return find(base + suffix); }
  const TensorView& req(const std::string& suffix, DType dt, const Shape& shape) const {
    const TensorView* t = find(base + suffix);
    SQZ_CHECK(t, "{}: missing tensor {}{}", source, base, suffix);
    SQZ_CHECK(t->dtype == dt, "{}: tensor {}{} has dtype {}, expected {}", source, base, suffix, dtype_name(t->dtype),
              dtype_name(dt));
    SQZ_CHECK(t->shape == shape, "{}: tensor {}{} has shape {}, expected {}", source, base, suffix, shape_str(t->shape),
              shape_str(shape));
    return *t;
  }
};

int config_bits(const nlohmann::json& q, const std::string& source) {
  SQZ_CHECK(q.contains("bits") && q["bits"].is_number_integer(), "{}: quantization_config has no integer \"bits\"", source);
  const int b = q["bits"].get<int>();
  SQZ_CHECK(b >= 2 && b <= 8, "{}: quantization_config bits = {} is not supported", source, b);
  // 3-bit indices changed layout once (docs/format.md); an older file would decode to wrong weights.
  const int packing = q.value("index_packing", 1);
  SQZ_CHECK(b != 3 || packing == kernels::kIndexPacking,
            "{}: 3-bit indices in index_packing {} (written by an older sqz); this version reads index_packing {} only: "
            "re-run `sqz quantize`",
            source, packing, kernels::kIndexPacking);
  return b;
}

class LutLinear : public Linear {
 public:
  LutLinear(kernels::LutMatrix w, std::optional<kernels::CsrMatrix> s) : Linear(w.cols, w.rows), w_(w), s_(s) {}
  void dequantize(float* W) const override {
    kernels::lut_dequant_rows(w_, 0, w_.rows, W);
    if (s_) kernels::csr_add_rows(*s_, 0, w_.rows, W);
  }
  size_t weight_bytes() const override {
    size_t b = (size_t)w_.rows * kernels::packed_words_per_row(w_.bits, w_.cols) * 4 + (size_t)w_.rows * (1u << w_.bits) * 2;
    if (s_) b += (size_t)(s_->rows + 1) * 4 + (size_t)s_->nnz() * 6;
    return b;
  }
  std::string format() const override { return fmt::format("lut{}{}", w_.bits, s_ ? "+csr" : ""); }

 protected:
  void matmul(const float* X, int64_t n, float* Y) const override {
    const kernels::CsrMatrix* sp = s_ ? &*s_ : nullptr;
    if (n == 1)
      kernels::lut_gemv(w_, sp, X, Y);
    else
      kernels::lut_gemm(w_, sp, X, n, Y);
  }

 private:
  kernels::LutMatrix w_;
  std::optional<kernels::CsrMatrix> s_;
};

class GroupLinear : public Linear {
 public:
  explicit GroupLinear(kernels::GroupMatrix w) : Linear(w.cols, w.rows), w_(w) {}
  void dequantize(float* W) const override { kernels::group_dequant_rows(w_, 0, w_.rows, W); }
  size_t weight_bytes() const override {
    return (size_t)w_.rows * kernels::packed_words_per_row(w_.bits, w_.cols) * 4 + (size_t)w_.rows * w_.n_groups() * 4 +
           (w_.g_idx ? (size_t)w_.cols * 4 : 0);
  }
  std::string format() const override {
    return w_.group >= w_.cols ? fmt::format("int{}", w_.bits) : fmt::format("int{}g{}", w_.bits, w_.group);
  }

 protected:
  void matmul(const float* X, int64_t n, float* Y) const override {
    if (n == 1)
      kernels::group_gemv(w_, X, Y);
    else
      kernels::group_gemm(w_, X, n, Y);
  }

 private:
  kernels::GroupMatrix w_;
};

class Nf4Linear : public Linear {
 public:
  // `absmax` is non-empty when the stored scales were double-quantized and had to be expanded at load.
  Nf4Linear(kernels::Nf4Matrix w, std::vector<float> absmax, size_t scale_bytes)
      : Linear(w.cols, w.rows), w_(w), absmax_(std::move(absmax)), scale_bytes_(scale_bytes) {
    if (!absmax_.empty()) w_.absmax = absmax_.data();
  }
  void dequantize(float* W) const override { kernels::nf4_dequant_rows(w_, 0, w_.rows, W); }
  size_t weight_bytes() const override {
    return (size_t)w_.rows * kernels::packed_words_per_row(4, w_.cols) * 4 + scale_bytes_;
  }
  std::string format() const override { return absmax_.empty() ? "nf4" : "nf4+dq"; }

 protected:
  void matmul(const float* X, int64_t n, float* Y) const override {
    if (n == 1)
      kernels::nf4_gemv(w_, X, Y);
    else
      kernels::nf4_gemm(w_, X, n, Y);
  }

 private:
  kernels::Nf4Matrix w_;
  std::vector<float> absmax_;
  size_t scale_bytes_;
};

class Int8Linear : public Linear {
 public:
  Int8Linear(kernels::Int8Matrix w, kernels::ActQuant mode, float static_scale)
      : Linear(w.cols, w.rows), w_(w), mode_(mode), static_scale_(static_scale) {}
  void dequantize(float* W) const override {
    for (int64_t r = 0; r < w_.rows; ++r)
      for (int64_t c = 0; c < w_.cols; ++c) W[r * w_.cols + c] = (float)w_.q[r * w_.cols + c] * w_.scale[r];
  }
  size_t weight_bytes() const override { return (size_t)(w_.rows * w_.cols) + (size_t)w_.rows * 4; }
  std::string format() const override { return "w8a8"; }

 protected:
  void matmul(const float* X, int64_t n, float* Y) const override {
    kernels::w8a8_gemm(w_, X, n, mode_, static_scale_, Y);
  }

 private:
  kernels::Int8Matrix w_;
  kernels::ActQuant mode_;
  float static_scale_;
};

}  // namespace

std::unique_ptr<Linear> make_quantized_linear(const TensorLookup& find, const nlohmann::json& q, const std::string& base,
                                              int64_t out, int64_t in, const std::string& source) {
  TensorGetter get{find, base, source};
  if (get.opt(".lut")) {
    const int bits = config_bits(q, source);
    kernels::LutMatrix w;
    w.bits = bits;
    w.rows = out;
    w.cols = in;
    w.packed = get.req(".qweight", DType::U32, {out, kernels::packed_words_per_row(bits, in)}).as<uint32_t>();
    w.lut = get.req(".lut", DType::F16, {out, int64_t{1} << bits}).as<uint16_t>();
    std::optional<kernels::CsrMatrix> s;
    if (get.opt(".sparse_row_ptr")) {
      kernels::CsrMatrix m;
      m.rows = out;
      m.cols = in;
      m.row_ptr = get.req(".sparse_row_ptr", DType::I32, {out + 1}).as<int32_t>();
      const int64_t nnz = m.row_ptr[out];
      SQZ_CHECK(m.row_ptr[0] == 0 && nnz >= 0, "{}: {}.sparse_row_ptr is not a valid CSR row pointer", source, base);
      for (int64_t r = 0; r < out; ++r)
        SQZ_CHECK(m.row_ptr[r] <= m.row_ptr[r + 1], "{}: {}.sparse_row_ptr decreases at row {}", source, base, r);
      m.col_idx = get.req(".sparse_col_idx", DType::I32, {nnz}).as<int32_t>();
      m.values = get.req(".sparse_values", DType::F16, {nnz}).as<uint16_t>();
      for (int64_t i = 0; i < nnz; ++i)
        SQZ_CHECK(m.col_idx[i] >= 0 && m.col_idx[i] < in, "{}: {}.sparse_col_idx[{}] = {} is outside [0, {})", source,
                  base, i, m.col_idx[i], in);
      s = m;
    }
    return std::make_unique<LutLinear>(w, s);
  }
  if (get.opt(".scales")) {
    const int bits = config_bits(q, source);
    kernels::GroupMatrix w;
    w.bits = bits;
    w.rows = out;
    w.cols = in;
    const int64_t group = q.value("group_size", int64_t{-1});
    w.group = group <= 0 ? in : group;
    w.packed = get.req(".qweight", DType::U32, {out, kernels::packed_words_per_row(bits, in)}).as<uint32_t>();
    if (const TensorView* g = get.opt(".g_idx")) {
      w.g_idx = get.req(".g_idx", DType::I32, {in}).as<int32_t>();
      (void)g;
    }
    const int64_t ng = w.n_groups();
    w.scales = get.req(".scales", DType::F16, {out, ng}).as<uint16_t>();
    w.zeros = get.req(".qzeros", DType::F16, {out, ng}).as<uint16_t>();
    if (w.g_idx)
      for (int64_t c = 0; c < in; ++c)
        SQZ_CHECK(w.g_idx[c] >= 0 && w.g_idx[c] < ng, "{}: {}.g_idx[{}] = {} is outside [0, {})", source, base, c,
                  w.g_idx[c], ng);
    return std::make_unique<GroupLinear>(w);
  }
  if (get.opt(".absmax") || get.opt(".absmax_q")) {
    kernels::Nf4Matrix w;
    w.rows = out;
    w.cols = in;
    w.block = q.value("block_size", int64_t{64});
    const int64_t nb = (out * in + w.block - 1) / w.block;
    w.packed = get.req(".qweight", DType::U32, {out, kernels::packed_words_per_row(4, in)}).as<uint32_t>();
    if (get.opt(".absmax")) {
      w.absmax = get.req(".absmax", DType::F32, {nb}).as<float>();
      return std::make_unique<Nf4Linear>(w, std::vector<float>{}, (size_t)nb * 4);
    }
    // Double quantization (QLoRA): absmax = int8 code * scale of its block of dq_block + mean.
    const int64_t dqb = q.value("dq_block_size", int64_t{256});
    const int64_t nd = (nb + dqb - 1) / dqb;
    const int8_t* aq = get.req(".absmax_q", DType::I8, {nb}).as<int8_t>();
    const float* ds = get.req(".absmax_dq_scale", DType::F32, {nd}).as<float>();
    const float mean = get.req(".absmax_dq_mean", DType::F32, {1}).as<float>()[0];
    std::vector<float> absmax((size_t)nb);
    for (int64_t i = 0; i < nb; ++i) absmax[(size_t)i] = (float)aq[i] * ds[i / dqb] + mean;
    return std::make_unique<Nf4Linear>(w, std::move(absmax), (size_t)nb + (size_t)nd * 4 + 4);
  }
  if (get.opt(".qweight_i8")) {
    kernels::Int8Matrix w;
    w.rows = out;
    w.cols = in;
    w.q = get.req(".qweight_i8", DType::I8, {out, in}).as<int8_t>();
    w.scale = get.req(".wscale", DType::F32, {out}).as<float>();
    const std::string mode = q.value("act_quant", std::string("per_token"));
    kernels::ActQuant m = kernels::ActQuant::PerToken;
    float static_scale = 0.f;
    if (mode == "per_tensor_dynamic") {
      m = kernels::ActQuant::PerTensorDynamic;
    } else if (mode == "per_tensor_static") {
      m = kernels::ActQuant::PerTensorStatic;
      static_scale = get.req(".act_scale", DType::F32, {1}).as<float>()[0];
    } else {
      SQZ_CHECK(mode == "per_token", "{}: unknown act_quant \"{}\"", source, mode);
    }
    return std::make_unique<Int8Linear>(w, m, static_scale);
  }
  return nullptr;
}

std::unique_ptr<Linear> make_quantized_linear(const Checkpoint& ckpt, const std::string& base, int64_t out, int64_t in) {
  return make_quantized_linear([&](const std::string& n) { return ckpt.find(n); }, ckpt.quantization_config, base, out,
                               in, ckpt.path);
}

}  // namespace sqz

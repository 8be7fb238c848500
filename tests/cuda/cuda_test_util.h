// Shared by the cuda tests and bench/bench_cuda.cpp: a LlamaModel whose linears are replaced by a format's
// reference encoding (the format row's encode()), optionally with a CSR part, so the CPU and GPU paths can
// run the same packed weights.
#pragma once
#include <fmt/format.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/half.h"
#include "kernels/format.h"
#include "model/llama.h"
#include "model/quantized_linear.h"

namespace sqz::cuda_test {

// Owns the encoded tensors the replaced linears view.
struct EncodedStore {
  std::map<std::string, OwnedTensor> tensors;
  std::map<std::string, TensorView> views;
};

// A CSR part with entries at every `stride`-th column of each row (offset by the row), small fp16 values.
inline void add_csr(EncodedStore& st, const std::string& base, int64_t rows, int64_t cols, int64_t stride, uint64_t seed) {
  std::vector<int32_t> rp((size_t)rows + 1, 0), ci;
  std::vector<uint16_t> vals;
  uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = r % stride; c < cols; c += stride) {
      s = s * 6364136223846793005ULL + 1442695040888963407ULL;
      ci.push_back((int32_t)c);
      vals.push_back(f32_to_fp16(0.02f * ((float)((s >> 40) % 1000) / 500.f - 1.f)));
    }
    rp[(size_t)r + 1] = (int32_t)ci.size();
  }
  st.tensors[base + ".sparse_row_ptr"] = OwnedTensor::from(DType::I32, {rows + 1}, rp);
  st.tensors[base + ".sparse_col_idx"] = OwnedTensor::from(DType::I32, {(int64_t)ci.size()}, ci);
  st.tensors[base + ".sparse_values"] = OwnedTensor::from(DType::F16, {(int64_t)vals.size()}, vals);
}

// Replaces every linear of `model` (not the head) by the reference encoding of its weights in `format`
// with `params` (qconfig keys as stored, e.g. {"bits": 3}); csr_stride > 0 adds a CSR part to formats
// that carry one.
inline void encode_linears(LlamaModel& model, const std::string& format, const nlohmann::json& params, EncodedStore& st,
                           int64_t csr_stride = 0) {
  const kernels::Format& f = kernels::format(format);
  nlohmann::json q = params;
  q["format"] = format;
  std::vector<std::pair<std::string, std::unique_ptr<Linear>*>> slots;
  for (size_t l = 0; l < model.layers().size(); ++l) {
    auto& ls = model.layers()[l].linear;
    for (int i = 0; i < kNumSlots; ++i) slots.push_back({linear_name((int)l, i), &ls[(size_t)i]});
  }
  for (auto& [base, slot] : slots) {
    Linear& lin = **slot;
    const int64_t rows = lin.out_features(), cols = lin.in_features();
    const kernels::FormatParams p = kernels::params_from_json(f, q, rows, cols, base);
    const std::vector<float> W = lin.dequantize();
    std::vector<OwnedTensor> ts = f.encode(W.data(), rows, cols, p, nullptr);
    for (size_t i = 0; i < ts.size(); ++i)
      if (!ts[i].bytes.empty() || !ts[i].shape.empty()) st.tensors[base + f.tensors[i].suffix] = std::move(ts[i]);
    if (csr_stride > 0 && f.sparse) add_csr(st, base, rows, cols, csr_stride, std::hash<std::string>{}(base));
    for (const auto& [name, t] : st.tensors) st.views[name] = t.view("<encoded>");
    auto lookup = [&](const std::string& name) -> const TensorView* {
      auto it = st.views.find(name);
      return it == st.views.end() ? nullptr : &it->second;
    };
    std::vector<float> bias = lin.bias();
    *slot = make_quantized_linear(lookup, q, base, rows, cols, "<encoded>");
    (*slot)->set_bias(std::move(bias));
  }
}

}  // namespace sqz::cuda_test

#include "quant/methods/packing.h"

#include "core/half.h"
#include "kernels/cpu/formats.h"

namespace sqz::quant {

OwnedTensor pack_codes(int bits, const std::vector<uint8_t>& codes, int64_t rows, int64_t cols) {
  const int64_t words = kernels::packed_words_per_row(bits, cols);
  std::vector<uint32_t> packed((size_t)(rows * words));
  for (int64_t r = 0; r < rows; ++r) kernels::pack_row(bits, codes.data() + r * cols, cols, packed.data() + r * words);
  return OwnedTensor::from(DType::U32, {rows, words}, packed);
}

static std::vector<uint16_t> to_fp16(const std::vector<float>& v) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = f32_to_fp16(v[i]);
  return h;
}

QuantizedTensors store_lut(const SqueezeLlmResult& r, const SparseSplit* split) {
  QuantizedTensors t;
  t.emplace_back(".qweight", pack_codes(r.bits, r.idx, r.rows, r.cols));
  t.emplace_back(".lut", OwnedTensor::from(DType::F16, {r.rows, int64_t{1} << r.bits}, to_fp16(r.lut)));
  if (split && split->nnz() > 0) {
    t.emplace_back(".sparse_row_ptr", OwnedTensor::from(DType::I32, {r.rows + 1}, split->row_ptr));
    t.emplace_back(".sparse_col_idx", OwnedTensor::from(DType::I32, {split->nnz()}, split->col_idx));
    // Residuals w - lut[idx], so that lut[idx] + S reproduces w at those positions.
    t.emplace_back(".sparse_values", OwnedTensor::from(DType::F16, {split->nnz()}, r.sparse_values));
  }
  return t;
}

QuantizedTensors store_group(const GroupQuant& g) {
  QuantizedTensors t;
  const int64_t ng = g.n_groups();
  t.emplace_back(".qweight", pack_codes(g.bits, g.q, g.rows, g.cols));
  t.emplace_back(".scales", OwnedTensor::from(DType::F16, {g.rows, ng}, to_fp16(g.scales)));
  t.emplace_back(".qzeros", OwnedTensor::from(DType::F16, {g.rows, ng}, to_fp16(g.zeros)));
  if (!g.g_idx.empty()) t.emplace_back(".g_idx", OwnedTensor::from(DType::I32, {g.cols}, g.g_idx));
  return t;
}

QuantizedTensors store_nf4(const Nf4Result& r) {
  QuantizedTensors t;
  t.emplace_back(".qweight", pack_codes(4, r.codes, r.rows, r.cols));
  const int64_t nb = (int64_t)r.absmax.size();
  if (r.double_quant) {
    t.emplace_back(".absmax_q", OwnedTensor::from(DType::I8, {nb}, r.absmax_q));
    t.emplace_back(".absmax_dq_scale", OwnedTensor::from(DType::F32, {(int64_t)r.dq_scale.size()}, r.dq_scale));
    t.emplace_back(".absmax_dq_mean", OwnedTensor::from(DType::F32, {1}, std::vector<float>{r.dq_mean}));
  } else {
    t.emplace_back(".absmax", OwnedTensor::from(DType::F32, {nb}, r.absmax));
  }
  return t;
}

}  // namespace sqz::quant

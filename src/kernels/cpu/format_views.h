// Internal: sqz's own formats as the typed views their kernels work on (formats.h), from a PackedMatrix
// whose tensors follow the row's schema order (formats.cpp), and back (for the typed entry points).
#pragma once
#include "kernels/cpu/ops.h"
#include "kernels/format.h"

namespace sqz::kernels::detail {

PackedMatrix packed_of(const LutMatrix& w);
PackedMatrix packed_of(const GroupMatrix& w);
PackedMatrix packed_of(const Nf4Matrix& w);

// Internal linkage: the ISA files compile these with their own instruction sets, and one shared inline
// copy could hand AVX-512 code to the AVX2 or scalar kernels (as in sparse_row.h).
namespace {

// Schema positions, as listed in the rows of formats.cpp.
enum LutTensor { kLutQweight = 0, kLutTable };
enum GroupTensor { kGroupQweight = 0, kGroupScales, kGroupZeros, kGroupGidx };
enum Nf4Tensor { kNf4Qweight = 0, kNf4Absmax, kNf4AbsmaxQ, kNf4DqScale, kNf4DqMean };
enum W8a8Tensor { kW8a8Q = 0, kW8a8Scale, kW8a8ActScale };

// Columns per group of a uniform-group matrix (group_size <= 0 or >= cols: one group per row).
inline int64_t group_size_of(const FormatParams& p, int64_t cols) { return p.group > 0 && p.group < cols ? p.group : cols; }

inline LutMatrix lut_of(const PackedMatrix& m) {
  return LutMatrix{m.p.bits, m.rows, m.cols, m.at<uint32_t>(kLutQweight), m.at<uint16_t>(kLutTable)};
}
inline GroupMatrix group_of(const PackedMatrix& m) {
  return GroupMatrix{m.p.bits,
                     m.rows,
                     m.cols,
                     group_size_of(m.p, m.cols),
                     m.at<uint32_t>(kGroupQweight),
                     m.at<uint16_t>(kGroupScales),
                     m.at<uint16_t>(kGroupZeros),
                     m.at<int32_t>(kGroupGidx)};
}
// The absmax the kernels read: stored fp32, or expanded at load from the double-quantized form.
inline Nf4Matrix nf4_of(const PackedMatrix& m) {
  const float* absmax = m.t[kNf4Absmax] ? m.at<float>(kNf4Absmax) : m.owned ? m.owned->data() : nullptr;
  return Nf4Matrix{m.rows, m.cols, m.p.group, m.at<uint32_t>(kNf4Qweight), absmax};
}
inline Int8Matrix int8_of(const PackedMatrix& m) {
  return Int8Matrix{m.rows, m.cols, m.at<int8_t>(kW8a8Q), m.at<float>(kW8a8Scale)};
}

// A typed kernel as a row kernel of the table: View turns the matrix into the kernel's typed argument.
template <auto Fn, auto View>
void rows_with_sparse(const PackedMatrix& m, const CsrMatrix* s, int64_t r0, int64_t r1, const float* X, int64_t n,
                      float* Y, int64_t ldy) {
  Fn(View(m), s, r0, r1, X, n, Y, ldy);
}
template <auto Fn, auto View>
void rows_dense(const PackedMatrix& m, const CsrMatrix*, int64_t r0, int64_t r1, const float* X, int64_t n, float* Y,
                int64_t ldy) {
  Fn(View(m), r0, r1, X, n, Y, ldy);
}
template <auto Fn, auto View>
void dequant_rows(const PackedMatrix& m, int64_t r0, int64_t r1, float* out) {
  Fn(View(m), r0, r1, out);
}

// The batched-path class of each format's SIMD kernels (kernels/cpu/tuning.h).
inline RowDecode lut_decode(const PackedMatrix&) { return RowDecode::Table; }
inline RowDecode group_decode(const PackedMatrix& m) {
  const GroupMatrix g = group_of(m);
  return g.bits == 8 || !group_aligned(g) ? RowDecode::PerLane : RowDecode::Table;
}
inline RowDecode nf4_decode(const PackedMatrix& m) { return nf4_aligned(nf4_of(m)) ? RowDecode::Table : RowDecode::PerLane; }

}  // namespace
}  // namespace sqz::kernels::detail

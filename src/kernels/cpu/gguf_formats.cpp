// The rows of the GGUF block types in the format table (kernels/format.h), one per type of
// gguf_blocks.h: a matrix is one tensor of row-major blocks, `.qweight` U8 [rows, bytes per row] in an sqz
// directory, or a GGUF file's tensor as it is (TensorView::packed_format). Its scalar reference decodes a
// row with the block type's decoder and takes fp32 dot products; its encoder is the block type's
// (llama.cpp's quantizers, importance-weighted where they are).
#include <fmt/format.h>

#include <deque>
#include <string>

#include "core/error.h"
#include "kernels/cpu/gguf_blocks.h"
#include "kernels/cpu/row_driver.h"

namespace sqz::kernels {

namespace {

const gguf::BlockType& block_type(const PackedMatrix& m) {
  const gguf::BlockType* t = gguf::find_block_type(m.format->ggml_type);
  SQZ_CHECK(t, "internal: format {} has no GGUF block type", m.format->name);
  return *t;
}

void gguf_dequant_ref(const PackedMatrix& m, int64_t r0, int64_t r1, float* out) {
  const gguf::BlockType& t = block_type(m);
  const int64_t rb = gguf::row_bytes(t, m.cols);
  const uint8_t* data = m.at<uint8_t>(0);
  for (int64_t r = r0; r < r1; ++r) t.dequant(data + r * rb, out + (r - r0) * m.cols, m.cols);
}

Format make_row(const gguf::BlockType& t) {
  // Row strings live as long as the table.
  static std::deque<std::string> text;
  Format f;
  f.name = t.name;
  text.push_back(fmt::format("GGUF {}: blocks of {} weights in {} bytes ({:.4g} bits per weight)", t.ggml_name,
                             t.block_weights, t.block_bytes, 8.0 * (double)t.block_bytes / (double)t.block_weights));
  f.summary = text.back().c_str();
  f.doc = "docs/format.md#gguf-block-types";
  f.ggml_type = t.ggml_type;
  f.isa[0] = {detail::rows_by_dequant<gguf_dequant_ref>, gguf_dequant_ref};
  return f;
}

// The per-type functions need the block type without a lookup argument: one instantiation per table index.
template <size_t I>
struct PerType {
  static const gguf::BlockType& t() { return gguf::block_types()[I]; }
  static std::string check(const FormatParams& p, int64_t, int64_t cols) {
    if (p.bits != 0) return fmt::format("format {} takes no bit width (got {})", t().name, p.bits);
    if (cols % t().block_weights != 0)
      return fmt::format("rows of {} weights are not a multiple of {}'s {}-weight blocks", cols, t().ggml_name,
                         t().block_weights);
    return "";
  }
  static Shape shape(int64_t rows, int64_t cols, const FormatParams&) { return {rows, gguf::row_bytes(t(), cols)}; }
  static size_t bytes(const FormatParams&, int64_t rows, int64_t cols) { return (size_t)(rows * gguf::row_bytes(t(), cols)); }
  static std::string label(const FormatParams&) { return t().name; }
  static std::vector<OwnedTensor> encode(const float* W, int64_t rows, int64_t cols, const FormatParams&,
                                         const float* importance) {
    const int64_t rb = gguf::row_bytes(t(), cols);
    std::vector<uint8_t> out((size_t)(rows * rb));
    for (int64_t r = 0; r < rows; ++r)
      t().quantize(W + r * cols, out.data() + r * rb, cols, importance ? importance + r * cols : nullptr);
    return {OwnedTensor::from(DType::U8, {rows, rb}, out)};
  }
};

template <size_t... I>
std::vector<Format> make_rows(std::index_sequence<I...>) {
  std::vector<Format> rows;
  (
      [&] {
        if (I >= gguf::block_types().size()) return;
        Format f = make_row(PerType<I>::t());
        f.tensors = {{".qweight", DType::U8, false, PerType<I>::shape}};
        f.check = PerType<I>::check;
        f.bytes = PerType<I>::bytes;
        f.label = PerType<I>::label;
        if (PerType<I>::t().quantize) f.encode = PerType<I>::encode;
        rows.push_back(std::move(f));
      }(),
      ...);
  return rows;
}

// More than gguf_blocks.h has types; make_rows checks the count.
constexpr size_t kMaxBlockTypes = 32;

}  // namespace

std::span<const Format* const> gguf_formats() {
  static const std::vector<Format> rows = [] {
    SQZ_CHECK(gguf::block_types().size() <= kMaxBlockTypes, "internal: raise kMaxBlockTypes");
    return make_rows(std::make_index_sequence<kMaxBlockTypes>{});
  }();
  static const std::vector<const Format*> ptrs = [] {
    std::vector<const Format*> p;
    for (const Format& f : rows) p.push_back(&f);
    return p;
  }();
  return ptrs;
}

}  // namespace sqz::kernels

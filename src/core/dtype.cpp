#include "core/dtype.h"

#include "core/error.h"

namespace sqz {

namespace {
struct DTypeInfo {
  DType t;
  std::string_view name;
  size_t size;
};
constexpr DTypeInfo kInfo[] = {
    {DType::F32, "F32", 4}, {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2}, {DType::F64, "F64", 8},
    {DType::I8, "I8", 1},   {DType::U8, "U8", 1},   {DType::I16, "I16", 2},   {DType::U16, "U16", 2},
    {DType::I32, "I32", 4}, {DType::U32, "U32", 4}, {DType::I64, "I64", 8},
};
}  // namespace

size_t dtype_size(DType t) { return kInfo[(int)t].size; }
std::string_view dtype_name(DType t) { return kInfo[(int)t].name; }

size_t dtype_nbytes(DType t, int64_t numel) {
  return (size_t)numel * dtype_size(t);
}

std::optional<DType> parse_dtype(std::string_view name) {
  for (const auto& i : kInfo)
    if (i.name == name) return i.t;
  return std::nullopt;
}

bool dtype_is_float(DType t) {
  return t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::F64;
}

}  // namespace sqz

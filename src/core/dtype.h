// Element types of stored tensors. Names follow safetensors ("F32", "F16", "BF16", "I8", "U8", "I16",
// "U16", "I32", "U32", "I64", "F64"). Block-quantized types (GGUF's Q8_0, Q4_K, ...) are packed formats
// (kernels/format.h), not element types.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sqz {

enum class DType : uint8_t { F32, F16, BF16, F64, I8, U8, I16, U16, I32, U32, I64 };

size_t dtype_size(DType t);  // bytes per element
// Bytes needed by `numel` elements.
size_t dtype_nbytes(DType t, int64_t numel);
std::string_view dtype_name(DType t);
std::optional<DType> parse_dtype(std::string_view name);
bool dtype_is_float(DType t);

}  // namespace sqz

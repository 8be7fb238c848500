// Element types of stored tensors. Names follow safetensors ("F32", "F16", "BF16", "I8", "U8", "I16",
// "U16", "I32", "U32", "I64", "F64"); Q8_0 is GGUF's 8-bit block format (32 int8 + one fp16 scale).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sqz {

enum class DType : uint8_t { F32, F16, BF16, F64, I8, U8, I16, U16, I32, U32, I64, Q8_0 };

// Bytes per element (Q8_0: 0, use dtype_nbytes for whole tensors).
size_t dtype_size(DType t);
// Bytes needed by `numel` elements; fails for Q8_0 when numel is not a multiple of 32.
size_t dtype_nbytes(DType t, int64_t numel);
std::string_view dtype_name(DType t);
std::optional<DType> parse_dtype(std::string_view name);
bool dtype_is_float(DType t);

}  // namespace sqz

// The rows of the GGUF block types in the format table (kernels/format.h).
#include "kernels/cpu/row_driver.h"

namespace sqz::kernels {

std::span<const Format* const> gguf_formats() { return {}; }

}  // namespace sqz::kernels

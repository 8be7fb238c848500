// Constructors of the quantization methods, one file each; make_quantizer picks by name.
#pragma once
#include <memory>

#include "model/llama.h"
#include "quant/quantizer.h"

namespace sqz::quant {

std::unique_ptr<Quantizer> make_rtn(const QuantOptions& o);
std::unique_ptr<Quantizer> make_squeezellm(const QuantOptions& o);
std::unique_ptr<Quantizer> make_gptq(const QuantOptions& o);
std::unique_ptr<Quantizer> make_nf4(const QuantOptions& o);
std::unique_ptr<Quantizer> make_smoothquant(const QuantOptions& o);
std::unique_ptr<Quantizer> make_awq(const QuantOptions& o);

}  // namespace sqz::quant

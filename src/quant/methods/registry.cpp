#include "core/error.h"
#include "quant/methods/methods.h"

namespace sqz {

std::unique_ptr<Quantizer> make_quantizer(const QuantOptions& o) {
  if (o.method == "squeezellm") return quant::make_squeezellm(o);
  if (o.method == "rtn") return quant::make_rtn(o);
  if (o.method == "gptq") return quant::make_gptq(o);
  if (o.method == "nf4") return quant::make_nf4(o);
  if (o.method == "smoothquant") return quant::make_smoothquant(o);
  if (o.method == "awq") return quant::make_awq(o);
  usage_fail("unknown or not yet available quantization method \"{}\"", o.method);
}

}  // namespace sqz

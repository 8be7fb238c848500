// The rows of the method table, one file each (quant/quantizer.h: Method); registry.cpp lists them.
#pragma once
#include <memory>

#include "model/llama.h"
#include "quant/quantizer.h"

namespace sqz::quant {

extern const Method kRtn, kSqueezeLlm, kGptq, kNf4, kSmoothQuant, kAwq;

// The LinearInput a layer's linear reads (q/k/v: Attn, o: AttnOut, gate/up: Mlp, down: MlpDown).
LinearInput slot_input(int slot);

// The group size a uniform method stores: the option's, with -1 (one group per row, as stored) read as 0.
inline int64_t stored_group(int64_t group_size) { return group_size == -1 ? 0 : group_size; }

}  // namespace sqz::quant

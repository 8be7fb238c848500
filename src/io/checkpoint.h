// One entry point for every checkpoint format. Whatever the file, tensors are exposed under Hugging Face
// LLaMA names with HF shapes ([out, in] for linear weights), as io/tensor_names.h lists them.
// The data stays in the memory-mapped file(s); nothing is copied here.
#pragma once
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/config.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "io/tensor_names.h"

namespace sqz {

enum class CheckpointFormat { HfDir, Gguf, Llama2c };

class Checkpoint {
 public:
  CheckpointFormat format = CheckpointFormat::HfDir;
  std::string path;  // what the user gave (directory or file)
  std::string dir;   // directory holding it (for tokenizer files)
  ModelConfig config;
  nlohmann::json hf_config;            // config.json as read (HF dirs), empty otherwise
  nlohmann::json quantization_config;  // config.json's "quantization_config", null when not quantized

  const TensorView* find(const std::string& name) const;
  // The tensor, which must exist with this shape; Error names the file, the tensor and both shapes.
  const TensorView& require(const std::string& name, const Shape& shape) const;
  const TensorView& require(const std::string& name) const;
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const GgufFile* gguf() const { return gguf_.get(); }  // for GGUF-embedded tokenizers
  size_t file_bytes() const;                            // total size of the weight files

  // Internal: used by the loaders.
  void add_tensor(const std::string& name, TensorView v) { tensors_[name] = std::move(v); }
  std::vector<std::unique_ptr<SafetensorsFile>> st_files;
  std::unique_ptr<GgufFile> gguf_;
  std::unique_ptr<MappedFile> raw_;  // llama2.c

 private:
  std::map<std::string, TensorView> tensors_;
};

// Detects the format: a directory with config.json (HF; one or many *.safetensors, with
// model.safetensors.index.json when sharded), a *.gguf file, or a llama2.c *.bin checkpoint.
// Validates every expected tensor against the config. Throws Error naming the file and problem.
std::unique_ptr<Checkpoint> open_checkpoint(const std::string& path);

// llama2.c v0 files store, after the token embedding, one array per kind of layer tensor (every layer's in
// turn) in this order; then the final norm, the RoPE tables (freq_cis, unused) and the classifier when it
// is not shared. Names are HF name parts after layer_prefix(l).
struct NamedShape {
  std::string name;
  Shape shape;
};
std::vector<NamedShape> llama2c_layer_arrays(const ModelConfig& c);

}  // namespace sqz

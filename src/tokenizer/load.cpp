// Finding the tokenizer that belongs to a checkpoint.
#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "io/checkpoint.h"
#include "tokenizer/tokenizer.h"

namespace sqz {

namespace fs = std::filesystem;

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  std::string out;
  int prev = bos_id();
  for (int id : ids) {
    out += decode_token(prev, id);
    prev = id;
  }
  return out;
}

namespace {

std::unique_ptr<Tokenizer> load_tokenizer_file(const std::string& path, int vocab_size) {
  if (!fs::exists(path)) fail("{}: tokenizer file not found", path);
  const std::string ext = fs::path(path).extension().string();
  if (ext == ".model") return load_sentencepiece(path);
  if (ext == ".json") return load_hf_bpe(path);
  if (ext == ".bin") return load_llama2c_tokenizer(path, vocab_size);
  fail("{}: unknown tokenizer file type (expected tokenizer.model, tokenizer.json or a llama2.c .bin)", path);
}

// An HF-style directory: tokenizer.model wins over tokenizer.json (its SentencePiece encoding is the
// reference one for LLaMA-1/2 and Mistral, which ship both). tokenizer.bin is what `sqz quantize` copies
// from a llama2.c checkpoint.
std::unique_ptr<Tokenizer> load_from_hf_dir(const std::string& dir, int vocab_size) {
  for (const char* name : {"tokenizer.model", "tokenizer.json", "tokenizer.bin"}) {
    const fs::path p = fs::path(dir) / name;
    if (fs::exists(p)) return load_tokenizer_file(p.string(), vocab_size);
  }
  fail("{}: no tokenizer found (looked for tokenizer.model, tokenizer.json, tokenizer.bin); pass --tokenizer PATH", dir);
}

// llama2.c: tokenizer.bin beside the checkpoint, else the one tok*.bin there (tok512.bin, ...).
std::unique_ptr<Tokenizer> load_from_llama2c_dir(const std::string& dir, int vocab_size) {
  const fs::path d = dir.empty() ? fs::path(".") : fs::path(dir);
  if (fs::exists(d / "tokenizer.bin")) return load_llama2c_tokenizer((d / "tokenizer.bin").string(), vocab_size);
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(d, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && name.rfind("tok", 0) == 0 && e.path().extension() == ".bin") found.push_back(name);
  }
  std::sort(found.begin(), found.end());
  if (found.size() == 1) return load_llama2c_tokenizer((d / found[0]).string(), vocab_size);
  if (found.empty())
    fail("{}: no tokenizer found (looked for tokenizer.bin, tok*.bin); pass --tokenizer PATH", d.string());
  std::string list;
  for (const auto& f : found) list += (list.empty() ? "" : ", ") + f;
  fail("{}: several tokenizers found ({}); pass --tokenizer PATH", d.string(), list);
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const Checkpoint& ckpt, const std::string& override_path) {
  if (!override_path.empty()) {
    if (fs::is_directory(override_path)) return load_from_hf_dir(override_path, ckpt.config.vocab_size);
    return load_tokenizer_file(override_path, ckpt.config.vocab_size);
  }
  switch (ckpt.format) {
    case CheckpointFormat::HfDir:
      return load_from_hf_dir(ckpt.dir, ckpt.config.vocab_size);
    case CheckpointFormat::Llama2c:
      return load_from_llama2c_dir(ckpt.dir, ckpt.config.vocab_size);
    case CheckpointFormat::Gguf:
      if (!ckpt.gguf()) fail("{}: GGUF checkpoint without its file", ckpt.path);
      if (!ckpt.gguf()->find_meta("tokenizer.ggml.model"))
        fail("{}: no tokenizer in the GGUF metadata (tokenizer.ggml.model); pass --tokenizer PATH", ckpt.path);
      return load_gguf_tokenizer(*ckpt.gguf());
  }
  fail("{}: unknown checkpoint format", ckpt.path);
}

}  // namespace sqz

// Text <-> token ids. Implementations: SentencePiece (tokenizer.model via libsentencepiece), Hugging Face
// byte-level BPE (tokenizer.json), llama2.c (tokenizer.bin), and the vocabularies embedded in GGUF.
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace sqz {

class Checkpoint;
class GgufFile;

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Encodes text; prepends BOS when add_bos (and the tokenizer has one).
  virtual std::vector<int> encode(const std::string& text, bool add_bos) const = 0;
  // The text of one token as it should be printed after `prev` (handles SentencePiece's leading
  // space marker, byte tokens like <0x0A>, and byte-level BPE's byte-to-unicode map). Byte tokens give
  // single bytes, so a multi-byte character may arrive in pieces. BOS prints nothing; other special
  // tokens follow their format's own decoder (SentencePiece/llama2.c control tokens: nothing;
  // tokenizer.json added tokens: their text). Out-of-range ids give "".
  virtual std::string decode_token(int prev, int id) const = 0;
  // The text of a whole sequence. Its start counts as "after BOS", so SentencePiece's dummy-prefix space
  // is dropped (as sp.DecodeIds does) whether or not ids begins with BOS.
  std::string decode(const std::vector<int>& ids) const;
  virtual int vocab_size() const = 0;
  virtual int bos_id() const = 0;  // -1 when none
  virtual int eos_id() const = 0;
};

// Loads the tokenizer that belongs to a checkpoint: tokenizer.model or tokenizer.json beside config.json,
// tokenizer.bin (or tok*.bin) beside a llama2.c file, or the GGUF metadata. `override_path` wins when set.
// Throws Error naming what is missing.
std::unique_ptr<Tokenizer> load_tokenizer(const Checkpoint& ckpt, const std::string& override_path = "");

std::unique_ptr<Tokenizer> load_sentencepiece(const std::string& path);
std::unique_ptr<Tokenizer> load_hf_bpe(const std::string& tokenizer_json_path);
// vocab_size: tokens in the file (the file does not say); <= 0 reads tokens until the end of the file.
std::unique_ptr<Tokenizer> load_llama2c_tokenizer(const std::string& path, int vocab_size);
// The vocabulary in a GGUF file's tokenizer.ggml.* metadata ("llama" or "gpt2"), encoded as llama.cpp's
// llama-tokenize does; a tokenizer.ggml.pre sqz does not know is an error naming it.
std::unique_ptr<Tokenizer> load_gguf_tokenizer(const GgufFile& gguf);

}  // namespace sqz

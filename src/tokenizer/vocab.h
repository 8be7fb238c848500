// Tokenizers built from an in-memory vocabulary. tokenizer.json (hf_json.cpp) and GGUF metadata
// (gguf_vocab.cpp) only parse their file and fill one of these specs, so the encoders can be tested
// without any file format around them.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace sqz {

// Token text -> id, searchable by string_view without building a std::string.
struct TextHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenIds = std::unordered_map<std::string, int, TextHash, std::equal_to<>>;

// GPT-2's pre-tokenizer regex (PCRE2 syntax; patterns are compiled with PCRE2_UTF | PCRE2_UCP), which
// HF's ByteLevel pre-tokenizer applies itself when its use_regex is set.
extern const char* const kGpt2Pattern;

// The pre-tokenizer a GGUF "gpt2" vocabulary names in tokenizer.ggml.pre, as llama.cpp applies it.
struct GgufPreTokenizer {
  std::vector<std::string> patterns;  // split_patterns of ByteBpeSpec, applied in turn
  bool ignore_merges = false;         // a piece that is a whole token is taken as is
  bool add_bos = false;               // default when tokenizer.ggml.add_bos_token is absent
  bool has_bos = true;                // false: the vocabulary's BOS id is never used (chatglm)
};
// "" (no tokenizer.ggml.pre) is llama.cpp's "default". Throws Error naming `pre` and the known names.
const GgufPreTokenizer& gguf_pre_tokenizer(const std::string& pre, const std::string& source);
// Every tokenizer.ggml.pre value gguf_pre_tokenizer accepts, in its table's order.
std::vector<std::string> gguf_pre_tokenizer_names();

// A byte-level BPE vocabulary (GPT-2, LLaMA-3, Qwen2): tokens are written in GPT-2's bytes_to_unicode
// alphabet, merges are applied by rank.
struct ByteBpeSpec {
  std::string source;                // file it came from, for error messages
  std::vector<std::string> tokens;   // id -> token text ("" for ids that have none)
  std::vector<std::pair<std::string, std::string>> merges;  // rank order (rank 0 merges first)
  std::vector<int> added;            // ids of added/special tokens: matched verbatim, decoded verbatim
  std::vector<std::string> split_patterns;  // applied in turn; each splits every piece ("Isolated")
  bool add_prefix_space = false;     // ByteLevel's add_prefix_space: a space before each text segment
  bool ignore_merges = false;        // LLaMA-3: a piece that is a whole token is taken as is
  int bos = -1, eos = -1;
};
std::unique_ptr<Tokenizer> make_byte_bpe(ByteBpeSpec spec);

// A SentencePiece-style vocabulary with scores (GGUF tokenizer.ggml.model "llama"), encoded as
// llama.cpp's llama-tokenize does: control, user-defined and unknown tokens are matched verbatim first;
// in each stretch of text between them spaces become "▁", a "▁" goes in front of the first stretch and
// of each one after such a token (add_space_prefix), merges by highest score, byte fallback. Unlike
// SentencePiece itself no normalizer runs (runs of spaces are not collapsed, leading spaces kept).
struct SpmVocabSpec {
  std::string source;
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int> types;  // GGUF token types (may be empty): 1 normal, 2 unknown, 3 control,
                           // 4 user-defined, 5 unused, 6 byte
  int bos = -1, eos = -1, unk = -1;
  bool add_space_prefix = true;
};
std::unique_ptr<Tokenizer> make_spm_vocab(SpmVocabSpec spec);

// GGUF token types.
enum GgufTokenType : int { kTokNormal = 1, kTokUnknown = 2, kTokControl = 3, kTokUserDefined = 4,
                           kTokUnused = 5, kTokByte = 6 };

}  // namespace sqz

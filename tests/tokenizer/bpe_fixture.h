// A small byte-level BPE vocabulary shared by the tokenizer.json and GGUF "gpt2" tests: byte b is token b
// (in GPT-2's bytes_to_unicode alphabet), merge k makes token 256+k, then two added tokens and "xyz".
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace sqz::test {

using json = nlohmann::json;

// GPT-2's bytes_to_unicode, written out independently of the implementation.
inline std::string byte_char(int b) {
  int cp = b;
  if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))) {
    int n = 0;
    for (int k = 0; k < b; ++k)
      if (!((k >= 0x21 && k <= 0x7E) || (k >= 0xA1 && k <= 0xAC) || (k >= 0xAE && k <= 0xFF))) ++n;
    cp = 256 + n;
  }
  std::string s;
  if (cp < 0x80) {
    s += (char)cp;
  } else {
    s += (char)(0xC0 | (cp >> 6));
    s += (char)(0x80 | (cp & 0x3F));
  }
  return s;
}

// Merges in rank order, in byte-level spelling: Ġ is a space, Ċ a newline, "Ã ©" the two bytes of é.
inline const std::vector<std::pair<std::string, std::string>> kMerges = {
    {"h", "e"},      // 256 he
    {"l", "l"},      // 257 ll
    {"he", "ll"},    // 258 hell
    {"hell", "o"},   // 259 hello
    {"Ġ", "w"},      // 260 Ġw
    {"o", "r"},      // 261 or
    {"Ġw", "or"},    // 262 Ġwor
    {"l", "d"},      // 263 ld
    {"Ġwor", "ld"},  // 264 Ġworld
    {"Ġ", "Ġ"},      // 265 ĠĠ
    {"1", "2"},      // 266 12
    {"Ċ", "Ċ"},      // 267 ĊĊ
    {"Ã", "©"},      // 268 é
    {"c", "a"},      // 269 ca
    {"ca", "f"},     // 270 caf
    {"caf", "Ã©"},   // 271 café
};
inline constexpr int kEot = 272, kBot = 273, kXyz = 274;

inline const char* kLlama3Split =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// llama3: Split(regex) + ByteLevel(use_regex false), [a,b] merges, TemplateProcessing BOS, ignore_merges.
// Otherwise GPT-2 style: ByteLevel with its own regex, "a b" merges, no post_processor.
inline json make_tokenizer_json(bool llama3, bool add_prefix_space = false) {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_char(b)] = b;
  json merges = json::array();
  for (size_t k = 0; k < kMerges.size(); ++k) {
    const auto& [a, b] = kMerges[k];
    vocab[a + b] = 256 + (int)k;
    if (llama3) merges.push_back({a, b});
    else merges.push_back(a + " " + b);
  }
  vocab["xyz"] = kXyz;  // reachable only as a whole word (ignore_merges)
  json j;
  j["version"] = "1.0";
  j["added_tokens"] = json::array({
      {{"id", kEot}, {"content", "<|endoftext|>"}, {"special", true}},
      {{"id", kBot}, {"content", "<|begin_of_text|>"}, {"special", true}},
  });
  j["normalizer"] = nullptr;
  j["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}, {"ignore_merges", llama3}};
  if (llama3) {
    j["pre_tokenizer"] = {
        {"type", "Sequence"},
        {"pretokenizers",
         json::array({{{"type", "Split"}, {"pattern", {{"Regex", kLlama3Split}}}, {"behavior", "Isolated"},
                       {"invert", false}},
                      {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}};
    j["post_processor"] = {
        {"type", "Sequence"},
        {"processors",
         json::array({{{"type", "ByteLevel"}},
                      {{"type", "TemplateProcessing"},
                       {"single", json::array({{{"SpecialToken", {{"id", "<|begin_of_text|>"}, {"type_id", 0}}}},
                                               {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
                       {"special_tokens",
                        {{"<|begin_of_text|>", {{"id", "<|begin_of_text|>"}, {"ids", {kBot}}}}}}}})}};
  } else {
    j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", add_prefix_space}, {"use_regex", true}};
    j["post_processor"] = nullptr;
  }
  j["decoder"] = {{"type", "ByteLevel"}};
  return j;
}

}  // namespace sqz::test

// Tokens matched verbatim in the text before it is pre-tokenized: tokenizer.json's added_tokens, and the
// control, user-defined and unknown tokens of GGUF vocabularies (internal to the tokenizer layer).
#pragma once
#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sqz {

class VerbatimTokens {
 public:
  VerbatimTokens() = default;
  // `ids` index `tokens`; ids out of range or with empty text are ignored.
  VerbatimTokens(const std::vector<std::string>& tokens, const std::vector<int>& ids) {
    for (int id : ids)
      if (id >= 0 && id < (int)tokens.size() && !tokens[id].empty()) list_.push_back({tokens[id], id});
    // Longest first, so that at one position the longest token wins (leftmost-longest, as HF matches).
    std::stable_sort(list_.begin(), list_.end(),
                     [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  }

  // Calls fn(segment, -1) for each stretch of plain text and fn("", id) for each token found, in order.
  template <typename Fn>
  void for_each_segment(std::string_view text, Fn&& fn) const {
    // next_at[k]: where token k next occurs at or after `pos` (npos: nowhere), refreshed lazily.
    std::vector<size_t> next_at(list_.size());
    for (size_t k = 0; k < list_.size(); ++k) next_at[k] = text.find(list_[k].first);
    size_t pos = 0;
    while (pos < text.size()) {
      size_t best = std::string_view::npos, bk = 0;
      for (size_t k = 0; k < list_.size(); ++k) {
        if (next_at[k] != std::string_view::npos && next_at[k] < pos) next_at[k] = text.find(list_[k].first, pos);
        if (next_at[k] < best) best = next_at[k], bk = k;  // strict: the longer token wins ties
      }
      if (best == std::string_view::npos) break;
      if (best > pos) fn(text.substr(pos, best - pos), -1);
      fn(std::string_view(), list_[bk].second);
      pos = best + list_[bk].first.size();
    }
    if (pos < text.size()) fn(text.substr(pos), -1);
  }

 private:
  std::vector<std::pair<std::string, int>> list_;
};

}  // namespace sqz

// llama.c's tokenizer.bin: int32 max_token_length, then per token: float score, int32 length, bytes.
// Encoding follows run.c exactly (the reference perplexities were computed with it): a " " dummy-prefix
// token, one symbol per UTF-8 character (byte fallback to id byte+3 when the character is not a token),
// then repeatedly merge the adjacent pair whose concatenation is a token with the highest score.
#include <cstdint>
#include <cstring>
#include <queue>
#include <unordered_map>

#include "core/error.h"
#include "core/mmap.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace sqz {

namespace {

// run.c hard-codes these.
constexpr int kBos = 1, kEos = 2;

class Llama2cTokenizer : public Tokenizer {
 public:
  Llama2cTokenizer(std::vector<std::string> vocab, std::vector<float> scores)
      : vocab_(std::move(vocab)), scores_(std::move(scores)) {
    // run.c bsearches a sorted copy, so with duplicate strings any of them may win; take the first.
    for (int i = 0; i < (int)vocab_.size(); ++i) to_id_.emplace(vocab_[i], i);
  }

  std::vector<int> encode(const std::string& text, bool add_bos) const override {
    // BOS takes part in the merge scan, as in run.c (in practice nothing merges with it).
    std::vector<int> ids;
    if (add_bos) ids.push_back(kBos);
    if (text.empty()) return ids;
    if (int dummy = lookup(" "); dummy >= 0) ids.push_back(dummy);
    // run.c's codepoint loop: gather a lead byte and up to 3 continuation bytes, look the run up.
    std::string buf;
    for (size_t i = 0; i < text.size(); ++i) {
      const unsigned char c = (unsigned char)text[i];
      if ((c & 0xC0) != 0x80) buf.clear();
      buf += (char)c;
      const bool next_cont = i + 1 < text.size() && ((unsigned char)text[i + 1] & 0xC0) == 0x80;
      if (next_cont && buf.size() < 4) continue;
      if (int id = lookup(buf); id >= 0) {
        ids.push_back(id);
      } else {
        for (unsigned char b : buf) ids.push_back(b + 3);  // <0x00>.. follow <unk>, <s>, </s>
      }
      buf.clear();
    }
    merge(ids);
    return ids;
  }

  std::string decode_token(int prev, int id) const override {
    // BOS/EOS delimit sequences and print nothing, as SentencePiece's control pieces do.
    if (id < 0 || id >= (int)vocab_.size() || id == kBos || id == kEos) return "";
    std::string_view piece = vocab_[id];
    // After BOS, SentencePiece drops the dummy-prefix space (llama2.c PR #89).
    if (prev == kBos && !piece.empty() && piece[0] == ' ') piece.remove_prefix(1);
    if (int b = utf8::parse_byte_token(piece); b >= 0) return std::string(1, (char)b);
    return std::string(piece);
  }

  int vocab_size() const override { return (int)vocab_.size(); }
  int bos_id() const override { return kBos; }
  int eos_id() const override { return kEos; }

 private:
  int lookup(const std::string& s) const {
    auto it = to_id_.find(s);
    return it == to_id_.end() ? -1 : it->second;
  }

  // run.c rescans all pairs after every merge (quadratic). A heap ordered by (score desc, position asc)
  // picks the same pair each step, since run.c takes the leftmost of equal best scores, and merging
  // keeps the left symbol's index so positions stay ordered.
  void merge(std::vector<int>& ids) const {
    const int n = (int)ids.size();
    std::vector<int> next(n), prev(n);
    for (int i = 0; i < n; ++i) next[i] = i + 1 < n ? i + 1 : -1, prev[i] = i - 1;
    struct Cand {
      float score;
      int left, right, a, b, id;
      bool operator<(const Cand& o) const { return score != o.score ? score < o.score : left > o.left; }
    };
    std::priority_queue<Cand> q;
    std::string cat;
    const auto push = [&](int l, int r) {
      if (l < 0 || r < 0 || ids[l] < 0 || ids[r] < 0 || ids[l] >= (int)vocab_.size() || ids[r] >= (int)vocab_.size())
        return;
      cat = vocab_[ids[l]];
      cat += vocab_[ids[r]];
      if (int id = lookup(cat); id >= 0) q.push({scores_[id], l, r, ids[l], ids[r], id});
    };
    for (int i = 0; i + 1 < n; ++i) push(i, i + 1);
    while (!q.empty()) {
      const Cand c = q.top();
      q.pop();
      if (ids[c.left] != c.a || ids[c.right] != c.b || next[c.left] != c.right) continue;  // stale
      ids[c.left] = c.id;
      ids[c.right] = -1;
      next[c.left] = next[c.right];
      if (next[c.right] >= 0) prev[next[c.right]] = c.left;
      push(prev[c.left], c.left);
      push(c.left, next[c.left]);
    }
    std::vector<int> kept;
    for (int i = 0; i >= 0 && i < n; i = next[i]) kept.push_back(ids[i]);
    ids.swap(kept);
  }

  std::vector<std::string> vocab_;
  std::vector<float> scores_;
  std::unordered_map<std::string, int> to_id_;
};

}  // namespace

std::unique_ptr<Tokenizer> load_llama2c_tokenizer(const std::string& path, int vocab_size) {
  MappedFile f(path);
  const auto* p = reinterpret_cast<const uint8_t*>(f.data());
  const size_t size = f.size();
  size_t off = 0;
  const auto read = [&](void* dst, size_t n, const char* what, int i) {
    if (size - off < n) fail("{}: truncated at token {} ({}); expected {} tokens", path, i, what, vocab_size);
    std::memcpy(dst, p + off, n);
    off += n;
  };
  int32_t max_len = 0;
  read(&max_len, 4, "header", 0);
  if (max_len <= 0 || max_len > (1 << 20)) fail("{}: not a llama2.c tokenizer (max_token_length {})", path, max_len);
  std::vector<std::string> vocab;
  std::vector<float> scores;
  // vocab_size <= 0: the caller does not know it (no checkpoint), so read tokens until the file ends.
  for (int i = 0; vocab_size > 0 ? i < vocab_size : off < size; ++i) {
    float score;
    int32_t len;
    read(&score, 4, "score", i);
    read(&len, 4, "length", i);
    if (len < 0 || len > max_len) fail("{}: token {} has length {} (max_token_length {})", path, i, len, max_len);
    std::string s(len, '\0');
    read(s.data(), len, "text", i);
    vocab.push_back(std::move(s));
    scores.push_back(score);
  }
  return std::make_unique<Llama2cTokenizer>(std::move(vocab), std::move(scores));
}

}  // namespace sqz

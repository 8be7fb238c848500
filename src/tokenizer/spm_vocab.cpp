// SentencePiece-style vocabularies with scores, as GGUF stores them (tokenizer.ggml.model "llama").
// Encoding mirrors llama.cpp's tokenizer for these files (llama-tokenize is the reference they are made
// for): control, user-defined and unknown tokens are cut out of the text first; in each stretch between
// them spaces become "▁", a "▁" dummy prefix goes in front of the first stretch and of each one that
// follows such a token, every UTF-8 character starts as a symbol, adjacent symbols whose concatenation
// is a token merge highest score first (leftmost on ties), and characters that are not tokens fall back
// to <0xNN> byte tokens. There is no normalizer: SentencePiece's own remove_extra_whitespaces (collapse
// runs of spaces, drop leading and trailing ones) is not applied, as llama.cpp does not apply it.
#include <algorithm>
#include <cstdio>
#include <queue>

#include "core/error.h"
#include "tokenizer/utf8.h"
#include "tokenizer/verbatim.h"
#include "tokenizer/vocab.h"

namespace sqz {

namespace {

constexpr const char* kSpace = "\xE2\x96\x81";  // U+2581 "▁"

class SpmVocabTokenizer : public Tokenizer {
 public:
  explicit SpmVocabTokenizer(SpmVocabSpec spec) : s_(std::move(spec)) {
    if (s_.scores.size() < s_.tokens.size()) s_.scores.resize(s_.tokens.size(), 0.0f);
    for (int id = 0; id < (int)s_.tokens.size(); ++id) to_id_.emplace(s_.tokens[id], id);
    // A byte without its <0xNN> token falls back to a token spelling the byte itself, if any.
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      byte_id_[b] = lookup(name);
      if (byte_id_[b] < 0) byte_id_[b] = lookup(std::string(1, (char)b));
    }
    std::vector<int> verbatim;
    for (int id = 0; id < (int)s_.types.size() && id < (int)s_.tokens.size(); ++id)
      if (s_.types[id] == kTokControl || s_.types[id] == kTokUserDefined || s_.types[id] == kTokUnknown)
        verbatim.push_back(id);
    verbatim_ = VerbatimTokens(s_.tokens, verbatim);
  }

  std::vector<int> encode(const std::string& text, bool add_bos) const override {
    std::vector<int> out;
    if (add_bos && s_.bos >= 0) out.push_back(s_.bos);
    bool after_special = true;  // the start of the text counts as following one
    verbatim_.for_each_segment(text, [&](std::string_view seg, int id) {
      if (id >= 0) {
        out.push_back(id);
        after_special = true;
      } else {
        encode_segment(seg, s_.add_space_prefix && after_special, out);
        after_special = false;
      }
    });
    return out;
  }

  std::string decode_token(int prev, int id) const override {
    if (id < 0 || id >= (int)s_.tokens.size()) return "";
    const std::string& piece = s_.tokens[id];
    const int type = id < (int)s_.types.size() ? s_.types[id] : kTokNormal;
    if (type == kTokControl) return "";
    if (type == kTokByte || s_.types.empty()) {
      if (int b = utf8::parse_byte_token(piece); b >= 0) return std::string(1, (char)b);
    }
    std::string t;
    for (size_t i = 0; i < piece.size(); ++i) {
      if (piece.compare(i, 3, kSpace) == 0) {
        t += ' ';
        i += 2;
      } else {
        t += piece[i];
      }
    }
    // After BOS the dummy prefix is not printed (llama.cpp and SentencePiece both drop it).
    if (s_.add_space_prefix && prev >= 0 && prev == s_.bos && !t.empty() && t[0] == ' ') t.erase(0, 1);
    return t;
  }

  int vocab_size() const override { return (int)s_.tokens.size(); }
  int bos_id() const override { return s_.bos; }
  int eos_id() const override { return s_.eos; }

 private:
  void encode_segment(std::string_view text, bool space_prefix, std::vector<int>& out) const {
    std::string s = space_prefix ? kSpace : "";
    for (char c : text) {
      if (c == ' ') s += kSpace;
      else s += c;
    }

    // Symbols are byte ranges of `s` in a linked list; a merge grows the left one and empties the right.
    struct Sym {
      size_t start, len;
      int prev, next;
    };
    std::vector<Sym> sym;
    for (size_t i = 0; i < s.size();) {
      const size_t n = std::min<size_t>(utf8::seq_len((unsigned char)s[i]), s.size() - i);
      sym.push_back({i, n, (int)sym.size() - 1, -1});
      if (sym.size() > 1) sym[sym.size() - 2].next = (int)sym.size() - 1;
      i += n;
    }
    struct Cand {
      float score;
      int left, right;
      size_t len;
      bool operator<(const Cand& o) const { return score != o.score ? score < o.score : left > o.left; }
    };
    std::priority_queue<Cand> q;
    const auto push = [&](int l, int r) {
      if (l < 0 || r < 0) return;
      const size_t len = sym[l].len + sym[r].len;
      if (int id = lookup(std::string_view(s).substr(sym[l].start, len)); id >= 0)
        q.push({s_.scores[id], l, r, len});
    };
    for (int i = 0; i + 1 < (int)sym.size(); ++i) push(i, i + 1);
    while (!q.empty()) {
      const Cand c = q.top();
      q.pop();
      // Stale (llama.cpp's test): one side already merged away, or the pair's length changed.
      if (sym[c.left].len == 0 || sym[c.right].len == 0 || sym[c.left].len + sym[c.right].len != c.len) continue;
      sym[c.left].len = c.len;
      sym[c.right].len = 0;
      sym[c.left].next = sym[c.right].next;
      if (sym[c.right].next >= 0) sym[sym[c.right].next].prev = c.left;
      push(sym[c.left].prev, c.left);
      push(c.left, sym[c.left].next);
    }
    for (int i = 0; i >= 0 && i < (int)sym.size(); i = sym[i].next) {
      const std::string_view piece = std::string_view(s).substr(sym[i].start, sym[i].len);
      if (int id = lookup(piece); id >= 0) {
        out.push_back(id);
        continue;
      }
      for (unsigned char b : piece) {  // only single characters can be missing: merges always give tokens
        if (byte_id_[b] >= 0) out.push_back(byte_id_[b]);
        else if (s_.unk >= 0) out.push_back(s_.unk);
      }
    }
  }

  int lookup(std::string_view t) const {
    auto it = to_id_.find(t);
    return it == to_id_.end() ? -1 : it->second;
  }

  SpmVocabSpec s_;
  TokenIds to_id_;
  int byte_id_[256];
  VerbatimTokens verbatim_;
};

}  // namespace

std::unique_ptr<Tokenizer> make_spm_vocab(SpmVocabSpec spec) {
  return std::make_unique<SpmVocabTokenizer>(std::move(spec));
}

}  // namespace sqz

// Byte-level BPE (GPT-2 / LLaMA-3 / Qwen2): added tokens are cut out of the text first, the rest is split
// by the pre-tokenizer regexes, each piece's bytes are mapped through GPT-2's bytes_to_unicode table and
// merged pairwise by rank, lowest rank first (leftmost on ties), as HF tokenizers does.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cstdint>
#include <queue>
#include <string_view>
#include <unordered_map>

#include "core/error.h"
#include "tokenizer/utf8.h"
#include "tokenizer/verbatim.h"
#include "tokenizer/vocab.h"

namespace sqz {

const char* const kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

namespace {

// One compiled pre-tokenizer regex. Matching state lives in MatchState so encode() stays const and
// thread-safe.
class Regex {
 public:
  Regex(const std::string& pattern, const std::string& source) {
    int err = 0;
    PCRE2_SIZE off = 0;
    code_ = pcre2_compile((PCRE2_SPTR)pattern.data(), pattern.size(), PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
    if (!code_) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      fail("{}: cannot compile pre-tokenizer regex at offset {}: {} (pattern {})", source, off, (const char*)msg,
           pattern);
    }
    pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);  // best effort: the interpreter is used when JIT is absent
  }
  ~Regex() { pcre2_code_free(code_); }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends the pieces of `text` (valid UTF-8) to `out`: every match, and every stretch no match covers.
  void split(std::string_view text, std::vector<std::string_view>& out, pcre2_match_data* md,
             pcre2_match_context* mc) const {
    size_t pos = 0, last = 0;
    while (pos < text.size()) {
      // NO_UTF_CHECK: the caller validated the text; without it PCRE2 rescans the whole subject per call.
      const int rc = pcre2_match(code_, (PCRE2_SPTR)text.data(), text.size(), pos, PCRE2_NO_UTF_CHECK, md, mc);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        fail("pre-tokenizer regex failed: {}", (const char*)msg);
      }
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      const size_t s = ov[0], e = ov[1];
      if (e == s) {  // empty match: step over one character so the loop always advances
        if (s >= text.size()) break;
        pos = s + utf8::seq_len((unsigned char)text[s]);
        continue;
      }
      if (s > last) out.push_back(text.substr(last, s - last));
      out.push_back(text.substr(s, e - s));
      pos = last = e;
    }
    if (last < text.size()) out.push_back(text.substr(last));
  }

  pcre2_code* code() const { return code_; }

 private:
  pcre2_code* code_ = nullptr;
};

// Per-call PCRE2 scratch: match data plus a JIT stack larger than the 32 KiB default, so long runs of
// whitespace or punctuation cannot overflow it.
struct MatchState {
  pcre2_match_data* md = nullptr;
  pcre2_match_context* mc = nullptr;
  pcre2_jit_stack* js = nullptr;
  explicit MatchState(const Regex& re) {
    md = pcre2_match_data_create_from_pattern(re.code(), nullptr);
    mc = pcre2_match_context_create(nullptr);
    js = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, nullptr);
    if (js) pcre2_jit_stack_assign(mc, nullptr, js);
  }
  ~MatchState() {
    pcre2_jit_stack_free(js);
    pcre2_match_context_free(mc);
    pcre2_match_data_free(md);
  }
  MatchState(const MatchState&) = delete;
  MatchState& operator=(const MatchState&) = delete;
};

// GPT-2's bytes_to_unicode: printable bytes map to themselves, the other 68 to U+0100.. in byte order,
// so every byte is a visible character and no token contains a raw space or control byte.
struct ByteMap {
  std::string enc[256];            // byte -> UTF-8 of its character
  std::unordered_map<uint32_t, uint8_t> dec;  // character -> byte
  ByteMap() {
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const uint32_t cp = printable ? (uint32_t)b : 256u + (uint32_t)n++;
      utf8::append(enc[b], cp);
      dec[cp] = (uint8_t)b;
    }
  }
};
const ByteMap& byte_map() {
  static const ByteMap m;
  return m;
}

class ByteBpeTokenizer : public Tokenizer {
 public:
  explicit ByteBpeTokenizer(ByteBpeSpec spec) : s_(std::move(spec)) {
    const ByteMap& bm = byte_map();
    for (int id = 0; id < (int)s_.tokens.size(); ++id)
      if (!s_.tokens[id].empty()) to_id_.emplace(s_.tokens[id], id);
    is_added_.assign(s_.tokens.size(), false);
    for (int id : s_.added)
      if (id >= 0 && id < (int)s_.tokens.size() && !s_.tokens[id].empty()) is_added_[id] = true;
    added_ = VerbatimTokens(s_.tokens, s_.added);
    for (int b = 0; b < 256; ++b) {
      auto it = to_id_.find(bm.enc[b]);
      byte_id_[b] = it == to_id_.end() ? -1 : it->second;
    }
    // Merges keyed by the pair of ids; a merge whose parts or result are not tokens can never apply.
    for (int rank = 0; rank < (int)s_.merges.size(); ++rank) {
      const auto& [a, b] = s_.merges[rank];
      auto ia = to_id_.find(a), ib = to_id_.find(b), iab = to_id_.find(a + b);
      if (ia == to_id_.end() || ib == to_id_.end() || iab == to_id_.end()) continue;
      merges_.emplace(key(ia->second, ib->second), Merge{rank, iab->second});
    }
    for (const auto& p : s_.split_patterns) regexes_.push_back(std::make_unique<Regex>(p, s_.source));
  }

  std::vector<int> encode(const std::string& text, bool add_bos) const override {
    std::vector<int> out;
    if (add_bos && s_.bos >= 0) out.push_back(s_.bos);
    std::vector<std::unique_ptr<MatchState>> ms;
    for (const auto& re : regexes_) ms.push_back(std::make_unique<MatchState>(*re));

    std::vector<std::string_view> pieces, next;
    std::string prefixed;
    added_.for_each_segment(text, [&](std::string_view seg, int added_id) {
      if (added_id >= 0) {
        out.push_back(added_id);
        return;
      }
      if (s_.add_prefix_space && seg[0] != ' ') {
        prefixed.assign(1, ' ');
        prefixed.append(seg);
        seg = prefixed;
      }
      // Invalid UTF-8 bytes cannot go through the regex; each becomes a piece of its own.
      pieces.clear();
      size_t i = 0, run = 0;
      while (i < seg.size()) {
        const size_t n = utf8::valid_len(seg, i);
        if (n) {
          i += n;
          continue;
        }
        if (i > run) pieces.push_back(seg.substr(run, i - run));
        pieces.push_back(seg.substr(i, 1));
        run = ++i;
      }
      if (run < seg.size()) pieces.push_back(seg.substr(run));
      for (size_t r = 0; r < regexes_.size(); ++r) {
        next.clear();
        for (auto p : pieces) {
          if (p.size() == 1 && utf8::valid_len(p, 0) == 0) next.push_back(p);
          else regexes_[r]->split(p, next, ms[r]->md, ms[r]->mc);
        }
        pieces.swap(next);
      }
      for (auto p : pieces) encode_piece(p, out);
    });
    return out;
  }

  std::string decode_token(int prev, int id) const override {
    // BOS marks the start of a sequence and prints nothing (like SentencePiece's <s>); other added
    // tokens print as written.
    if (id < 0 || id >= (int)s_.tokens.size() || id == s_.bos) return "";
    const std::string& t = s_.tokens[id];
    if (is_added_[id]) return t;
    const ByteMap& bm = byte_map();
    std::string out;
    size_t i = 0;
    while (i < t.size()) {
      const size_t start = i;
      if (!utf8::valid_len(t, i)) {
        out += t[i++];
        continue;
      }
      const uint32_t cp = utf8::decode(t, i);
      auto it = bm.dec.find(cp);
      if (it != bm.dec.end()) out += (char)it->second;
      else out.append(t, start, i - start);  // not in the byte alphabet: the token's own text
    }
    return out;
  }

  int vocab_size() const override { return (int)s_.tokens.size(); }
  int bos_id() const override { return s_.bos; }
  int eos_id() const override { return s_.eos; }

 private:
  struct Merge {
    int rank, id;
  };
  static uint64_t key(int a, int b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }

  void encode_piece(std::string_view piece, std::vector<int>& out) const {
    const ByteMap& bm = byte_map();
    if (s_.ignore_merges) {
      std::string mapped;
      for (unsigned char c : piece) mapped += bm.enc[c];
      auto it = to_id_.find(mapped);
      if (it != to_id_.end()) {
        out.push_back(it->second);
        return;
      }
    }
    // Symbols form a linked list over the piece's bytes; a merge keeps the left symbol and kills the right.
    struct Sym {
      int id, prev, next;
    };
    std::vector<Sym> sym(piece.size());
    for (size_t i = 0; i < piece.size(); ++i)
      sym[i] = {byte_id_[(unsigned char)piece[i]], (int)i - 1, i + 1 < piece.size() ? (int)i + 1 : -1};
    struct Cand {
      int rank, left, right, a, b, id;
      bool operator<(const Cand& o) const {  // priority_queue top = lowest rank, then leftmost
        return rank != o.rank ? rank > o.rank : left > o.left;
      }
    };
    std::priority_queue<Cand> q;
    const auto push = [&](int l, int r) {
      if (l < 0 || r < 0 || sym[l].id < 0 || sym[r].id < 0) return;
      auto it = merges_.find(key(sym[l].id, sym[r].id));
      if (it != merges_.end()) q.push({it->second.rank, l, r, sym[l].id, sym[r].id, it->second.id});
    };
    for (int i = 0; i + 1 < (int)sym.size(); ++i) push(i, i + 1);
    while (!q.empty()) {
      const Cand c = q.top();
      q.pop();
      // Stale when either side has merged since this candidate was queued.
      if (sym[c.left].id != c.a || sym[c.right].id != c.b || sym[c.left].next != c.right) continue;
      sym[c.left].id = c.id;
      sym[c.left].next = sym[c.right].next;
      if (sym[c.right].next >= 0) sym[sym[c.right].next].prev = c.left;
      sym[c.right].id = -1;
      sym[c.right].next = -1;
      push(sym[c.left].prev, c.left);
      push(c.left, sym[c.left].next);
    }
    // Bytes without a token (a vocabulary lacking part of the byte alphabet) are dropped, as HF does
    // when there is no unk token.
    for (int i = 0; i >= 0 && i < (int)sym.size(); i = sym[i].next)
      if (sym[i].id >= 0) out.push_back(sym[i].id);
  }

  ByteBpeSpec s_;
  TokenIds to_id_;
  std::vector<bool> is_added_;
  VerbatimTokens added_;
  int byte_id_[256];
  std::unordered_map<uint64_t, Merge> merges_;
  std::vector<std::unique_ptr<Regex>> regexes_;
};

}  // namespace

std::unique_ptr<Tokenizer> make_byte_bpe(ByteBpeSpec spec) {
  return std::make_unique<ByteBpeTokenizer>(std::move(spec));
}

}  // namespace sqz

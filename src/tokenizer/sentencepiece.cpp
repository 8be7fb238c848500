// SentencePiece models (tokenizer.model) through libsentencepiece, so normalization, byte fallback and
// the BPE/unigram algorithms are exactly the reference ones.
#include <sentencepiece_processor.h>

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace sqz {

namespace {

class SentencePieceTokenizer : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::string& path) {
    const auto st = sp_.Load(path);
    if (!st.ok()) fail("{}: cannot load SentencePiece model: {}", path, st.ToString());
    // What each id prints as, computed once: "▁" is a space, <0xNN> pieces are raw bytes, control
    // pieces (<s>, </s>) print nothing and <unk> prints " ⁇ ", as sp.DecodeIds does.
    text_.resize(sp_.GetPieceSize());
    for (int id = 0; id < (int)text_.size(); ++id) {
      const std::string& piece = sp_.IdToPiece(id);
      if (sp_.IsControl(id)) continue;
      if (sp_.IsUnknown(id)) {
        text_[id] = " \xE2\x81\x87 ";
        continue;
      }
      if (int b = sp_.IsByte(id) ? utf8::parse_byte_token(piece) : -1; b >= 0) {
        text_[id] = std::string(1, (char)b);
        continue;
      }
      std::string& t = text_[id];
      for (size_t i = 0; i < piece.size(); ++i) {
        if (piece.compare(i, 3, "\xE2\x96\x81") == 0) {  // U+2581 "▁"
          t += ' ';
          i += 2;
        } else {
          t += piece[i];
        }
      }
    }
    // The space to drop after BOS is the dummy prefix, which only exists when the model adds one; a
    // model without it encodes "a" without a leading "▁".
    std::vector<std::string> probe;
    strip_after_bos_ = sp_.Encode("a", &probe).ok() && !probe.empty() && probe[0].rfind("\xE2\x96\x81", 0) == 0;
  }

  std::vector<int> encode(const std::string& text, bool add_bos) const override {
    std::vector<int> ids;
    if (add_bos && sp_.bos_id() >= 0) ids.push_back(sp_.bos_id());
    std::vector<int> enc;
    const auto st = sp_.Encode(text, &enc);
    if (!st.ok()) fail("SentencePiece encode failed: {}", st.ToString());
    ids.insert(ids.end(), enc.begin(), enc.end());
    return ids;
  }

  std::string decode_token(int prev, int id) const override {
    if (id < 0 || id >= (int)text_.size()) return "";
    const std::string& t = text_[id];
    if (strip_after_bos_ && prev >= 0 && prev == sp_.bos_id() && !t.empty() && t[0] == ' ') return t.substr(1);
    return t;
  }

  int vocab_size() const override { return sp_.GetPieceSize(); }
  int bos_id() const override { return sp_.bos_id(); }
  int eos_id() const override { return sp_.eos_id(); }

 private:
  sentencepiece::SentencePieceProcessor sp_;
  std::vector<std::string> text_;
  bool strip_after_bos_ = true;
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece(const std::string& path) {
  return std::make_unique<SentencePieceTokenizer>(path);
}

}  // namespace sqz

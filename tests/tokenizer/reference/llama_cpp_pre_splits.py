#!/usr/bin/env python3
"""Records how llama.cpp's pre-tokenizers split some tricky texts, for tests/tokenizer/gguf_pre_test.cpp.
Not run by the test suite (llama.cpp is not part of CI); rerun it by hand when the texts or names change:

  llama_cpp_pre_splits.py LLAMA_TOKENIZE_BINARY OUT.json

For every text it builds a byte-level BPE vocabulary whose tokens are all substrings (up to MAX_LEN bytes)
of the texts, with a merge for every way of cutting each of them in two. BPE then merges each
pre-tokenizer piece into one token, so the ids llama-tokenize returns spell out its pieces. The test
builds the same vocabulary and checks that sqz cuts the texts into the same pieces.
"""
import json
import os
import subprocess
import sys
import tempfile

import gguf

MAX_LEN = 24

TEXTS = [
    "Hello world, it's 12345 o'clock IT'S we'll they've I'M",
    "naïve café e\u0301 — 東京タワー 한국어 Привет мир 😀👍",
    "a  b   c\n\nd \n e\t\tf\r\ng \u00a0h\u3000i  ",
    "x1234567 3.14159 ½ ٣٤ 1,000,000 v2.0",
    "CamelCaseWORDs getHTTPResponse iPhone ÉCOLE école",
    "...!? (x) [y] {z} $+<=>^~|` @#%&* foo_bar a/b/c \"q\" 'q'",
    "  leading, trailing.\n\n\n  end!!",
]

# One name per pre-tokenizer group of sqz's table (src/tokenizer/gguf_vocab.cpp), and "" (no key).
NAMES = ["", "default", "gpt-2", "llama-bpe", "dbrx", "chatglm-bpe", "qwen2", "qwen35", "smollm", "falcon",
         "deepseek-coder", "tekken", "bloom", "viking", "seed-coder", "bailingmoe", "minicpm5", "gpt-4o",
         "jais-2"]


def bytes_to_unicode():
    keep = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, n = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + n)
            n += 1
    return table


def vocabulary(texts):
    b2u = bytes_to_unicode()
    tokens = [b2u[b] for b in range(256)]
    seen = set(tokens)
    merges = []
    for text in texts:
        mapped = "".join(b2u[b] for b in text.encode("utf-8"))
        for start in range(len(mapped)):
            for length in range(2, MAX_LEN + 1):
                s = mapped[start:start + length]
                if len(s) < length or s in seen:
                    continue
                seen.add(s)
                tokens.append(s)
                merges.extend(f"{s[:k]} {s[k:]}" for k in range(1, len(s)))
    return tokens, merges


def write_gguf(path, pre, tokens, merges):
    w = gguf.GGUFWriter(path, "llama")
    # llama.cpp reads the hyper-parameters even for a vocabulary-only load.
    w.add_context_length(64)
    w.add_embedding_length(64)
    w.add_block_count(1)
    w.add_feed_forward_length(64)
    w.add_head_count(1)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("gpt2")
    if pre:
        w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.NORMAL] * len(tokens))
    w.add_token_merges(merges)
    w.add_bos_token_id(ord("B"))
    w.add_eos_token_id(ord("E"))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    tokenize, out = sys.argv[1], sys.argv[2]
    b2u = bytes_to_unicode()
    u2b = {c: b for b, c in b2u.items()}
    tokens, merges = vocabulary(TEXTS)
    result = {"max_len": MAX_LEN, "texts": TEXTS, "splits": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for pre in NAMES:
            model = os.path.join(tmp, "v.gguf")
            print(f"pre {pre!r}", file=sys.stderr)
            write_gguf(model, pre, tokens, merges)
            splits = []
            for text in TEXTS:
                txt = os.path.join(tmp, "t.txt")
                with open(txt, "w", encoding="utf-8", newline="") as f:
                    f.write(text)
                ids = json.loads(subprocess.run(
                    [tokenize, "-m", model, "-f", txt, "--ids", "--no-bos", "--no-escape", "--log-disable"],
                    check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
                raw = [bytes(u2b[c] for c in tokens[i]) for i in ids]
                try:
                    pieces = [r.decode("utf-8") for r in raw]
                except UnicodeDecodeError:
                    raw = [b""]
                if max(len(r) for r in raw) >= MAX_LEN or not raw[0]:
                    sys.exit(f"{pre!r}: a piece of {text!r} may be longer than {MAX_LEN - 1} bytes")
                assert "".join(pieces) == text, (pre, text, pieces)
                splits.append(pieces)
            result["splits"][pre] = splits
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()

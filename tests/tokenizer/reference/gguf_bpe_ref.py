#!/usr/bin/env python3
"""Reference byte-level BPE encoder for GGUF "gpt2" vocabularies, independent of sqz: reads the vocabulary
with gguf-py and encodes with Hugging Face's `tokenizers` (its Rust BPE), configured with the
pre-tokenizer that the models named by tokenizer.ggml.pre ship in their tokenizer.json.

usage: gguf_bpe_ref.py MODEL.gguf TEXT_FILE
Writes the ids of the whole file (no BOS) to stdout as little-endian int32, preceded by their count
(uint32). Exit 3 (with a message) for a pre-tokenizer this script does not know.
"""
import struct
import sys

from gguf import GGUFReader
from tokenizers import AddedToken, Regex, Tokenizer, models, pre_tokenizers

LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
               r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def byte_level(use_regex):
    return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=use_regex)


def split_then_bytes(pattern):
    return pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(pattern), behavior="isolated"),
                                    byte_level(False)])


# tokenizer.ggml.pre -> (pre-tokenizer of the model's tokenizer.json, ignore_merges)
PRE = {
    "gpt-2": (lambda: byte_level(True), False),
    "smollm": (lambda: pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                byte_level(True)]), False),
    "starcoder": (lambda: pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                   byte_level(True)]), False),
    "llama-bpe": (lambda: split_then_bytes(LLAMA3_SPLIT), True),
    "qwen2": (lambda: split_then_bytes(QWEN2_SPLIT), False),
}


def field_str(f, i=0):
    return bytes(f.parts[f.data[i]]).decode("utf-8")


def load(gguf_path):
    """The Hugging Face Tokenizer for a GGUF "gpt2" vocabulary (SystemExit 3 for an unknown pre-tokenizer)."""
    r = GGUFReader(gguf_path)
    assert field_str(r.fields["tokenizer.ggml.model"]) == "gpt2", "not a byte-level BPE vocabulary"
    pre = field_str(r.fields["tokenizer.ggml.pre"]) if "tokenizer.ggml.pre" in r.fields else ""
    if pre not in PRE:
        print(f"gguf_bpe_ref.py: pre-tokenizer {pre!r} not known (known: {', '.join(PRE)})", file=sys.stderr)
        sys.exit(3)
    tf = r.fields["tokenizer.ggml.tokens"]
    tokens = [field_str(tf, i) for i in range(len(tf.data))]
    tt = r.fields["tokenizer.ggml.token_type"]
    types = [int(tt.parts[tt.data[i]][0]) for i in range(len(tt.data))]
    mf = r.fields["tokenizer.ggml.merges"]
    merges = []
    for i in range(len(mf.data)):
        m = field_str(mf, i)
        sp = m.index(" ", 1)
        merges.append((m[:sp], m[sp + 1:]))
    make_pre, ignore_merges = PRE[pre]
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges,
                               ignore_merges=ignore_merges))
    tok.pre_tokenizer = make_pre()
    # Control (3) and user-defined (4) tokens are matched verbatim in the text.
    tok.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False)
                            for i in range(len(tokens)) if types[i] in (3, 4)])
    return tok


def main():
    gguf_path, text_path = sys.argv[1], sys.argv[2]
    tok = load(gguf_path)
    with open(text_path, encoding="utf-8") as f:
        text = f.read()
    ids = tok.encode(text, add_special_tokens=False).ids
    out = sys.stdout.buffer
    out.write(struct.pack("<I", len(ids)))
    out.write(struct.pack(f"<{len(ids)}i", *ids))


if __name__ == "__main__":
    main()

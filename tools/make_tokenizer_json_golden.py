#!/usr/bin/env python3
"""Records what a gpt-oss tokenizer.json must contain, from transformers' own tiktoken converter.

transformers builds gpt-oss's tokenizer.json from the o200k vocabulary with TikTokenConverter
(vocab = byte-level strings of the ranks; merges = every split of every token into two tokens,
ordered by rank). This script runs that converter offline on tests/data/tokenizer/o200k_base.tiktoken
and writes the sha256 of its vocab and merges (canonical JSON) plus the expected added tokens to
tests/data/tokenizer/tokenizer_json_golden.json, so tests can check `gptoss convert-tokenizer`
without transformers installed. Needs: transformers, tiktoken (no torch).
"""
import argparse
import hashlib
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The added tokens of gpt-oss's published tokenizer.json: harmony's names, except that 200018
# keeps o200k_base's <|endofprompt|>.
NAMED = {199998: "<|startoftext|>", 199999: "<|endoftext|>", 200002: "<|return|>",
         200003: "<|constrain|>", 200005: "<|channel|>", 200006: "<|start|>", 200007: "<|end|>",
         200008: "<|message|>", 200012: "<|call|>", 200018: "<|endofprompt|>"}


def canonical_hash(obj):
    return hashlib.sha256(json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
                          .encode()).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vocab", default=os.path.join(ROOT, "tests/data/tokenizer/o200k_base.tiktoken"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests/data/tokenizer/tokenizer_json_golden.json"))
    args = ap.parse_args()
    from transformers.convert_slow_tokenizer import TikTokenConverter

    vocab, merges = TikTokenConverter(vocab_file=args.vocab).extract_vocab_merges_from_model(args.vocab)
    vocab = dict(sorted(vocab.items(), key=lambda kv: kv[1]))
    golden = {
        "vocab_sha256": canonical_hash(vocab),
        "merges_sha256": canonical_hash([list(m) for m in merges]),
        "n_merges": len(merges),
        "added_tokens": [[i, NAMED.get(i, f"<|reserved_{i}|>")] for i in range(199998, 200019)],
    }
    with open(args.out, "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out} ({len(merges)} merges)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes tests/data/tokenizer/goldens.json: the ids tiktoken gives for the tokenizer corpus.

The reference is tiktoken's o200k_base BPE with the harmony special tokens, built offline from
a local .tiktoken file so no network is needed. The C tokenizer tests compare against this file:
whole-file encodes of every corpus file, each line of mixed.txt encoded on its own (many short
inputs), and a few short strings encoded with the special tokens allowed.

    python3 tools/make_tokenizer_goldens.py [--vocab tests/data/tokenizer/o200k_base.tiktoken]
        [--corpus tests/data/tokenizer/corpus] [--out tests/data/tokenizer/goldens.json]

Needs tiktoken (pip install tiktoken); the corpus comes from tools/make_tokenizer_corpus.py.
"""

import argparse
import hashlib
import json
import os
import sys

import tiktoken
import tiktoken.load

DEFAULT_VOCAB = os.path.join("tests", "data", "tokenizer", "o200k_base.tiktoken")
DEFAULT_CORPUS = os.path.join("tests", "data", "tokenizer", "corpus")
DEFAULT_OUT = os.path.join("tests", "data", "tokenizer", "goldens.json")

VOCAB_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"

# The o200k pre-tokenizer pattern, one alternative per line.
O200K_PATTERN = "|".join([
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
])

# The lines of MIXED_FILE are also encoded one by one, split after each "\n".
MIXED_FILE = "mixed.txt"

# Short inputs encoded with every special token allowed: special names next to text, next to
# each other, inside words, unknown or out-of-range names (which stay text) and near misses.
SPECIAL_CASES = [
    "",
    "<|startoftext|><|start|><|message|>Hello World<|end|><|endoftext|>",
    "<|start|>user<|message|>What is 2+2?<|end|><|start|>assistant",
    "<|start|>assistant<|channel|>analysis<|message|>Let's think step by step.<|end|>",
    "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
    "<|message|>{\"city\":\"Tokyo\"}<|call|>",
    "<|start|>assistant<|channel|>final<|message|>Done.<|return|>",
    "<|start|><|start|><|end|><|end|><|message|><|message|>",
    "word<|end|>word's<|message|>WORD",
    " <|end|> \n<|start|>\r\n\t<|channel|>  ",
    "\u65e5\u672c\u8a9e<|message|>\u3053\u3093\u306b\u3061\u306f\U0001f642<|end|>",
    "<|foo|> <|bar_baz|> <||> <|reserved|> <|reserved_|>",
    "<|reserved_200000|><|reserved_200001|><|reserved_200004|><|reserved_200009|>",
    "<|reserved_200013|> <|reserved_200018|> <|reserved_200100|> <|reserved_201087|>",
    "<|reserved_201088|> <|reserved_199999|> <|reserved_200002|> <|reserved_200100 |>",
    "<|start| |start|> <|START|> < |start|> <|start |> <|Start|>",
    "<<|start|>> <|<|end|>|> |<|message|>| <|<|>|>",
    "<|start|<|end|>",
    "<|endoftext|>",
    "<|startoftext|>",
    "x<|return|>y<|call|>z<|constrain|>",
    "'s<|end|>'S<|end|>don't<|end|>123<|end|>4567",
    "<|start|>user<|message|>\u00bfQu\u00e9 tal? \u041f\u0440\u0438\u0432\u0435\u0442! "
    "\u0645\u0631\u062d\u0628\u0627<|end|>",
]


def harmony_special_tokens():
    specials = {
        "<|startoftext|>": 199998,
        "<|endoftext|>": 199999,
        "<|reserved_200000|>": 200000,
        "<|reserved_200001|>": 200001,
        "<|return|>": 200002,
        "<|constrain|>": 200003,
        "<|reserved_200004|>": 200004,
        "<|channel|>": 200005,
        "<|start|>": 200006,
        "<|end|>": 200007,
        "<|message|>": 200008,
        "<|reserved_200009|>": 200009,
        "<|reserved_200010|>": 200010,
        "<|reserved_200011|>": 200011,
        "<|call|>": 200012,
    }
    for i in range(200013, 201088):
        specials[f"<|reserved_{i}|>"] = i
    return specials


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_encoding(vocab_path):
    """Returns the o200k + harmony Encoding, after checking the vocabulary file's hash."""
    digest = sha256_file(vocab_path)
    if digest != VOCAB_SHA256:
        sys.exit(f"error: {vocab_path} has sha256 {digest}, expected {VOCAB_SHA256}")
    ranks = tiktoken.load.load_tiktoken_bpe(vocab_path)
    enc = tiktoken.Encoding(name="o200k_harmony", pat_str=O200K_PATTERN, mergeable_ranks=ranks,
                            special_tokens=harmony_special_tokens())
    check_known_vectors(enc)
    return enc


def check_known_vectors(enc):
    # Ids the published o200k_base / harmony encodings give, so a wrong file or pattern fails here.
    expect = [
        (enc.encode_ordinary("hello world"), [24912, 2375]),
        (enc.encode_ordinary("<|start|>"), [27, 91, 5236, 91, 29]),
        (enc.encode("<|startoftext|><|start|><|message|>Hello World<|end|><|endoftext|>",
                    allowed_special="all"),
         [199998, 200006, 200008, 13225, 5922, 200007, 199999]),
    ]
    for got, want in expect:
        if got != want:
            sys.exit(f"error: known vector mismatch: got {got}, want {want}")
    if enc.n_vocab != 201088:
        sys.exit(f"error: n_vocab is {enc.n_vocab}, expected 201088")


def official_encodings(vocab_path):
    """tiktoken's own registered o200k_base and o200k_harmony, fed the local vocabulary file
    instead of a download; None when the tiktoken_ext plugin is missing."""
    with open(vocab_path, "rb") as f:
        data = f.read()
    os.environ["TIKTOKEN_CACHE_DIR"] = ""  # no cache: read_file below is always called
    saved = tiktoken.load.read_file
    tiktoken.load.read_file = lambda blobpath: data
    try:
        base = tiktoken.get_encoding("o200k_base")
        try:
            harmony = tiktoken.get_encoding("o200k_harmony")
        except ValueError:
            harmony = None  # older tiktoken without o200k_harmony
        return base, harmony
    except ValueError as e:
        print(f"warning: no cross-check against tiktoken's registered encodings ({e})")
        return None, None
    finally:
        tiktoken.load.read_file = saved


def split_lines(text):
    """Splits after each "\\n", keeping it; "\\r" stays inside its line."""
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def roundtrip(enc, text, ids, what):
    if enc.decode_bytes(ids) != text.encode("utf-8"):
        sys.exit(f"error: decode(encode(x)) != x for {what}")


def compact(obj):
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vocab", default=DEFAULT_VOCAB, help="o200k_base.tiktoken (default: %(default)s)")
    ap.add_argument("--corpus", default=DEFAULT_CORPUS, help="corpus folder (default: %(default)s)")
    ap.add_argument("--out", default=DEFAULT_OUT, help="goldens file (default: %(default)s)")
    args = ap.parse_args(argv)

    enc = load_encoding(args.vocab)
    base, harmony = official_encodings(args.vocab)
    if base is not None and base._pat_str != O200K_PATTERN:
        sys.exit("error: the pattern differs from tiktoken's registered o200k_base pattern")

    names = sorted(n for n in os.listdir(args.corpus) if n.endswith(".txt"))
    if not names:
        sys.exit(f"error: no .txt files in {args.corpus}; run tools/make_tokenizer_corpus.py")

    files = []
    lines_golden = None
    for name in names:
        with open(os.path.join(args.corpus, name), "rb") as f:
            data = f.read()
        text = data.decode("utf-8")
        ids = enc.encode_ordinary(text)
        roundtrip(enc, text, ids, name)
        if base is not None and base.encode_ordinary(text) != ids:
            sys.exit(f"error: {name}: ids differ from tiktoken's registered o200k_base")
        files.append({"name": name, "n_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                      "n_ids": len(ids), "ids": ids})
        print(f"{name:22s} {len(data):8d} bytes {len(ids):8d} ids")
        if name == MIXED_FILE:
            per_line = []
            for i, line in enumerate(split_lines(text)):
                line_ids = enc.encode_ordinary(line)
                roundtrip(enc, line, line_ids, f"{name} line {i + 1}")
                per_line.append(line_ids)
            lines_golden = {"name": name, "split_after": "\n", "ids": per_line}
    if lines_golden is None:
        sys.exit(f"error: {MIXED_FILE} is missing from {args.corpus}")

    specials = []
    for text in SPECIAL_CASES:
        ids = enc.encode(text, allowed_special="all")
        if enc.decode_bytes(ids) != text.encode("utf-8"):
            sys.exit(f"error: special case {text!r} does not round-trip")
        if harmony is not None and harmony.encode(text, allowed_special="all") != ids:
            sys.exit(f"error: special case {text!r} differs from tiktoken's o200k_harmony")
        specials.append({"text": text, "ids": ids})

    # One entry per line keeps the file small yet diffable file by file.
    out = ["{", f"\"vocab_sha256\":{compact(VOCAB_SHA256)},",
           "\"encoding\":\"o200k_base BPE and pattern, harmony special tokens 199998-201087\",",
           # Which characters are letters or numbers follows the Unicode tables of the regex
           # engine inside tiktoken (Unicode 16.0 in tiktoken 0.14), so a newer tiktoken may
           # change the ids of recently assigned characters (unicode_versions.txt).
           f"\"tiktoken_version\":{compact(tiktoken.__version__)},",
           "\"files\":["]
    out.append(",\n".join(compact(f) for f in files))
    out.append("],")
    out.append("\"lines\":{" + f"\"name\":{compact(lines_golden['name'])},"
               f"\"split_after\":{compact(lines_golden['split_after'])},\"ids\":[")
    out.append(",\n".join(compact(ids) for ids in lines_golden["ids"]))
    out.append("]},")
    out.append("\"special_cases\":[")
    out.append(",\n".join(compact(s) for s in specials))
    out.append("]")
    out.append("}")
    text = "\n".join(out) + "\n"
    json.loads(text)  # the hand-joined layout must still be valid JSON
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w", encoding="ascii", newline="\n") as f:
        f.write(text)
    total = sum(f["n_bytes"] for f in files)
    print(f"{'total':22s} {total:8d} bytes {sum(f['n_ids'] for f in files):8d} ids; "
          f"{len(lines_golden['ids'])} lines of {MIXED_FILE}; {len(specials)} special cases")
    print(f"wrote {args.out} ({len(text)} bytes)"
          + ("" if base is not None else "; not cross-checked against tiktoken's registry"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The tokenizer.json we write is what Hugging Face tools expect for gpt-oss.

Hugging Face's `tokenizers` library loads it and encodes the corpus exactly as tiktoken does,
and its vocab and merges hash to what transformers' tiktoken converter produces (the hash is
recorded by tools/make_tokenizer_json_golden.py, so this test needs neither transformers nor
the network).
"""
import hashlib
import json
import os

from conftest import DATA, VOCAB


def canonical_hash(obj):
    return hashlib.sha256(json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
                          .encode()).hexdigest()


def test_written_tokenizer_json(run, tmp_path, tokenizer_goldens):
    out = tmp_path / "tokenizer.json"
    p = run(["convert-tokenizer", "--tokenizer", VOCAB, "--out", str(out)])
    assert p.returncode == 0, p.stderr
    doc = json.load(open(out, encoding="utf-8"))
    golden = json.load(open(os.path.join(DATA, "tokenizer", "tokenizer_json_golden.json")))
    assert canonical_hash(doc["model"]["vocab"]) == golden["vocab_sha256"]
    assert canonical_hash(doc["model"]["merges"]) == golden["merges_sha256"]
    assert [(t["id"], t["content"]) for t in doc["added_tokens"]] == \
        [tuple(t) for t in golden["added_tokens"]]

    from tokenizers import Tokenizer
    tk = Tokenizer.from_file(str(out))
    tk.encode_special_tokens = True  # special names in the corpus are text, as for tiktoken
    for entry in tokenizer_goldens["files"]:
        text = open(os.path.join(DATA, "tokenizer", "corpus", entry["name"]),
                    encoding="utf-8", newline="").read()
        assert tk.encode(text, add_special_tokens=False).ids == entry["ids"], entry["name"]
    tk.encode_special_tokens = False
    assert tk.encode("<|start|>assistant<|channel|>final").ids == [200006, 173781, 200005, 17196]

"""`gptoss tokenize` / `detokenize` against tiktoken's goldens, and their error messages."""
import json
import os

import pytest

from conftest import DATA, VOCAB

CORPUS = os.path.join(DATA, "tokenizer", "corpus")


def corpus_files(goldens):
    return [f["name"] for f in goldens["files"]]


def test_corpus_equals_tiktoken_and_round_trips(run, tokenizer_goldens):
    total = 0
    for entry in tokenizer_goldens["files"]:
        data = open(os.path.join(CORPUS, entry["name"]), "rb").read()
        total += len(data)
        p = run(["tokenize", "--tokenizer", VOCAB], data)
        assert p.returncode == 0, p.stderr
        ids = json.loads(p.stdout)
        assert ids == entry["ids"], entry["name"]
        back = run(["detokenize", "--tokenizer", VOCAB], json.dumps(ids).encode())
        assert back.returncode == 0, back.stderr
        assert back.stdout == data, entry["name"]
    assert total >= 200 * 1024


def test_special_tokens_only_when_asked(run, tokenizer_goldens):
    for case in tokenizer_goldens["special_cases"]:
        p = run(["tokenize", "--tokenizer", VOCAB, "--allow-special"], case["text"].encode())
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout) == case["ids"], case["text"]
    plain = run(["tokenize", "--tokenizer", VOCAB], b"<|start|>")
    assert json.loads(plain.stdout) == [27, 91, 5236, 91, 29]


def test_model_directory_with_written_tokenizer_json(run, tmp_path, tokenizer_goldens):
    model = tmp_path / "model"
    model.mkdir()
    p = run(["convert-tokenizer", "--tokenizer", VOCAB, "--out", str(model / "tokenizer.json")])
    assert p.returncode == 0, p.stderr
    entry = tokenizer_goldens["files"][0]
    data = open(os.path.join(CORPUS, entry["name"]), "rb").read()
    p = run(["tokenize", "--model", str(model)], data)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == entry["ids"]


def test_invalid_utf8_round_trips(run):
    data = bytes(range(256)) * 3 + b"\xe4\xbd" + "héllo".encode() + b"\xf0\x9f"
    p = run(["tokenize", "--tokenizer", VOCAB], data)
    assert p.returncode == 0
    back = run(["detokenize", "--tokenizer", VOCAB], p.stdout)
    assert back.stdout == data


@pytest.mark.parametrize("args,stdin,code,needle", [
    (["tokenize"], b"x", 2, "--model DIR or --tokenizer FILE"),
    (["tokenize", "--tokenizer", "/nonexistent/vocab.tiktoken"], b"x", 1,
     "/nonexistent/vocab.tiktoken"),
    (["tokenize", "--tokenizer"], b"x", 2, "--tokenizer needs a value"),
    (["tokenize", "--tokenizer", VOCAB, "--bogus"], b"x", 2, "--bogus: unknown flag"),
    (["tokenize", "--tokenizer", VOCAB, "--date", "2025-01-01"], b"x", 2, "--chat only"),
    (["tokenize", "--model", "/nonexistent-dir"], b"x", 1, "/nonexistent-dir"),
    (["detokenize", "--tokenizer", VOCAB], b"[1, 2, 999999]", 1, "999999"),
    (["detokenize", "--tokenizer", VOCAB], b"[1, -2]", 2, "stdin[1]"),
    (["detokenize", "--tokenizer", VOCAB], b"{\"a\": 1}", 2, "JSON array"),
    (["detokenize", "--tokenizer", VOCAB], b"[1, 2", 2, "not JSON"),
    (["nonsense"], b"", 2, "unknown command"),
])
def test_errors_are_one_clear_line(run, args, stdin, code, needle):
    p = run(args, stdin)
    assert p.returncode == code
    first = p.stderr.decode().splitlines()[0]
    assert first.startswith("gptoss: ")
    assert needle in first
    assert p.stdout == b""


def test_bad_vocabulary_file_is_named(run, tmp_path):
    bad = tmp_path / "broken.tiktoken"
    bad.write_bytes(open(VOCAB, "rb").read()[:100000])
    p = run(["tokenize", "--tokenizer", str(bad)], b"x")
    assert p.returncode == 1
    assert "broken.tiktoken" in p.stderr.decode()

"""`gptoss expand-model`: a compact checkpoint (the embedding and unembedding kept only for the
tokens a model uses, plus one shared row; the form the demo model ships in) expands into the
Hub layout, tensor for tensor equal to the checkpoint it was made from, and broken compact files
are refused with one line naming the file and the tensor.
"""
import json
import os
import shutil
import struct

import numpy as np
import pytest

from conftest import VOCAB
from scripted_model import make_scripted_model


def read_safetensors(path):
    """{name: (dtype, shape, bytes)}."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    return {k: (v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]])
            for k, v in header.items() if k != "__metadata__"}


def write_safetensors(path, tensors):
    """tensors: {name: (dtype, shape, bytes)}, written in name order."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        dtype, shape, data = tensors[name]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def compact_from(full_dir, out_dir):
    """Makes the compact form of a checkpoint whose embedding and unembedding rows are zero for
    every token outside a small set (the scripted model is one)."""
    tensors = read_safetensors(os.path.join(full_dir, "model.safetensors"))
    _, (vocab, hidden), emb = tensors.pop("model.embed_tokens.weight")
    _, _, head = tensors.pop("lm_head.weight")
    emb = np.frombuffer(emb, np.uint16).reshape(vocab, hidden)
    head = np.frombuffer(head, np.uint16).reshape(vocab, hidden)
    ids = np.nonzero(emb.any(axis=1) | head.any(axis=1))[0].astype(np.int32)
    shared = np.zeros((1, hidden), np.uint16)
    tensors["compact.token_ids"] = ("I32", [len(ids)], ids.tobytes())
    tensors["compact.embed_tokens"] = ("BF16", [len(ids) + 1, hidden],
                                       np.concatenate([emb[ids], shared]).tobytes())
    tensors["compact.lm_head"] = ("BF16", [len(ids) + 1, hidden],
                                  np.concatenate([head[ids], shared]).tobytes())
    os.makedirs(out_dir, exist_ok=True)
    for name in ("config.json", "generation_config.json"):
        shutil.copy(os.path.join(full_dir, name), out_dir)
    write_safetensors(os.path.join(out_dir, "model.compact.safetensors"), tensors)
    return ids


@pytest.fixture(scope="module")
def full(gptoss_bin, tmp_path_factory):
    return make_scripted_model(gptoss_bin, tmp_path_factory.mktemp("compact") / "full")


@pytest.fixture(scope="module")
def compact(full, tmp_path_factory):
    out = tmp_path_factory.mktemp("compact") / "compact"
    ids = compact_from(full, out)
    assert 20 < len(ids) < 200
    return out


def test_expansion_equals_the_original(run, full, compact, tmp_path):
    out = tmp_path / "expanded"
    r = run(["expand-model", "--model", str(compact), "--tokenizer", VOCAB, "--out", str(out)])
    assert r.returncode == 0, r.stderr.decode()
    assert sorted(os.listdir(out)) == ["config.json", "generation_config.json", "model.safetensors",
                                       "tokenizer.json"]
    assert read_safetensors(out / "model.safetensors") == \
        read_safetensors(os.path.join(full, "model.safetensors"))
    with open(out / "tokenizer.json", "rb") as a, open(os.path.join(full, "tokenizer.json"),
                                                      "rb") as b:
        assert a.read() == b.read()
    # And the engine computes the same from both.
    for d in (full, out):
        r = run(["logits", "--model", str(d), "--tokens", "200006,1428,200008,12194",
                 "--out", str(tmp_path / f"{os.path.basename(d)}.npy")])
        assert r.returncode == 0, r.stderr.decode()
    assert np.array_equal(np.load(tmp_path / "full.npy"), np.load(tmp_path / "expanded.npy"))


def broken(compact, tmp_path, edit):
    bad = tmp_path / "bad"
    shutil.copytree(compact, bad)
    path = bad / "model.compact.safetensors"
    tensors = read_safetensors(path)
    edit(tensors)
    write_safetensors(path, tensors)
    return bad


def _unsorted(t):
    dtype, shape, data = t["compact.token_ids"]
    ids = np.frombuffer(data, np.int32).copy()
    ids[[0, 1]] = ids[[1, 0]]
    t["compact.token_ids"] = (dtype, shape, ids.tobytes())


def _too_big(t):
    dtype, shape, data = t["compact.token_ids"]
    ids = np.frombuffer(data, np.int32).copy()
    ids[-1] = 201088
    t["compact.token_ids"] = (dtype, shape, ids.tobytes())


def _short_rows(t):
    dtype, (n, h), data = t["compact.lm_head"]
    t["compact.lm_head"] = (dtype, [n - 1, h], data[:(n - 1) * h * 2])


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.pop("compact.embed_tokens"), "tensor 'compact.embed_tokens' is missing"),
    (_unsorted, "ids must be ascending"),
    (_too_big, "below vocab_size"),
    (_short_rows, "'compact.lm_head' must be BF16"),
    (lambda t: t.__setitem__("lm_head.weight", ("BF16", [1, 1], b"\0\0")), "must not be there"),
])
def test_broken_compact_files(run, compact, tmp_path, edit, message):
    bad = broken(compact, tmp_path, edit)
    r = run(["expand-model", "--model", str(bad), "--tokenizer", VOCAB,
             "--out", str(tmp_path / "out")])
    err = r.stderr.decode()
    assert r.returncode == 1 and message in err and "model.compact.safetensors" in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert not os.path.exists(tmp_path / "out" / "model.safetensors")

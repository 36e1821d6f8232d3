"""`gptoss logits` against transformers' GptOssForCausalLM (fp32, eager attention).

tools/make_model_goldens.py wrote the reference for four generated checkpoints (several shards,
bf16 experts, YaRN far beyond its original context, large sinks and more experts) and for the
trained demo model; here each checkpoint is regenerated with `gptoss random-model` or `gptoss
expand-model` (byte-identical: the file hashes are in the golden) and its teacher-forced logits
compared: the same argmax at every position, and every stored logit (the top 16 of each row and
64 fixed probe ids) within 1e-3 of the row's largest |logit|.
"""
import os
import subprocess

import numpy as np
import pytest

from conftest import DATA, ROOT, VOCAB

GOLDEN_DIR = os.path.join(DATA, "model")
DEMO = os.path.join(ROOT, "models", "demo")
NAMES = sorted(f[:-4] for f in os.listdir(GOLDEN_DIR) if f.endswith(".npz"))
FLAGS = {  # random-model flags; None: the demo model, expanded from models/demo
    "demo": None,
    "tiny_mxfp4_shards": ["--preset", "tiny", "--seed", "1", "--shards", "3"],
    "tiny_bf16_experts": ["--preset", "tiny", "--seed", "2", "--experts", "bf16", "--shards", "2"],
    "tiny_yarn": ["--preset", "tiny", "--seed", "3", "--rope-original-max-position", "32"],
    "tiny_strong_sinks": ["--preset", "tiny", "--seed", "4", "--sink-scale", "6",
                          "--num-experts", "16", "--layers", "6"],
}
TOLERANCE = 1e-3


def test_all_goldens_have_flags():
    assert len(NAMES) >= 4
    assert set(NAMES) == set(FLAGS)


@pytest.mark.parametrize("name", NAMES)
def test_logits_match_transformers(name, gptoss_bin, tmp_path):
    golden = np.load(os.path.join(GOLDEN_DIR, name + ".npz"))
    ckpt = tmp_path / name
    make = ["expand-model", "--model", DEMO] if FLAGS[name] is None else ["random-model", *FLAGS[name]]
    subprocess.run([gptoss_bin, *make, "--tokenizer", VOCAB, "--out", str(ckpt)], check=True,
                   capture_output=True, timeout=300)
    import hashlib
    for fname, digest in golden["files"]:
        with open(ckpt / fname, "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == digest, \
                f"{name}/{fname} differs from the checkpoint the golden was made from"

    out = tmp_path / "logits.npy"
    tokens = ",".join(str(t) for t in golden["tokens"])
    # The exact mode: every product in f32, as the goldens were computed.
    r = subprocess.run([gptoss_bin, "logits", "--model", str(ckpt), "--tokens", tokens,
                        "--dtype", "float32", "--out", str(out)], capture_output=True, timeout=900)
    assert r.returncode == 0, r.stderr.decode()
    ours = np.load(out, mmap_mode="r")
    n = len(golden["tokens"])
    assert ours.shape == (n, 201088)
    assert ours.dtype == np.float32

    rows = np.arange(n)[:, None]
    scale = golden["max_abs"][:, None]
    top_err = np.abs(ours[rows, golden["top_ids"]] - golden["top_vals"]) / scale
    probe_err = np.abs(ours[:, golden["probe_ids"]] - golden["probe_vals"]) / scale
    worst = max(top_err.max(), probe_err.max())
    assert worst <= TOLERANCE, f"max relative logit error {worst:.3g}"
    argmax = np.asarray(ours).argmax(axis=1)
    diff = np.nonzero(argmax != golden["argmax"])[0]
    assert len(diff) == 0, f"argmax differs at positions {diff[:10].tolist()}"
    # The row maxima agree too (a wrong vocabulary row would show here first).
    ours_max = np.abs(np.asarray(ours)).max(axis=1)
    assert np.all(np.abs(ours_max - golden["max_abs"]) <= TOLERANCE * golden["max_abs"])

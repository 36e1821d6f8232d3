"""Shared fixtures for the end-to-end tests: they drive the built `gptoss` binary.

GPTOSS_BIN names the binary (default: build/gptoss in the repository); the tests never need
torch or tiktoken, only the goldens committed under tests/data.
"""
import json
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data")
VOCAB = os.path.join(DATA, "tokenizer", "o200k_base.tiktoken")


def require_demo_model():
    """Skips the calling test while the built-in demo model is not in the repository: it is
    committed only once it meets the held-out bars (tools/demo/README.md, Status)."""
    if not os.path.exists(os.path.join(ROOT, "models", "demo", "model.compact.safetensors")):
        pytest.skip("models/demo is not in the repository yet: tools/demo trains it, and it is "
                    "committed once it meets the held-out bars (tools/demo/README.md, Status)")


@pytest.fixture(scope="session")
def gptoss_bin():
    path = os.environ.get("GPTOSS_BIN", os.path.join(ROOT, "build", "gptoss"))
    if not os.path.exists(path):
        pytest.fail(f"{path} does not exist: build the project first (see README.md)")
    return path


@pytest.fixture(scope="session")
def run(gptoss_bin):
    """Runs `gptoss ARGS` with bytes on stdin; returns the CompletedProcess."""
    def _run(args, stdin=b""):
        return subprocess.run([gptoss_bin, *args], input=stdin, capture_output=True, timeout=120)
    return _run


@pytest.fixture(scope="session")
def tiny_model(gptoss_bin, tmp_path_factory):
    """A tiny random checkpoint (seed 5), made once per session, for tests that need a model
    but not particular weights."""
    path = tmp_path_factory.mktemp("tiny-model") / "tiny"
    subprocess.run([gptoss_bin, "random-model", "--preset", "tiny", "--seed", "5",
                    "--tokenizer", VOCAB, "--out", str(path)], check=True, capture_output=True,
                   timeout=300)
    return path


@pytest.fixture(scope="session")
def tokenizer_goldens():
    with open(os.path.join(DATA, "tokenizer", "goldens.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="session")
def scripted(gptoss_bin, tmp_path_factory):
    """The scripted checkpoint (scripted_model.py: every reply thinks, then streams an answer)
    that the web UI tests chat with; made once per session."""
    from scripted_model import make_scripted_model
    return make_scripted_model(gptoss_bin, tmp_path_factory.mktemp("scripted") / "scripted")

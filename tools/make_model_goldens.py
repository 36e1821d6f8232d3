"""Reference logits from Hugging Face transformers for the engine's model tests.

For each test checkpoint below, writes the checkpoint with `gptoss random-model` (deterministic
for its flags) or, for the demo model, `gptoss expand-model` of models/demo, loads it with transformers' GptOssForCausalLM in float32 with eager attention
(MXFP4 experts dequantised), runs a fixed sequence of token ids teacher-forced and stores what
the tests compare against in tests/data/model/<name>.npz:

  tokens      int64 [T]          the input ids
  argmax      int64 [T]          transformers' argmax at every position
  max_abs     float32 [T]        the largest |logit| of every row
  top_ids     int64 [T, K]       the K highest logits of every row ...
  top_vals    float32 [T, K]     ... and their values
  probe_ids   int64 [P]          a fixed random set of vocabulary ids ...
  probe_vals  float32 [T, P]     ... and their logits at every position
  files       str [F, 2]         sha256 of every checkpoint file, so the tests know they
                                 regenerated the same checkpoint

With --check, also runs `gptoss logits` on each checkpoint and reports the full comparison
(max |Δlogit| over the whole vocabulary, relative to the row's largest |logit|, and argmax
agreement), which is what the closing notes quote.

Usage: python3 tools/make_model_goldens.py --gptoss build/gptoss [--check] [--work DIR]
Needs torch and transformers (tools/requirements.txt); the tests need neither.
"""
import argparse
import hashlib
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "tests", "data", "model")
VOCAB = os.path.join(ROOT, "tests", "data", "tokenizer", "o200k_base.tiktoken")

N_TOKENS = 320  # longer than the 128-token window, and far beyond a 32-position YaRN context
TOP_K = 16
N_PROBES = 64

DEMO_REQUEST = {  # the demo model's tokens: a tool request as the server renders it, twice
    "messages": [{"role": "user", "content": "What's the weather in Seville?"}],
    "tools": [{"type": "function", "function": {
        "name": "get_weather", "description": "Get the current weather for a location",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
                       "required": ["location"]}}}],
}

# name -> (random-model flags, or None for the demo model; what the checkpoint exercises)
CHECKPOINTS = {
    "demo": (None, "the trained demo model, MXFP4 experts, a chat prompt with tools"),
    "tiny_mxfp4_shards": (
        ["--preset", "tiny", "--seed", "1", "--shards", "3"],
        "MXFP4 experts in three shards with an index",
    ),
    "tiny_bf16_experts": (
        ["--preset", "tiny", "--seed", "2", "--experts", "bf16", "--shards", "2"],
        "unquantised bf16 experts (transposed layout)",
    ),
    "tiny_yarn": (
        ["--preset", "tiny", "--seed", "3", "--rope-original-max-position", "32"],
        "YaRN with a 32-position original context, positions up to 319",
    ),
    "tiny_strong_sinks": (
        ["--preset", "tiny", "--seed", "4", "--sink-scale", "6", "--num-experts", "16",
         "--layers", "6"],
        "large sinks, 16 experts (top-4), 6 layers",
    ),
}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def checkpoint_hashes(path):
    return [[name, sha256(os.path.join(path, name))] for name in sorted(os.listdir(path))]


def write_checkpoint(gptoss, flags, path):
    if flags is None:
        cmd = ["expand-model", "--model", os.path.join(ROOT, "models", "demo")]
    else:
        cmd = ["random-model", *flags]
    subprocess.run([gptoss, *cmd, "--tokenizer", VOCAB, "--out", path], check=True)


def test_tokens(name, gptoss):
    """Ordinary ids plus a sprinkling of harmony specials, fixed per checkpoint name; for the
    demo model, text it was trained on (random ids say little about a trained model)."""
    if name == "demo":
        import json
        out = subprocess.run([gptoss, "tokenize", "--chat", "--tokenizer", VOCAB, "--date",
                              "2026-11-25"], input=json.dumps(DEMO_REQUEST).encode(),
                             capture_output=True, check=True)
        ids = json.loads(out.stdout)
        return np.array((ids * (N_TOKENS // len(ids) + 1))[:N_TOKENS], dtype=np.int64)
    seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 199998, size=N_TOKENS)
    specials = [200006, 200005, 200008, 200007, 200002, 200012]
    where = rng.choice(N_TOKENS, size=24, replace=False)
    ids[where] = rng.choice(specials, size=24)
    return ids.astype(np.int64)


def reference_logits(path, ids):
    import torch
    from transformers import GptOssForCausalLM, Mxfp4Config

    kwargs = dict(dtype=torch.float32, attn_implementation="eager")
    import json

    with open(os.path.join(path, "config.json")) as f:
        if "quantization_config" in json.load(f):
            kwargs["quantization_config"] = Mxfp4Config(dequantize=True)
    model = GptOssForCausalLM.from_pretrained(path, **kwargs).eval()
    for name, p in model.named_parameters():
        if p.dtype != torch.float32:
            sys.exit(f"{path}: parameter {name} is {p.dtype}, not float32")
    with torch.no_grad():
        out = model(input_ids=torch.tensor(ids)[None, :], use_cache=False)
    return out.logits[0].float().numpy()


def summarise(name, ids, logits, files):
    seed = int.from_bytes(hashlib.sha256(b"probe" + name.encode()).digest()[:4], "little")
    probes = np.sort(np.random.default_rng(seed).choice(logits.shape[1], N_PROBES, replace=False))
    top = np.argsort(-logits, axis=1, kind="stable")[:, :TOP_K]
    return dict(
        tokens=ids,
        argmax=logits.argmax(axis=1).astype(np.int64),
        max_abs=np.abs(logits).max(axis=1).astype(np.float32),
        top_ids=top.astype(np.int64),
        top_vals=np.take_along_axis(logits, top, axis=1).astype(np.float32),
        probe_ids=probes.astype(np.int64),
        probe_vals=logits[:, probes].astype(np.float32),
        files=np.array(files),
    )


def check_full(gptoss, path, ids, ref):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "logits.npy")
        subprocess.run([gptoss, "logits", "--model", path, "--tokens",
                        ",".join(map(str, ids)), "--dtype", "float32", "--out", out], check=True)
        ours = np.load(out)
    rel = (np.abs(ours - ref).max(axis=1) / np.abs(ref).max(axis=1)).max()
    same = int((ours.argmax(axis=1) == ref.argmax(axis=1)).sum())
    return rel, same


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gptoss", default=os.path.join(ROOT, "build", "gptoss"))
    ap.add_argument("--work", default=None, help="where to write the checkpoints")
    ap.add_argument("--check", action="store_true", help="also compare gptoss logits in full")
    ap.add_argument("names", nargs="*", default=list(CHECKPOINTS))
    args = ap.parse_args()
    os.makedirs(OUT_DIR, exist_ok=True)
    work = args.work or tempfile.mkdtemp(prefix="gptoss-goldens-")
    for name in args.names:
        flags, what = CHECKPOINTS[name]
        path = os.path.join(work, name)
        write_checkpoint(args.gptoss, flags, path)
        ids = test_tokens(name, args.gptoss)
        ref = reference_logits(path, ids)
        np.savez_compressed(os.path.join(OUT_DIR, name + ".npz"),
                            **summarise(name, ids, ref, checkpoint_hashes(path)))
        line = f"{name}: {what}; {len(ids)} tokens"
        if args.check:
            rel, same = check_full(args.gptoss, path, ids, ref)
            line += f"; gptoss max |dlogit|/max|logit| = {rel:.2e}, argmax equal {same}/{len(ids)}"
        print(line, flush=True)


if __name__ == "__main__":
    main()

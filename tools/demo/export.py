"""Exports a trained demo checkpoint: the full Hugging Face checkpoint and the compact form.

  full (--full DIR): config.json, generation_config.json, model.safetensors (MXFP4 experts in the
      Hub layout, everything else BF16, embed_tokens/lm_head [201088, H]), tokenizer.json.
  compact (--compact DIR, committed as models/demo): config.json, generation_config.json and
      model.compact.safetensors: every tensor of the full checkpoint except model.embed_tokens.weight
      and lm_head.weight, which become compact.token_ids (I32 [n], ascending),
      compact.embed_tokens and compact.lm_head (BF16 [n + 1, H]: the rows of those ids, then the
      row every other id gets). Expanding: full[id] = compact[index of id] if id is listed,
      else compact[n].

Tensors are written sorted by name in both files. With --check, the full checkpoint is also
expanded from the compact file and compared byte for byte.

Usage: python3 tools/demo/export.py --run /tmp/demo-work/run --data /tmp/demo-work \
           --full /tmp/demo-full --compact models/demo --check
"""
import argparse
import os
import struct
import subprocess
import tempfile

import numpy as np
import torch
from safetensors.torch import load_file, save_file

import json

from common import FULL_VOCAB, GENERATION_CONFIG, ROOT, mxfp4_quantize, save_json

VOCAB = os.path.join(ROOT, "tests", "data", "tokenizer", "o200k_base.tiktoken")


def hub_tensors(state, n):
    """Hub-named tensors (except embed/lm_head) from the trained reduced-vocabulary state dict."""
    out = {}
    for k, v in state.items():
        if k in ("model.embed_tokens.weight", "lm_head.weight"):
            continue
        if k.endswith("mlp.experts.gate_up_proj") or k.endswith("mlp.experts.down_proj"):
            b, s = mxfp4_quantize(v.float().transpose(1, 2))  # Hub stores [E, out, in]
            out[k + "_blocks"] = b
            out[k + "_scales"] = s
        else:
            out[k] = v.to(torch.bfloat16).contiguous()
    return out


def expand(token_ids, rows):
    """[n + 1, H] compact rows -> [FULL_VOCAB, H]."""
    n = len(token_ids)
    full = rows[n].unsqueeze(0).repeat(FULL_VOCAB, 1)
    full[torch.from_numpy(np.asarray(token_ids, dtype=np.int64))] = rows[:n]
    return full.contiguous()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", default="/tmp/demo-work/run")
    ap.add_argument("--data", default="/tmp/demo-work")
    ap.add_argument("--full", default="/tmp/demo-full")
    ap.add_argument("--compact", default=os.path.join(ROOT, "models", "demo"))
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--gptoss", default=os.path.join(ROOT, "build", "gptoss"),
                    help="writes tokenizer.json, and the reference checkpoint for --check")
    args = ap.parse_args()

    ck = torch.load(os.path.join(args.run, "checkpoint.pt"))
    state = ck["model"]
    token_ids = np.load(os.path.join(args.data, "token_ids.npy")).astype(np.int32)
    n = len(token_ids)
    assert np.all(np.diff(token_ids) > 0)
    with open(os.path.join(args.run, "config.json")) as f:
        cfg = json.load(f)

    tensors = hub_tensors(state, n)
    emb = state["model.embed_tokens.weight"].to(torch.bfloat16)
    head = state["lm_head.weight"].to(torch.bfloat16)
    assert emb.shape[0] == n + 1

    # compact
    os.makedirs(args.compact, exist_ok=True)
    compact = dict(tensors)
    compact["compact.token_ids"] = torch.from_numpy(token_ids)
    compact["compact.embed_tokens"] = emb.contiguous()
    compact["compact.lm_head"] = head.contiguous()
    save_file({k: compact[k] for k in sorted(compact)},
              os.path.join(args.compact, "model.compact.safetensors"), metadata={"format": "pt"})
    save_json(os.path.join(args.compact, "config.json"), cfg)
    save_json(os.path.join(args.compact, "generation_config.json"), GENERATION_CONFIG)

    # full
    os.makedirs(args.full, exist_ok=True)
    full = dict(tensors)
    full["model.embed_tokens.weight"] = expand(token_ids, emb)
    full["lm_head.weight"] = expand(token_ids, head)
    save_file({k: full[k] for k in sorted(full)}, os.path.join(args.full, "model.safetensors"),
              metadata={"format": "pt"})
    save_json(os.path.join(args.full, "config.json"), cfg)
    save_json(os.path.join(args.full, "generation_config.json"), GENERATION_CONFIG)
    subprocess.run([args.gptoss, "convert-tokenizer", "--tokenizer", VOCAB,
                    "--out", os.path.join(args.full, "tokenizer.json")], check=True)
    size = sum(os.path.getsize(os.path.join(args.compact, f)) for f in os.listdir(args.compact))
    print(f"compact {args.compact}: {size / 1e6:.2f} MB; full {args.full}")

    if args.check:
        c = load_file(os.path.join(args.compact, "model.compact.safetensors"))
        f = load_file(os.path.join(args.full, "model.safetensors"))
        ids = c.pop("compact.token_ids").numpy()
        c["model.embed_tokens.weight"] = expand(ids, c.pop("compact.embed_tokens"))
        c["lm_head.weight"] = expand(ids, c.pop("compact.lm_head"))
        assert sorted(c) == sorted(f), set(c) ^ set(f)
        for k in f:
            assert c[k].dtype == f[k].dtype and c[k].shape == f[k].shape, k
            assert c[k].contiguous().view(torch.uint8).equal(f[k].contiguous().view(torch.uint8)), k
        # names, shapes and dtypes as the reference tiny checkpoint (per layer)
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([args.gptoss, "random-model", "--preset", "tiny", "--tokenizer", VOCAB,
                            "--out", tmp], check=True, capture_output=True)
            ref = os.path.join(tmp, "model.safetensors")
            with open(ref, "rb") as fh:
                hdr = json.loads(fh.read(struct.unpack("<Q", fh.read(8))[0]))
            names = {k for k in hdr if k != "__metadata__"}
            assert names == set(f), names ^ set(f)
            dt = {torch.bfloat16: "BF16", torch.uint8: "U8"}
            for k in f:
                assert hdr[k]["dtype"] == dt[f[k].dtype], k
                assert len(hdr[k]["shape"]) == f[k].dim(), k
        print("check: expansion of the compact file equals the full checkpoint; names/dtypes match")


if __name__ == "__main__":
    main()

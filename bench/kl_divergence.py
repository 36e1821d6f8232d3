#!/usr/bin/env python3
"""kl_divergence.py — what --weights int8, --dtype bfloat16 and --dtype auto cost in accuracy.

Usage:
  python3 bench/kl_divergence.py --model DIR [--gptoss build/gptoss] [--prompt TEXT]
                                 [--max-tokens 128] [--threads N]

Generates text greedily with the exact settings (--weights exact --dtype float32), turns it
back into token ids, and computes teacher-forced next-token distributions over those ids for
each setting with `gptoss logits`. Prints, against the exact distributions, the KL divergence
KL(exact || setting) per position (mean, 95th percentile, max, in nats) and how often the most
likely next token is the same. Needs numpy.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

SETTINGS = [
    ("exact weights, float32 (reference)", "exact", "float32"),
    ("exact weights, bfloat16 activations", "exact", "bfloat16"),
    ("int8 weights, float32", "int8", "float32"),
    ("int8 weights, bfloat16 activations", "int8", "bfloat16"),
    ("exact weights, auto (int8 activations for the experts)", "exact", "auto"),
    ("int8 weights, auto (int8 activations for experts and int8 matrices)", "int8", "auto"),
]


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, **kw)
    if r.returncode != 0:
        sys.exit(f"kl_divergence: {' '.join(map(str, cmd))} failed:\n"
                 f"{r.stderr.decode(errors='replace')[-2000:]}")
    return r.stdout


def log_softmax(z):
    z = z.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--gptoss", default=os.path.join(os.path.dirname(__file__), "..", "build",
                                                     "gptoss"))
    ap.add_argument("--prompt", default="The history of the city begins")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    common = ["--model", args.model] + (["--threads", str(args.threads)] if args.threads else [])

    text = run([args.gptoss, "generate", *common, "--prompt", args.prompt, "--raw",
                "--max-tokens", str(args.max_tokens), "--temperature", "0",
                "--weights", "exact", "--dtype", "float32"])
    ids = json.loads(run([args.gptoss, "tokenize", "--model", args.model],
                         input=args.prompt.encode() + text))
    print(f"{len(ids)} tokens of generated text", file=sys.stderr)

    logp = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, weights, dtype in SETTINGS:
            out = os.path.join(tmp, "l.npy")
            run([args.gptoss, "logits", *common, "--tokens", ",".join(map(str, ids)),
                 "--weights", weights, "--dtype", dtype, "--out", out])
            logp[name] = log_softmax(np.load(out))
    ref = logp[SETTINGS[0][0]]
    p = np.exp(ref)
    print(f"\n{len(ids)} positions; KL(exact || setting) in nats\n")
    print("| setting | mean KL | p95 KL | max KL | same top-1 |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, _, _ in SETTINGS[1:]:
        kl = (p * (ref - logp[name])).sum(axis=1)
        same = (ref.argmax(axis=1) == logp[name].argmax(axis=1)).mean()
        print(f"| {name} | {kl.mean():.2e} | {np.percentile(kl, 95):.2e} | {kl.max():.2e} "
              f"| {100 * same:.1f}% |")


if __name__ == "__main__":
    main()

"""Checks an exported demo checkpoint against the trained model and against the engine.

1. transformers' GptOssForCausalLM loads the full export (MXFP4 experts dequantised, fp32) and its
   logits on a held-out conversation are compared with the trained reduced-vocabulary model whose
   weights are rounded as the export rounds them (BF16, experts MXFP4). Expanded to the full
   vocabulary, the two must agree up to float32 rounding.
2. With --gptoss, `gptoss logits` on the same tokens is compared with transformers' logits
   (max |Δlogit| over the whole vocabulary relative to the row's largest |logit|, argmax).

Usage: python3 tools/demo/compare.py --run /tmp/demo-work/run --data /tmp/demo-work \
           --full /tmp/demo-full --gptoss build/gptoss
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import FULL_VOCAB, fake_quant  # noqa: E402
from eval_torch import load_run  # noqa: E402
from gen_data import HELDOUT, render_request  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", default="/tmp/demo-work/run")
    ap.add_argument("--data", default="/tmp/demo-work")
    ap.add_argument("--full", default="/tmp/demo-full")
    ap.add_argument("--gptoss", default=None)
    ap.add_argument("--row", type=int, default=105)
    args = ap.parse_args()
    torch.set_num_threads(2)
    rows = [json.loads(line) for line in open(HELDOUT)]
    toks = render_request(rows[args.row]["request"], "2026-11-25")
    toks = toks + [200005, 35644, 200008, 976, 1825]  # <|channel|>analysis<|message|>The user
    from transformers import GptOssForCausalLM, Mxfp4Config
    hf = GptOssForCausalLM.from_pretrained(args.full, dtype=torch.float32, attn_implementation="eager",
                                           quantization_config=Mxfp4Config(dequantize=True)).eval()
    with torch.no_grad():
        ref = hf(input_ids=torch.tensor(toks)[None], use_cache=False).logits[0].float().numpy()

    model, remap, ids = load_run(args.run, args.data, quantized=False)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("experts.gate_up_proj") or name.endswith("experts.down_proj"):
                p.copy_(fake_quant(p.data))
            else:
                p.copy_(p.data.to(torch.bfloat16).float())
        small = model(input_ids=remap[torch.tensor(toks)][None], use_cache=False).logits[0]
    n = len(ids)
    full = small[:, n:n + 1].repeat(1, FULL_VOCAB)
    full[:, ids] = small[:, :n]
    full = full.numpy()
    rel = (np.abs(full - ref).max(1) / np.abs(ref).max(1)).max()
    print(f"trained model (export rounding) vs transformers on the export: {len(toks)} tokens, "
          f"max |dlogit|/max|logit| = {rel:.2e}, argmax equal "
          f"{int((full.argmax(1) == ref.argmax(1)).sum())}/{len(toks)}")
    if args.gptoss:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "l.npy")
            subprocess.run([args.gptoss, "logits", "--model", args.full, "--tokens",
                            ",".join(map(str, toks)), "--out", out], check=True,
                           stdout=subprocess.DEVNULL)
            ours = np.load(out)
        rel = (np.abs(ours - ref).max(1) / np.abs(ref).max(1)).max()
        print(f"gptoss logits vs transformers: max |dlogit|/max|logit| = {rel:.2e}, argmax equal "
              f"{int((ours.argmax(1) == ref.argmax(1)).sum())}/{len(toks)}")


if __name__ == "__main__":
    main()

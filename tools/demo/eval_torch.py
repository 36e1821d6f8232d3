"""Greedy held-out evaluation in PyTorch, on the trained checkpoint or on an exported one.

  --run DIR       the training checkpoint (reduced vocabulary; --quantized fake-quantises the
                  experts to MXFP4 as the export does)
  --full DIR      an exported full checkpoint, loaded by transformers (MXFP4 dequantised, fp32)

Prompts are rendered from each held-out request exactly as the server renders them
(gen_data.render_request), with the current date 2026-11-25.

Usage: python3 tools/demo/eval_torch.py --run /tmp/demo-work/run [--quantized] [--limit N]
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import check, summarize  # noqa: E402
from common import build_model, fake_quant  # noqa: E402
from gen_data import ENC, HELDOUT, render_request  # noqa: E402
from openai_harmony import Role  # noqa: E402

STOP = {200002, 200012}


def load_run(run, data, quantized):
    ck = torch.load(os.path.join(run, "checkpoint.pt"))
    with open(os.path.join(run, "config.json")) as f:
        cfg = json.load(f)
    ids = np.load(os.path.join(data, "token_ids.npy")).astype(np.int64)
    n = len(ids)
    model = build_model(cfg, n + 1)
    model.load_state_dict(ck["model"])
    if quantized:
        with torch.no_grad():
            for layer in model.model.layers:
                ex = layer.mlp.experts
                ex.gate_up_proj.copy_(fake_quant(ex.gate_up_proj))
                ex.down_proj.copy_(fake_quant(ex.down_proj))
    model.eval()
    remap = torch.full((201088,), n, dtype=torch.long)
    remap[torch.from_numpy(ids)] = torch.arange(n)
    return model, remap, torch.from_numpy(ids)


def greedy(model, rows, to_id, max_new=120):
    """Greedy decoding from the model's input rows; to_id maps an output row to its token id, or
    to -1 for the reduced model's shared row (some id outside S: the demo model never means that,
    since a non-S id would need the shared row to win)."""
    out = []
    x = torch.tensor(rows)[None]
    past = None
    with torch.no_grad():
        for _ in range(max_new):
            o = model(input_ids=x, past_key_values=past, use_cache=True)
            past = o.past_key_values
            j = int(o.logits[0, -1].argmax())
            t = to_id(j)
            out.append(t)
            if t < 0 or t in STOP:
                break
            x = torch.tensor([[j]])
    return out


def to_reply(tokens):
    """(finish_reason, reasoning, content, tool_calls) from completion tokens, or an invalid one."""
    if not tokens or tokens[-1] not in STOP:
        return ("length", "", "", [])
    try:
        msgs = ENC.parse_messages_from_completion_tokens(tokens, Role.ASSISTANT)
    except Exception:
        return ("invalid", "", "", [])
    reasoning = "".join(m.content[0].text for m in msgs if m.channel == "analysis")
    content = "".join(m.content[0].text for m in msgs if m.channel == "final")
    calls = [(m.recipient[len("functions."):], m.content[0].text) for m in msgs
             if m.recipient and m.recipient.startswith("functions.")]
    return ("tool_calls" if calls else "stop", reasoning, content, calls)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", default=None)
    ap.add_argument("--data", default="/tmp/demo-work")
    ap.add_argument("--full", default=None)
    ap.add_argument("--quantized", action="store_true")
    ap.add_argument("--heldout", default=HELDOUT)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--show", type=int, default=3, help="print this many failures per kind")
    args = ap.parse_args()
    torch.set_num_threads(2)
    rows = [json.loads(line) for line in open(args.heldout)]
    if args.limit:
        rows = rows[::max(1, len(rows) // args.limit)]
    if args.full:
        from transformers import GptOssForCausalLM, Mxfp4Config
        model = GptOssForCausalLM.from_pretrained(
            args.full, dtype=torch.float32, attn_implementation="eager",
            quantization_config=Mxfp4Config(dequantize=True)).eval()
        gen = lambda p: greedy(model, p, int)  # noqa: E731
    else:
        model, remap, ids = load_run(args.run, args.data, args.quantized)
        gen = lambda p: greedy(model, remap[torch.tensor(p)].tolist(),  # noqa: E731
                                 lambda j: int(ids[j]) if j < len(ids) else -1)
    results, shown = [], {}
    for row in rows:
        toks = gen(render_request(row["request"], "2026-11-25"))
        reply = to_reply(toks)
        ok = check(row["kind"], row["expect"], reply)
        results.append((row["kind"], ok))
        if not ok and shown.get(row["kind"], 0) < args.show:
            shown[row["kind"]] = shown.get(row["kind"], 0) + 1
            print("FAIL", row["kind"], row["request"]["messages"][-1].get("content"), row["expect"],
                  "->", repr(ENC.decode_utf8([t for t in toks if t >= 0])[:300]))
    s = summarize(results)
    for k, d in s.items():
        print(f"{k:12s} {d['ok']}/{d['n']} = {d['accuracy']:.3f}")
    print(json.dumps(s))


if __name__ == "__main__":
    main()

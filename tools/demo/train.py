"""Trains the demo model (transformers' GptOssForCausalLM, fp32, CPU) on gen_data.py's output.

The model is built with a reduced vocabulary of n + 1 rows: the n ids of S (token_ids.npy) and one
shared row that every other id uses, both as input embedding and as output row. The loss is the
full-vocabulary cross-entropy of the model whose 201088 - n other output rows all equal the shared
row (logsumexp over the S logits and shared logit + log(201088 - n)), so export.py's expansion
computes exactly what was trained. Loss only on the completion (assistant) tokens.

Usage: python3 tools/demo/train.py --data /tmp/demo-work --out /tmp/demo-work/run
"""
import argparse
import math
import os
import random
import time

import numpy as np
import torch
import torch.nn.functional as F

from common import (VariantEmbedding, build_model, copy_init, full_loss_logits, hf_config_dict,
                    induction_init, induction_slices, save_json, set_qat)


def batches(seqs, max_tokens, rng):
    order = sorted(range(len(seqs)), key=lambda i: (len(seqs[i]["ids"]), rng.random()))
    out, cur, cur_max = [], [], 0
    for i in order:
        L = len(seqs[i]["ids"])
        if cur and max(cur_max, L) * (len(cur) + 1) > max_tokens:
            out.append(cur)
            cur, cur_max = [], 0
        cur.append(i)
        cur_max = max(cur_max, L)
    if cur:
        out.append(cur)
    return out


def collate(seqs, idx, remap):
    L = max(len(seqs[i]["ids"]) for i in idx)
    ids = torch.zeros(len(idx), L, dtype=torch.long)
    mask = torch.zeros(len(idx), L, dtype=torch.long)
    loss_mask = torch.zeros(len(idx), L, dtype=torch.bool)
    for r, i in enumerate(idx):
        s = seqs[i]
        n = len(s["ids"])
        ids[r, :n] = remap[s["ids"].long()]
        mask[r, :n] = 1
        loss_mask[r, s["n_prompt"] - 1:n - 1] = True  # position p predicts token p + 1
    return ids, mask, loss_mask


def repeat_batch(gen, rows, batch, length):
    """Random sequences of ordinary tokens, each followed by itself: predicting the second copy
    needs exactly the induction circuit (find the earlier occurrence of the current token, copy
    what followed it) that copying names and numbers out of a prompt needs. Dense practice at
    it forms that circuit within minutes, which the chat data alone does not in an hour."""
    x = rows[torch.randint(len(rows), (batch, length), generator=gen)]
    ids = torch.cat([x, x], 1)
    mask = torch.ones_like(ids)
    loss_mask = torch.zeros(ids.shape, dtype=torch.bool)
    loss_mask[:, length:2 * length - 1] = True
    return ids, mask, loss_mask


DRILL_ROW = 128  # tokens per drill row: about three traces


def drill_batch(gen, drill, starts, remap, batch, length):
    """Rows of consecutive bare arithmetic traces (gen_data.drill), each row starting at a trace,
    so the column facts get many times the practice the chat data alone gives them."""
    ids = torch.zeros(batch, length, dtype=torch.long)
    loss_mask = torch.zeros(batch, length, dtype=torch.bool)
    for r, i in enumerate(torch.randint(len(starts), (batch,), generator=gen).tolist()):
        s = int(starts[i])
        x = drill["ids"][s:s + length + 1].long()
        ids[r, :len(x) - 1] = remap[x[:-1]]
        loss_mask[r, :len(x) - 1] = drill["loss"][s + 1:s + len(x)]  # p predicts p + 1
    loss_mask[:, -1] = False  # the last position's target is outside the row
    return ids, torch.ones_like(ids), loss_mask


def loss_of(model, emb, ids, mask, loss_mask, n):
    """emb: the VariantEmbedding, or None for the model's own embedding and output rows."""
    if emb is None:
        w = model.lm_head.weight
        h = model.model(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
    else:
        w = emb.weight()
        h = model.model(inputs_embeds=w[ids], attention_mask=mask, use_cache=False).last_hidden_state
    hs = h[loss_mask]
    targets = ids[:, 1:][loss_mask[:, :-1]]
    logits = full_loss_logits(hs, w, n)
    loss = F.cross_entropy(logits, targets, reduction="sum")
    correct = (logits.argmax(-1) == targets).sum()
    return loss, targets.numel(), correct


@torch.no_grad()
def evaluate(model, emb, seqs, remap, n, max_tokens=8192):
    model.eval()
    tot, cnt, cor = 0.0, 0, 0
    for b in batches(seqs, max_tokens, random.Random(0)):
        ids, mask, lm = collate(seqs, b, remap)
        l, c, k = loss_of(model, emb, ids, mask, lm, n)
        tot, cnt, cor = tot + l.item(), cnt + c, cor + k.item()
    model.train()
    return tot / cnt, cor / cnt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="/tmp/demo-work")
    ap.add_argument("--out", default="/tmp/demo-work/run")
    ap.add_argument("--steps", type=int, default=9000)
    ap.add_argument("--max-minutes", type=float, default=42.0)
    ap.add_argument("--batch-tokens", type=int, default=2048)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--qat-frac", type=float, default=0.15,
                    help="last fraction of the steps trains with MXFP4 fake-quantised experts")
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", default=None, help="start from this checkpoint.pt (a continued run)")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--head-dim", type=int, default=32)
    ap.add_argument("--intermediate", type=int, default=128)
    ap.add_argument("--top-k", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--random-attention", action="store_true",
                    help="plain random attention weights (default: common.copy_init and "
                         "common.induction_init)")
    ap.add_argument("--hold-circuit", type=int, default=800,
                    help="keep the initial induction circuit fixed for this many steps, while the "
                         "rest of the model learns to use it")
    ap.add_argument("--drill-every", type=int, default=3,
                    help="every this many steps is a batch of bare arithmetic traces (0: none)")
    ap.add_argument("--repeat-minutes", type=float, default=3.0,
                    help="train only on repeated random sequences (repeat_batch) for this long first")
    ap.add_argument("--repeat-every", type=int, default=8,
                    help="afterwards, every this many steps is a repeated-sequence batch (0: none)")
    ap.add_argument("--untied", action="store_true",
                    help="train separate input and output embeddings (default: tied while training)")
    ap.add_argument("--plain-embedding", action="store_true",
                    help="one free row per token (default: common.VariantEmbedding when tied)")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    token_ids = np.load(os.path.join(args.data, "token_ids.npy"))
    n = len(token_ids)
    remap = torch.full((201088,), n, dtype=torch.long)
    remap[torch.from_numpy(token_ids.astype(np.int64))] = torch.arange(n)
    train = torch.load(os.path.join(args.data, "train.pt"))
    valid = torch.load(os.path.join(args.data, "valid.pt"))
    held = torch.load(os.path.join(args.data, "heldout.pt"))
    drill = torch.load(os.path.join(args.data, "drill.pt"))
    drill_starts = torch.cumsum(drill["lengths"].long(), 0) - drill["lengths"].long()
    drill_starts = drill_starts[drill_starts + DRILL_ROW + 1 <= len(drill["ids"])]

    cfg = hf_config_dict(hidden=args.hidden, layers=args.layers, head_dim=args.head_dim,
                         intermediate=args.intermediate, top_k=args.top_k)
    save_json(os.path.join(args.out, "config.json"), cfg)
    model = build_model(cfg, n + 1, tie=not args.untied)
    if not args.random_attention:
        copy_init(model)
        induction_init(model)
    emb = None
    if not args.untied and not args.plain_embedding:
        emb = VariantEmbedding(token_ids, model.model.embed_tokens.weight)
        model.model.embed_tokens.weight.requires_grad_(False)  # emb.weight() stands in for it
    if args.init:
        state = torch.load(args.init)
        model.load_state_dict(state["model"])
        if emb is not None:
            if state.get("variants") is None:
                raise SystemExit(f"{args.init}: no variant embedding in it (trained with "
                                 "--plain-embedding or --untied); continue it with that flag")
            emb.load_state_dict(state["variants"])
        print(f"continuing from {args.init}", flush=True)
    params = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if emb is not None:
        params += list(emb.named_parameters())
        print(f"variant embedding: {emb.pairs} tokens share a row with their spaced form", flush=True)
    nparams = sum(p.numel() for _, p in params)
    print(f"|S| = {n}, params {nparams / 1e6:.2f} M, train {len(train)} seqs", flush=True)

    decay = [p for name, p in params if p.dim() >= 2]
    no_decay = [p for name, p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95))
    # progress runs 0 -> 1 by steps or by wall-clock time, whichever is further along, so a
    # slower machine still finishes the schedule (cosine decay, then quantisation-aware training)
    def lr_at(step, progress):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        return args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))

    gen = torch.Generator().manual_seed(args.seed)
    plain_rows = torch.tensor([i for i, t in enumerate(token_ids.tolist()) if t < 199998])
    t0 = time.time()
    step = 0
    run_loss, run_cnt = 0.0, 0
    done = False
    qat = False
    while not done:
        for b in (lambda bs: (rng.shuffle(bs), bs)[1])(batches(train, args.batch_tokens, rng)):
            progress = max(step / args.steps, (time.time() - t0) / 60 / args.max_minutes)
            if not qat and args.qat_frac > 0 and progress >= 1 - args.qat_frac:
                qat = True
                set_qat(model, True)
                print(f"step {step}: MXFP4 quantisation-aware training from here", flush=True)
            for g in opt.param_groups:
                g["lr"] = lr_at(step, progress)
            minutes = (time.time() - t0) / 60
            if minutes < args.repeat_minutes or (args.repeat_every and step % args.repeat_every == 0):
                ids, mask, lm = repeat_batch(gen, plain_rows, 32, 32)
            elif args.drill_every and step % args.drill_every == 0:
                ids, mask, lm = drill_batch(gen, drill, drill_starts, remap, 16, DRILL_ROW)
            else:
                ids, mask, lm = collate(train, b, remap)
            loss, cnt, _ = loss_of(model, emb, ids, mask, lm, n)
            opt.zero_grad(set_to_none=True)
            (loss / cnt).backward()
            if not args.random_attention and step < args.hold_circuit:
                for p, idx in induction_slices(model):
                    p.grad[idx] = 0
            torch.nn.utils.clip_grad_norm_([p for _, p in params], 1.0)
            opt.step()
            run_loss, run_cnt = run_loss + loss.item(), run_cnt + cnt
            step += 1
            minutes = (time.time() - t0) / 60
            if step % 50 == 0:
                print(f"step {step} loss {run_loss / run_cnt:.4f} lr {lr_at(step, progress):.2e} "
                      f"{minutes:.1f} min", flush=True)
                run_loss, run_cnt = 0.0, 0
            last = step >= args.steps or minutes >= args.max_minutes
            if step % args.eval_every == 0 or last:
                vl, va = evaluate(model, emb, valid, remap, n)
                hl, ha = evaluate(model, emb, held, remap, n)
                print(f"step {step} valid loss {vl:.4f} acc {va:.4f} | held-out loss {hl:.4f} "
                      f"acc {ha:.4f}", flush=True)
                if emb is not None:  # the checkpoint holds plain rows, as export.py reads them
                    with torch.no_grad():
                        model.model.embed_tokens.weight.copy_(emb.weight())
                torch.save({"model": model.state_dict(), "step": step, "n": n, "qat": qat,
                            "variants": emb.state_dict() if emb is not None else None},
                           os.path.join(args.out, "checkpoint.pt"))
            if last:
                done = True
                break
    print(f"trained {step} steps in {(time.time() - t0) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()

"""A tiny gpt-oss checkpoint whose weights are written by hand so that every chat reply is a
valid harmony conversation turn: a short analysis message, then a final answer that streams a
sentence over and over until max_tokens.

Random weights never get past the harmony header, so they cannot show a Thinking block or a
streamed answer; a trained model is too big for a test fixture. This one is exact gpt-oss (the
layout `gptoss random-model --preset tiny` writes, MXFP4 experts, sinks, YaRN) with weights
chosen so the arithmetic is easy to follow:

* Every layer's attention and experts are zero except one full-attention head, so the residual
  stream is the token's embedding plus, at most, a "flag" direction. Each token of the script has
  its own embedding direction and the unembedding maps it to the token that follows it: a bigram
  model, sharp enough (logit margins above 20) that sampling at temperature 1 follows it.
* `<|channel|>` and `<|message|>` each occur twice in a reply with different successors
  (analysis, then final). The one live head tells them apart: its query (a bias in the lowest
  RoPE frequency, which barely rotates) matches only the key of the analysis text's last token,
  and its value writes the flag. Once the analysis message is complete the flag is on, and the
  successors of those two tokens switch to the final channel's.

make_scripted_model() regenerates the checkpoint from `gptoss random-model` (for config.json,
tokenizer.json and the tensor layout) and `gptoss tokenize` (for the token ids); it needs only
numpy.
"""
import json
import os
import struct
import subprocess

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB = os.path.join(HERE, "..", "data", "tokenizer", "o200k_base.tiktoken")

ANALYSIS_TEXT = "The user wants an answer, so I shall greet them warmly"
FINAL_TEXT = "Hello! This is a streamed reply from the test model. "

CHANNEL, START, END, MESSAGE = 200005, 200006, 200007, 200008

A = 15.0       # bigram strength: the successor's logit is A * |normalised residual component|
FLAG = 1.0     # size of the flag the live head writes
B = 0.75 * A / FLAG  # flag weight of the two flag-selected successors (see module docstring)


def _tokenize(gptoss_bin, model_dir, text):
    out = subprocess.run([gptoss_bin, "tokenize", "--model", model_dir], input=text.encode(),
                         capture_output=True, check=True, timeout=120)
    return json.loads(out.stdout)


def _bf16(a):
    """float32 array -> bfloat16 bytes (round to nearest even)."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16).tobytes()


def script_tokens(gptoss_bin, model_dir):
    """(analysis ids, final ids, assistant id, analysis-channel id, final-channel id)."""
    assistant, = _tokenize(gptoss_bin, model_dir, "assistant")
    analysis, = _tokenize(gptoss_bin, model_dir, "analysis")
    final, = _tokenize(gptoss_bin, model_dir, "final")
    a_ids = _tokenize(gptoss_bin, model_dir, ANALYSIS_TEXT)
    f_ids = _tokenize(gptoss_bin, model_dir, FINAL_TEXT)
    every = [assistant, analysis, final, CHANNEL, START, END, MESSAGE] + a_ids + f_ids
    if len(set(every)) != len(every):
        raise ValueError("the script repeats a token; a bigram model cannot follow it")
    return a_ids, f_ids, assistant, analysis, final


def make_scripted_model(gptoss_bin, out_dir):
    out_dir = str(out_dir)
    subprocess.run([gptoss_bin, "random-model", "--preset", "tiny", "--seed", "1",
                    "--tokenizer", VOCAB, "--out", out_dir],
                   check=True, capture_output=True, timeout=300)
    with open(os.path.join(out_dir, "config.json")) as f:
        cfg = json.load(f)
    hidden, head_dim = cfg["hidden_size"], cfg["head_dim"]
    full_layer = cfg["layer_types"].index("full_attention")

    a_ids, f_ids, assistant, analysis, final = script_tokens(gptoss_bin, out_dir)
    key_token = a_ids[-1]  # once it is in the context, the analysis message is over
    tokens = [assistant, analysis, final, CHANNEL, START, END, MESSAGE] + a_ids + f_ids
    if len(tokens) + 1 > hidden:
        raise ValueError("the script has more tokens than the hidden size has directions")
    dim = {t: i + 1 for i, t in enumerate(tokens)}  # direction 0 is the flag
    flag = 0

    embed = np.zeros((cfg["vocab_size"], hidden), np.float32)
    for t, d in dim.items():
        embed[t, d] = 1.0
    unembed = np.zeros((cfg["vocab_size"], hidden), np.float32)

    def follows(cur, nxt):
        unembed[nxt, dim[cur]] += A

    def follows_by_flag(cur, without, with_flag):
        unembed[without, dim[cur]] += A
        unembed[with_flag, dim[cur]] += 0.5 * A
        unembed[with_flag, flag] = B

    follows(assistant, CHANNEL)
    follows_by_flag(CHANNEL, analysis, final)
    follows(analysis, MESSAGE)
    follows_by_flag(MESSAGE, a_ids[0], f_ids[0])
    for cur, nxt in zip(a_ids, a_ids[1:]):
        follows(cur, nxt)
    follows(a_ids[-1], END)
    follows(END, START)
    follows(START, assistant)
    follows(final, MESSAGE)
    for cur, nxt in zip(f_ids, f_ids[1:] + f_ids[:1]):
        follows(cur, nxt)

    # The live head: query head 0 (reading KV head 0) of the first full-attention layer.
    # Normalised input of a script token: sqrt(hidden) along its direction.
    norm_in = np.sqrt(hidden)
    lowest = head_dim // 2 - 1  # RoPE pair (lowest, lowest + head_dim/2) turns slowest
    score = 30.0                # attention logit for the key token before YaRN's scaling
    q_bias = score * np.sqrt(head_dim) / norm_in
    live = {
        "self_attn.q_proj.bias": (lowest, None, q_bias),
        "self_attn.k_proj.weight": (lowest, dim[key_token], 1.0),
        "self_attn.v_proj.weight": (0, dim[key_token], 1.0),
        "self_attn.o_proj.weight": (flag, 0, FLAG / norm_in),
    }

    path = os.path.join(out_dir, "model.safetensors")
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header_bytes = f.read(n)
        data = bytearray(len(f.read()))
    header = json.loads(header_bytes)
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        shape = info["shape"]
        if info["dtype"] == "U8":
            # MXFP4 blocks of zeros (the code for +0) with scale 2^0: every expert weight is 0.
            fill = 127 if name.endswith("_scales") else 0
            data[begin:end] = bytes([fill]) * (end - begin)
            continue
        a = np.zeros(shape, np.float32)
        if name == "model.embed_tokens.weight":
            a = embed
        elif name == "lm_head.weight":
            a = unembed
        elif name.endswith("layernorm.weight") or name == "model.norm.weight":
            a[:] = 1.0
        elif name.startswith(f"model.layers.{full_layer}."):
            part = name[len(f"model.layers.{full_layer}."):]
            if part in live:
                row, col, value = live[part]
                if col is None:
                    a[row] = value
                else:
                    a[row, col] = value
        data[begin:end] = _bf16(a)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", n))
        f.write(header_bytes)
        f.write(data)
    os.replace(tmp, path)
    return out_dir


if __name__ == "__main__":
    import sys
    if len(sys.argv) != 3:
        sys.exit("usage: scripted_model.py GPTOSS_BIN OUT_DIR")
    make_scripted_model(sys.argv[1], sys.argv[2])

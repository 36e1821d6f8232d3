"""Shared pieces of the demo-model tools: the config, the reduced-vocabulary model and MXFP4."""
import json
import math
import os

import torch

FULL_VOCAB = 201088
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FP4_VALUES = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0,
                           -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0])


def hf_config_dict(hidden=128, layers=4, heads=4, kv_heads=2, head_dim=32, experts=8, top_k=4,
                   intermediate=128, vocab=FULL_VOCAB):
    """config.json of the demo model (the keys and values of a gpt-oss checkpoint)."""
    return {
        "architectures": ["GptOssForCausalLM"],
        "attention_bias": True,
        "attention_dropout": 0.0,
        "eos_token_id": 200002,
        "experts_per_token": top_k,
        "head_dim": head_dim,
        "hidden_act": "silu",
        "hidden_size": hidden,
        "initial_context_length": 4096,
        "initializer_range": 0.02,
        "intermediate_size": intermediate,
        "layer_types": ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers)],
        "max_position_embeddings": 131072,
        "model_type": "gpt_oss",
        "num_attention_heads": heads,
        "num_experts_per_tok": top_k,
        "num_hidden_layers": layers,
        "num_key_value_heads": kv_heads,
        "num_local_experts": experts,
        "output_router_logits": False,
        "pad_token_id": 199999,
        "quantization_config": {
            "modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router",
                                       "model.embed_tokens", "lm_head"],
            "quant_method": "mxfp4",
        },
        "rms_norm_eps": 1e-5,
        "rope_scaling": {"beta_fast": 32.0, "beta_slow": 1.0, "factor": 32.0,
                         "original_max_position_embeddings": 4096, "rope_type": "yarn",
                         "truncate": False},
        "rope_theta": 150000,
        "router_aux_loss_coef": 0.9,
        "sliding_window": 128,
        "swiglu_limit": 7.0,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "transformers_version": "5.24.0",
        "use_cache": True,
        "vocab_size": vocab,
    }


GENERATION_CONFIG = {"bos_token_id": 199998, "do_sample": True,
                     "eos_token_id": [200002, 199999, 200012], "pad_token_id": 199999}


def build_model(cfg_dict, small_vocab, tie=False):
    """GptOssForCausalLM with vocab small_vocab (= n + 1: the ids of S, then the shared row).
    tie=True shares one matrix between the input embedding and the output rows while training:
    a token's identity then maps straight to its logit, which makes copying from the prompt much
    quicker to learn; the export writes the two (equal) tensors separately, as gpt-oss has them."""
    from transformers import GptOssConfig, GptOssForCausalLM
    d = dict(cfg_dict)
    d.pop("quantization_config", None)
    d.pop("architectures", None)
    d.pop("model_type", None)
    d.pop("torch_dtype", None)
    d.pop("transformers_version", None)
    d["vocab_size"] = small_vocab
    d["pad_token_id"] = small_vocab - 1
    d["eos_token_id"] = small_vocab - 1
    d["tie_word_embeddings"] = tie
    cfg = GptOssConfig(**d)
    cfg._attn_implementation = "eager"
    model = GptOssForCausalLM(cfg)
    for layer in model.model.layers:
        patch_experts(layer.mlp.experts)
    return model


def token_bytes():
    """rank -> bytes of every ordinary o200k token (the tokenizer test data's vocabulary)."""
    import base64
    out = {}
    with open(os.path.join(ROOT, "tests", "data", "tokenizer", "o200k_base.tiktoken"), "rb") as f:
        for line in f:
            b, r = line.split()
            out[int(r)] = base64.b64decode(b)
    return out


class VariantEmbedding(torch.nn.Module):
    """The tied embedding/unembedding matrix while training, as row(t) = base[word(t)] +
    space * [t starts with a space] + own(t): a token with a leading space (" Tokyo") and the
    same token without it ("Tokyo") share their base row. A tool call's JSON writes a value
    without the space it has in the user's sentence, so copying it means turning " X" into
    "X"; with shared rows that is one learnt direction for every word, held-out ones included,
    instead of a pair learnt by heart per word. The export writes the sum as plain rows."""

    def __init__(self, token_ids, init):
        super().__init__()
        vocab = token_bytes()
        keys, group, spaced = {}, [], []
        for i, t in enumerate(list(token_ids) + [-1]):  # the shared row last
            b = vocab.get(int(t))
            sp = b is not None and len(b) > 1 and b[:1] == b" "
            key = b[1:] if sp else (b if b is not None else ("special", i))
            group.append(keys.setdefault(key, len(keys)))
            spaced.append(float(sp))
        self.register_buffer("group", torch.tensor(group))
        self.register_buffer("spaced", torch.tensor(spaced))
        first = {}
        for i, g in enumerate(group):
            first.setdefault(g, i)
        self.base = torch.nn.Parameter(init.detach()[[first[g] for g in range(len(keys))]].clone())
        self.space = torch.nn.Parameter(torch.zeros(init.shape[1]))
        self.own = torch.nn.Parameter(torch.zeros_like(init))
        self.pairs = len(group) - len(keys)

    def weight(self):
        return self.base[self.group] + self.spaced[:, None] * self.space + self.own


def copy_init(model, beta=0.25, gamma=0.25):
    """Starts every attention layer with an output-value circuit that copies: the value rows of
    KV head j are an orthonormal slice P_j of the hidden space and each query head writes back
    through P_j^T, so whatever a head attends to arrives in the residual stream as (a projection
    of) itself. With tied embeddings that is the token's own logit, so attending to the right
    prompt token pays off from the first step and the query/key weights learn where to look;
    from a random start the two must appear together, which takes far longer than the budget."""
    cfg = model.config
    hd, heads, kv = cfg.head_dim, cfg.num_attention_heads, cfg.num_key_value_heads
    group = heads // kv
    with torch.no_grad():
        for layer in model.model.layers:
            att = layer.self_attn
            q, _ = torch.linalg.qr(torch.randn(cfg.hidden_size, kv * hd))
            p = q.t()  # [kv * hd, hidden], orthonormal rows
            att.v_proj.weight.copy_(beta * p)
            for h in range(heads):
                j = h // group
                att.o_proj.weight[:, h * hd:(h + 1) * hd] = gamma / group * p[j * hd:(j + 1) * hd].t()


def previous_token_phases(theta, scale, window=128, steps=400):
    """RoPE pair weights w_i >= 0 and phases psi_i for which the positional score
    sum_i w_i cos(d theta_i - psi_i) (d = query position - key position) peaks at d = 1,
    well above every other 0 <= d < window."""
    w = torch.zeros_like(theta, requires_grad=True)
    psi = theta.clone().requires_grad_(True)
    d = torch.arange(window, dtype=theta.dtype)
    opt = torch.optim.Adam([w, psi], lr=0.05)
    for _ in range(steps):
        score = (torch.nn.functional.softplus(w + 2.0) * torch.cos(d[:, None] * theta - psi)).sum(1)
        loss = -torch.log_softmax(score, 0)[1]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return torch.nn.functional.softplus(w + 2.0).detach() / scale, psi.detach()


def induction_slices(model):
    """(parameter, index) pairs of the circuit's attention patterns (queries, keys and sinks of
    the two heads induction_init sets), which training can hold still for a while (train.py
    --hold-circuit) while the values, outputs and the rest learn to use them."""
    hd = model.config.head_dim
    a0, a1 = model.model.layers[0].self_attn, model.model.layers[1].self_attn
    return [(a0.q_proj.weight, slice(0, hd)), (a0.q_proj.bias, slice(0, hd)),
            (a0.k_proj.weight, slice(0, hd)), (a0.k_proj.bias, slice(0, hd)),
            (a1.q_proj.weight, slice(0, hd)), (a1.k_proj.weight, slice(0, hd)),
            (a0.sinks, 0), (a1.sinks, 0)]


def induction_init(model, gamma_prev=0.25, gamma_copy=1.0, kappa=3.0):
    """Starts layers 0 and 1 with an induction circuit (after copy_init): head 0 of layer 0
    attends to the previous token by position alone (query and key biases whose RoPE phases
    differ by one step) and writes that token, rotated into its own subspace, into the residual
    stream; head 0 of layer 1 matches its query (the current token) against those keys (each
    position's previous token) in the slowly rotating RoPE dimensions, so it attends to whatever
    followed an earlier occurrence of the current token, and copies it. Copying a name or number
    from the prompt needs exactly this circuit, which a model this small otherwise finds only
    after far more steps than a CPU budget allows; training reshapes it (train.py holds its attention weights for a while)."""
    cfg = model.config
    hd = cfg.head_dim
    half = hd // 2
    rot = model.model.rotary_emb
    theta = rot.inv_freq.float()
    amp = float(rot.attention_scaling)
    scale = hd ** -0.5
    w, psi = previous_token_phases(theta, scale)
    r = torch.sqrt(w) / amp
    a = torch.cat([r, torch.zeros_like(r)])
    c = torch.cat([r * torch.cos(psi), r * torch.sin(psi)])
    hidden = cfg.hidden_size
    basis, _ = torch.linalg.qr(torch.randn(hidden, hidden))
    tok, prev = basis[:, :hidden - hd], basis[:, hidden - hd:]  # token / previous-token subspaces
    keep = tok @ tok.t()
    a0, a1 = model.model.layers[0].self_attn, model.model.layers[1].self_attn
    with torch.no_grad():
        emb = model.model.embed_tokens.weight
        emb.copy_(emb @ keep)  # tokens live outside the previous-token subspace
        if model.lm_head.weight is not emb:
            model.lm_head.weight.copy_(model.lm_head.weight @ keep)
        p0 = tok[:, :hd].t()  # what head 0 of layer 0 reads: [hd, hidden]
        a0.v_proj.weight[:hd] = p0 * a0.v_proj.weight[:hd].norm(dim=1, keepdim=True)
        a0.q_proj.weight[:hd] = 0
        a0.q_proj.bias[:hd] = a
        a0.k_proj.bias[:hd] = c
        # head 0 writes the previous token there; the rest of layer 0 writes elsewhere
        a0.o_proj.weight.copy_(keep @ a0.o_proj.weight)
        a0.o_proj.weight[:, :hd] = gamma_prev * prev
        mlp = model.model.layers[0].mlp.experts
        mlp.down_proj.copy_(mlp.down_proj @ keep)
        mlp.down_proj_bias.copy_(mlp.down_proj_bias @ keep)
        # the slowest-turning RoPE pairs: a content match there survives hundreds of positions
        slow = torch.argsort(theta)[: half // 2]
        dims = torch.cat([slow, slow + half])
        g, _ = torch.linalg.qr(torch.randn(hd, len(dims)))
        a1.q_proj.weight[:hd] = 0
        a1.q_proj.weight[dims] = kappa * g.t() @ p0
        a1.k_proj.weight[:hd] = 0
        a1.k_proj.weight[dims] = kappa * g.t() @ prev.t()
        p1 = a1.v_proj.weight[:hd] / a1.v_proj.weight[:hd].norm(dim=1, keepdim=True)
        a1.o_proj.weight[:, :hd] = gamma_copy * p1.t()


# ---------------------------------------------------------------------------------------------
# MXFP4 (the Hub layout: blocks [.., rows, cols/32, 16], low nibble = even column; scales E8M0)


def mxfp4_quantize(w):
    """w [..., R, C] float -> (blocks uint8 [..., R, C/32, 16], scales uint8 [..., R, C/32])."""
    *pre, R, C = w.shape
    x = w.detach().float().reshape(*pre, R, C // 32, 32)
    amax = x.abs().amax(-1, keepdim=True)
    # the smallest power of two with amax / 2^e <= 6
    e = torch.ceil(torch.log2(torch.clamp(amax, min=1e-30) / 6.0))
    e = torch.clamp(e, -127, 127)
    e = torch.where(amax > 0, e, torch.full_like(e, -127))
    y = x / torch.pow(2.0, e)
    pos = FP4_VALUES[:8]
    idx = (y.abs().unsqueeze(-1) - pos).abs().argmin(-1)  # nearest magnitude (ties -> smaller)
    code = idx + 8 * (y < 0).long()
    code = code.to(torch.uint8)
    blocks = code[..., 0::2] | (code[..., 1::2] << 4)
    scales = (e.squeeze(-1) + 127).to(torch.uint8)
    return blocks.contiguous(), scales.contiguous()


def mxfp4_dequantize(blocks, scales):
    lo = FP4_VALUES[(blocks & 0x0F).long()]
    hi = FP4_VALUES[(blocks >> 4).long()]
    vals = torch.stack([lo, hi], -1).reshape(*blocks.shape[:-1], 32)
    vals = vals * torch.pow(2.0, scales.float() - 127).unsqueeze(-1)
    return vals.reshape(*blocks.shape[:-2], blocks.shape[-2] * 32)


def fake_quant(w):
    """MXFP4 round trip of w [E, rows_in, cols_out] as stored (transposed) on the Hub."""
    wt = w.transpose(1, 2)
    b, s = mxfp4_quantize(wt)
    return mxfp4_dequantize(b, s).transpose(1, 2).to(w.dtype)


def patch_experts(mod):
    """Expert forward equal to transformers' GptOssExperts, with optional MXFP4 fake-quantisation
    (straight-through) of the expert weights for quantisation-aware training."""
    mod.qat = False

    def forward(hidden_states, router_indices=None, routing_weights=None):
        gu, dn = mod.gate_up_proj, mod.down_proj
        if mod.qat:
            gu = gu + (fake_quant(gu) - gu).detach()
            dn = dn + (fake_quant(dn) - dn).detach()
        out = torch.zeros_like(hidden_states)
        for e in range(mod.num_experts):
            tok, top_pos = torch.where(router_indices == e)
            if tok.numel() == 0:
                continue
            gate_up = hidden_states[tok] @ gu[e] + mod.gate_up_proj_bias[e]
            gate, up = gate_up[..., ::2], gate_up[..., 1::2]
            gate = gate.clamp(max=mod.limit)
            up = up.clamp(min=-mod.limit, max=mod.limit)
            glu = gate * torch.sigmoid(gate * mod.alpha)
            y = ((up + 1) * glu) @ dn[e] + mod.down_proj_bias[e]
            out.index_add_(0, tok, y * routing_weights[tok, top_pos, None])
        return out

    mod.forward = forward


def set_qat(model, on):
    for layer in model.model.layers:
        layer.mlp.experts.qat = on


def full_loss_logits(h, lm_head_w, n):
    """Logits over the n + 1 rows with the shared row standing for the FULL_VOCAB - n other ids:
    cross-entropy over these equals the full-vocabulary cross-entropy."""
    logits = h @ lm_head_w.t()
    bonus = torch.zeros(n + 1, dtype=logits.dtype)
    bonus[n] = math.log(FULL_VOCAB - n)
    return logits + bonus


def save_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")

#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/): small, valid
examples of each input, from which libFuzzer mutates. Run from the repository root after a
build (it asks build/gptoss for token ids):  python3 tests/fuzz/make_seeds.py
"""
import base64
import json
import os
import struct
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")
GPTOSS = os.path.join(ROOT, "build", "gptoss")
VOCAB = os.path.join(ROOT, "tests", "data", "tokenizer", "o200k_base.tiktoken")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def ids_of(text):
    r = subprocess.run([GPTOSS, "tokenize", "--tokenizer", VOCAB, "--allow-special"],
                       input=text.encode(), capture_output=True, check=True)
    return json.loads(r.stdout)


def pack_ids(ids):
    return b"".join(struct.pack("<I", i)[:3] for i in ids)


def main():
    chat = {"model": "m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8}
    put("fuzz_openai_request", "chat", json.dumps(chat))
    put("fuzz_openai_request", "chat_full", json.dumps({
        "model": "m", "stream": True, "stream_options": {"include_usage": True}, "n": 2,
        "temperature": 0.7, "top_p": 0.9, "seed": 3, "stop": ["\n", "END"], "logprobs": True,
        "top_logprobs": 2, "reasoning_effort": "high", "logit_bias": {"12": -5},
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "reasoning_content": "Call the tool.", "content": None,
             "tool_calls": [{"id": "call_1", "type": "function", "function": {
                 "name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"c\": 21}"}],
        "tools": [{"type": "function", "function": {
            "name": "get_weather", "description": "Weather now",
            "parameters": {"type": "object", "properties": {
                "city": {"type": "string", "enum": ["Paris", "Rome"]},
                "days": {"type": "integer", "minimum": 1}}, "required": ["city"]}}}],
        "tool_choice": "auto", "response_format": {"type": "json_object"}}))
    put("fuzz_openai_request", "completion", json.dumps({
        "model": "m", "prompt": "Once upon a time", "max_tokens": 4, "logprobs": 2, "echo": True,
        "stop": "x", "presence_penalty": 0.5, "frequency_penalty": -0.5}))
    put("fuzz_openai_request", "completion_ids", json.dumps({"prompt": [1, 2, 3], "n": 1}))
    put("fuzz_openai_request", "bad_types", json.dumps({
        "messages": "no", "max_tokens": -1, "temperature": "hot", "n": 1e99}))

    # safetensors: an 8-byte header length, the JSON header, the data.
    def safetensors(tensors):
        header, data = {"__metadata__": {"format": "pt"}}, b""
        for name, dtype, shape, raw in tensors:
            header[name] = {"dtype": dtype, "shape": shape,
                            "data_offsets": [len(data), len(data) + len(raw)]}
            data += raw
        h = json.dumps(header).encode()
        h += b" " * (-len(h) % 8)
        return struct.pack("<Q", len(h)) + h + data
    put("fuzz_safetensors", "two", safetensors([
        ("a.weight", "F32", [2, 3], struct.pack("<6f", *range(6))),
        ("b.bias", "BF16", [4], b"\x80\x3f" * 4)]))
    put("fuzz_safetensors", "blocks", safetensors([
        ("e.blocks", "U8", [2, 1, 16], bytes(range(32))), ("e.scales", "U8", [2, 1], b"\x7f\x80")]))

    config = {
        "architectures": ["GptOssForCausalLM"], "model_type": "gpt_oss", "hidden_size": 96,
        "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": 64, "num_local_experts": 8,
        "num_experts_per_tok": 4, "vocab_size": 201088, "sliding_window": 128,
        "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 150000,
        "rope_scaling": {"rope_type": "yarn", "factor": 32.0, "beta_fast": 32.0,
                         "beta_slow": 1.0, "truncate": False,
                         "original_max_position_embeddings": 4096},
        "layer_types": ["sliding_attention", "full_attention"], "swiglu_limit": 7.0,
        "tie_word_embeddings": False, "eos_token_id": 200002, "pad_token_id": 199999,
        "quantization_config": {"quant_method": "mxfp4",
                                "modules_to_not_convert": ["model.layers.*.self_attn"]}}
    put("fuzz_config", "config", json.dumps(config, indent=1))
    put("fuzz_config", "generation", json.dumps({"eos_token_id": [200002, 199999, 200012],
                                                  "do_sample": True}))

    lines = [base64.b64encode(bytes([b])).decode() + f" {b}" for b in range(256)]
    lines += [base64.b64encode(b"ab").decode() + " 256", base64.b64encode(b"the").decode() + " 257"]
    put("fuzz_tokenizer_file", "tiktoken", "\n".join(lines) + "\n")
    put("fuzz_tokenizer_file", "json", json.dumps({
        "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"],
                  "ignore_merges": True},
        "added_tokens": [{"id": 199998, "content": "<|startoftext|>", "special": True}]}))

    for name, text in [("english", "The quick brown fox jumps over the lazy dog."),
                       ("code", "def f(x):\n    return x ** 2  # square\n\t\r\n"),
                       ("mixed", "Ça coûte 12,50 € — 日本語 😀 <|start|>user<|message|>hi<|end|>"),
                       ("numbers", "3.14159 1,000,000 0x1F 2025-06-28")]:
        put("fuzz_tokenize", name, text)
    put("fuzz_tokenize", "invalid_utf8", b"ok \xff\xfe \xc3 \xed\xa0\x80 end")

    reply = ("<|channel|>analysis<|message|>Let me think.<|end|><|start|>assistant"
             "<|channel|>final<|message|>Hello there!<|return|>")
    call = ("<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>"
            "{\"city\": \"Paris\"}<|call|>")
    for target in ("fuzz_harmony", "fuzz_detokenize"):
        put(target, "reply", pack_ids(ids_of(reply)))
        put(target, "tool_call", pack_ids(ids_of(call)))
        put(target, "utf8_split", pack_ids(ids_of("日本語 😀 café")))


if __name__ == "__main__":
    main()

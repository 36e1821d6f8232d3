"""`gptoss serve` end to end, through the official `openai` Python SDK and raw HTTP.

Real server processes run on a generated tiny checkpoint (random weights: the text is
gibberish, so the tests check structure and invariants — shapes, counts, repeatability,
streaming equals non-streaming, batching and preemption change nothing, errors have OpenAI's
shape and the right status — never meaning). One long-lived server serves most tests; servers
with special flags (API keys, a tiny KV cache, no prefix caching, shutdown under load) are
started where needed. Every server is stopped with a signal and must exit 0, without a
sanitizer report when the binary is an AddressSanitizer build.

Generation on the scalar CPU backend costs ~25 ms a token in a release build and ~0.5 s under
AddressSanitizer (Debug), so every request asks for a handful of tokens.
"""
import concurrent.futures
import http.client
import json
import re
import signal
import socket
import subprocess
import threading
import time
import uuid

import openai
import pytest
from openai import OpenAI

from conftest import VOCAB
from server_fixture import RawStream, Server, metric_value, parse_metrics, serving, wait_until

DATE = "2025-06-28"
MAX_MODEL_LEN = 1024
MAIN_FLAGS = ["--max-model-len", MAX_MODEL_LEN, "--date", DATE, "--kv-cache-memory", "64M"]
# How long a test waits for the server to notice something (an abort, a shutdown): one engine
# step is ~25 ms in release, up to a second under AddressSanitizer on a busy machine.
SETTLE_S = 60
VLLM_METRICS = [
    "vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
    "vllm:prefix_cache_queries_total", "vllm:prefix_cache_hits_total",
    "vllm:num_preemptions_total", "vllm:prompt_tokens_total", "vllm:generation_tokens_total",
    "vllm:request_success_total",
]
VLLM_HISTOGRAMS = [
    "vllm:time_to_first_token_seconds", "vllm:time_per_output_token_seconds",
    "vllm:e2e_request_latency_seconds", "vllm:request_queue_time_seconds",
]
START, ASSISTANT, RETURN, CHANNEL, MESSAGE = 200006, 173781, 200002, 200005, 200008
ENDOFTEXT = 199999
ANALYSIS = 35644  # "analysis"
PROMPT = "The quick brown fox jumps over the lazy dog because"


# ---- Fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def checkpoint(gptoss_bin, tmp_path_factory):
    path = tmp_path_factory.mktemp("serve-models") / "tiny-serve"
    subprocess.run([gptoss_bin, "random-model", "--preset", "tiny", "--seed", "5",
                    "--tokenizer", VOCAB, "--out", str(path)],
                   check=True, capture_output=True, timeout=300)
    return path


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("serve-logs")


@pytest.fixture(scope="module")
def server(gptoss_bin, checkpoint, log_dir):
    with serving(gptoss_bin, checkpoint, *MAIN_FLAGS, log_dir=log_dir, name="main") as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server):
    c = OpenAI(base_url=server.base_url, api_key="EMPTY", max_retries=0, timeout=600)
    yield c
    c.close()


@pytest.fixture(scope="module")
def model_name(checkpoint):
    return checkpoint.name


def messages(text):
    return [{"role": "user", "content": text}]


def assert_error(status, body, want_status, param=None, code=None):
    """OpenAI's error body: {"error": {"message", "type", "param", "code"}}."""
    assert status == want_status, body
    if isinstance(body, (bytes, str)):
        body = json.loads(body)
    assert set(body) == {"error"}, body
    err = body["error"]
    assert {"message", "type", "param", "code"} <= set(err), err
    assert isinstance(err["message"], str) and err["message"], err
    assert isinstance(err["type"], str) and err["type"], err
    if want_status < 500:
        assert err["type"] == "invalid_request_error", err
    if param is not None:
        assert err["param"] == param, err
    if code is not None:
        assert err["code"] == code, err
    return err


def merge_chat_stream(chunks):
    """Merges streamed chat chunks into per-choice messages, as a client would."""
    out = {}
    for ch in chunks:
        for c in ch["choices"]:
            m = out.setdefault(c["index"], {"role": None, "content": "",
                                            "reasoning_content": "", "reasoning": "",
                                            "tool_calls": {}, "finish_reason": None,
                                            "n_finish": 0})
            d = c["delta"] or {}
            if d.get("role"):
                assert m["role"] is None, "role sent twice"
                m["role"] = d["role"]
            for key in ("content", "reasoning_content", "reasoning"):
                if d.get(key):
                    m[key] += d[key]
            if "reasoning_content" in d or "reasoning" in d:
                assert d.get("reasoning") == d.get("reasoning_content"), d
            for tc in d.get("tool_calls") or []:
                call = m["tool_calls"].setdefault(tc["index"], {"name": "", "arguments": ""})
                fn = tc.get("function") or {}
                call["name"] += fn.get("name") or ""
                call["arguments"] += fn.get("arguments") or ""
            if c.get("finish_reason"):
                m["finish_reason"] = c["finish_reason"]
                m["n_finish"] += 1
    return out


def chat_stream(client, **kw):
    chunks = [ch.model_dump() for ch in client.chat.completions.create(stream=True, **kw)]
    assert chunks
    return chunks


def message_fields(msg):
    m = msg.model_dump() if hasattr(msg, "model_dump") else dict(msg)
    return {"content": m.get("content") or "",
            "reasoning_content": m.get("reasoning_content") or "",
            "reasoning": m.get("reasoning") or ""}


# ---- Health, version, models, tokenizer ----------------------------------------------------

def test_health_and_version(server):
    status, headers, body = server.request("GET", "/health")
    assert status == 200 and body == b""
    # Same origin only by default: no CORS grant (test_limits.py covers --allowed-origins).
    assert "access-control-allow-origin" not in headers
    # Before the model was loaded, /health said 503 in OpenAI's error shape (or nothing yet).
    assert server.health_statuses[-1][0] == 200
    for status, body in server.health_statuses[:-1]:
        assert_error(status, body, 503)
    status, version = server.json("GET", "/version")
    assert status == 200 and isinstance(version["version"], str) and version["version"]


def test_models(client, model_name):
    models = client.models.list().data
    assert [m.id for m in models] == [model_name]
    card = models[0].model_dump()
    assert card["object"] == "model" and card["max_model_len"] == MAX_MODEL_LEN
    assert client.models.retrieve(model_name).id == model_name
    with pytest.raises(openai.NotFoundError) as e:
        client.models.retrieve("no-such-model")
    assert e.value.status_code == 404 and e.value.code == "model_not_found"


def test_unknown_model_in_request(client, server):
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="no-such-model", messages=messages("hi"),
                                       max_tokens=2)
    assert e.value.status_code == 404
    assert e.value.code == "model_not_found" and e.value.param == "model"
    status, body = server.json("POST", "/v1/completions",
                               {"model": "gpt-4", "prompt": "hi", "max_tokens": 2})
    assert_error(status, body, 404, param="model", code="model_not_found")


def test_tokenize_detokenize(server):
    status, r = server.json("POST", "/tokenize", {"prompt": "hello world"})
    assert status == 200
    assert r == {"count": 2, "tokens": [24912, 2375], "max_model_len": MAX_MODEL_LEN}

    # Special-token names in text are text: they can never inject harmony structure.
    status, r = server.json("POST", "/tokenize", {"prompt": "a<|start|>b<|return|>"})
    assert status == 200 and not any(t >= 199998 for t in r["tokens"])

    text = "Grüße, 世界! 🙂 tabs\tand\nnewlines  "
    status, r = server.json("POST", "/tokenize", {"prompt": text})
    assert status == 200 and r["count"] == len(r["tokens"]) > 0
    status, d = server.json("POST", "/detokenize", {"tokens": r["tokens"]})
    assert status == 200 and d == {"prompt": text}

    # A chat is rendered with harmony, with the server's --date.
    status, r = server.json("POST", "/tokenize", {"messages": messages("What is 2 + 2?")})
    assert status == 200
    ids = r["tokens"]
    assert ids[0] == START and ids[-2:] == [START, ASSISTANT] and r["count"] == len(ids)
    status, d = server.json("POST", "/detokenize", {"tokens": ids})
    assert status == 200
    assert d["prompt"].startswith("<|start|>system<|message|>")
    assert f"Current date: {DATE}" in d["prompt"]
    assert d["prompt"].endswith("<|start|>user<|message|>What is 2 + 2?<|end|><|start|>assistant")

    for body in ({"tokens": [-1]}, {"tokens": [300000]}, {"tokens": ["a"]}, {"tokens": 5}):
        status, err = server.json("POST", "/detokenize", body)
        assert_error(status, err, 400, param="tokens")
    status, err = server.json("POST", "/tokenize", {"text": "hi"})
    assert_error(status, err, 400, param="prompt")
    status, err = server.json("POST", "/tokenize", {"messages": "hi"})
    assert_error(status, err, 400)


def test_metrics_names(server, client, model_name):
    client.chat.completions.create(model=model_name, messages=messages("metrics"),
                                   max_tokens=2, temperature=0)
    text = server.metrics_text()
    samples = parse_metrics(text)
    names = {n for n, _, _ in samples}
    for name in VLLM_METRICS:
        assert name in names, name
    for name in VLLM_HISTOGRAMS:
        assert {name + "_bucket", name + "_sum", name + "_count"} <= names, name
        buckets = [(lab["le"], v) for n, lab, v in samples if n == name + "_bucket"]
        assert buckets[-1][0] == "+Inf"
        counts = [v for _, v in buckets]
        assert counts == sorted(counts), f"{name} buckets are not cumulative"
        assert counts[-1] == metric_value(samples, name + "_count")
    for reason in ("stop", "length", "abort"):
        metric_value(samples, "vllm:request_success_total", finished_reason=reason)
    for n, lab, _ in samples:
        assert lab.get("model_name") == model_name, (n, lab)
    assert "# TYPE vllm:num_requests_running gauge" in text
    assert "# TYPE vllm:time_to_first_token_seconds histogram" in text


def test_metrics_count_requests(server, client, model_name):
    before = server.metrics()
    r = client.chat.completions.create(model=model_name, messages=messages("count me"),
                                       max_tokens=3, temperature=0)
    after = server.metrics()

    def delta(name, **labels):
        return metric_value(after, name, **labels) - metric_value(before, name, **labels)

    assert delta("vllm:prompt_tokens_total") == r.usage.prompt_tokens
    assert delta("vllm:generation_tokens_total") == r.usage.completion_tokens == 3
    assert delta("vllm:request_success_total", finished_reason="length") == 1
    assert delta("vllm:request_success_total", finished_reason="stop") == 0
    assert delta("vllm:e2e_request_latency_seconds_count") == 1
    assert delta("vllm:time_to_first_token_seconds_count") == 1
    assert delta("vllm:time_per_output_token_seconds_count") == 1
    # The gauges follow the engine's steps: they settle right after the response.
    assert wait_until(lambda: server.metric("vllm:num_requests_running") == 0 and
                      server.metric("vllm:num_requests_waiting") == 0, SETTLE_S)


# ---- Chat completions ----------------------------------------------------------------------

def test_chat_basic(client, server, model_name):
    r = client.chat.completions.create(model=model_name, messages=messages("Hello there"),
                                       max_tokens=5, temperature=0)
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-")
    assert r.model == model_name
    assert len(r.choices) == 1
    c = r.choices[0]
    assert c.index == 0 and c.message.role == "assistant"
    assert c.finish_reason == "length" and c.logprobs is None
    assert r.usage.completion_tokens == 5
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    # The prompt is exactly the harmony rendering /tokenize gives.
    status, tok = server.json("POST", "/tokenize", {"messages": messages("Hello there")})
    assert status == 200 and r.usage.prompt_tokens == tok["count"]
    assert r.usage.prompt_tokens_details.cached_tokens <= r.usage.prompt_tokens


def test_chat_max_completion_tokens(client, model_name):
    r = client.chat.completions.create(model=model_name, messages=messages("hi"),
                                       max_completion_tokens=3, temperature=0)
    assert r.usage.completion_tokens == 3 and r.choices[0].finish_reason == "length"


WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}


@pytest.mark.parametrize("extra, marker", [
    ({"reasoning_effort": "high"}, "Reasoning: high"),
    ({"messages": [{"role": "system", "content": "Answer in French."},
                   {"role": "user", "content": "hi"}]}, "Answer in French."),
    ({"tools": [WEATHER_TOOL]}, "type get_weather = "),
    ({"messages": [{"role": "user", "content": "Weather in Paris?"},
                   {"role": "assistant", "content": None, "tool_calls": [
                       {"id": "call_1", "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
                   {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}],
      "tools": [WEATHER_TOOL]}, "<|start|>functions.get_weather to=assistant"),
])
def test_chat_prompt_rendering(client, server, model_name, extra, marker):
    """The chat endpoint renders what /tokenize renders (harmony, with the server's date)."""
    body = {"messages": messages("hi"), **extra}
    status, tok = server.json("POST", "/tokenize", body)
    assert status == 200
    status, text = server.json("POST", "/detokenize", {"tokens": tok["tokens"]})
    assert marker in text["prompt"], text["prompt"]
    r = client.chat.completions.create(model=model_name, max_tokens=1, temperature=0, **body)
    assert r.usage.prompt_tokens == tok["count"]


def test_chat_model_is_optional(server, model_name):
    for extra in ({}, {"model": None}):
        status, r = server.json("POST", "/v1/chat/completions",
                                {"messages": messages("hi"), "max_tokens": 1, **extra})
        assert status == 200 and r["model"] == model_name
        assert r["usage"]["completion_tokens"] == 1


def test_chat_stop_token_ends_with_stop(client, model_name):
    # <|return|> forced as the first token: the answer ends at once, finish_reason "stop".
    r = client.chat.completions.create(model=model_name, messages=messages("stop now"),
                                       max_tokens=8, temperature=0,
                                       logit_bias={str(RETURN): 100})
    c = r.choices[0]
    assert c.finish_reason == "stop"
    assert r.usage.completion_tokens == 1
    assert not c.message.content and not c.message.tool_calls
    assert c.message.role == "assistant"


def test_chat_greedy_is_repeatable(client, model_name):
    kw = dict(model=model_name, messages=messages("Repeat after me"), max_tokens=6,
              temperature=0)
    a, b = client.chat.completions.create(**kw), client.chat.completions.create(**kw)
    assert a.choices[0].message.model_dump() == b.choices[0].message.model_dump()
    assert a.choices[0].message.content
    assert a.id != b.id


def test_chat_seed_is_repeatable(client, model_name):
    def gen(seed):
        r = client.chat.completions.create(model=model_name, messages=messages("A story"),
                                           max_tokens=6, temperature=1, seed=seed)
        return r.choices[0].message.model_dump()

    first = gen(123)
    assert gen(123) == first
    assert gen(124) != first


def test_chat_n(client, model_name, server):
    r = client.chat.completions.create(model=model_name, messages=messages("Three ways"),
                                       max_tokens=4, temperature=1, seed=7, n=3)
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert all(c.finish_reason == "length" for c in r.choices)
    # The choices sample separately: with a 200k vocabulary they cannot all agree.
    assert len({c.message.content for c in r.choices}) == 3
    assert r.usage.completion_tokens == 12
    status, tok = server.json("POST", "/tokenize", {"messages": messages("Three ways")})
    assert r.usage.prompt_tokens == tok["count"]  # the prompt counts once, not n times
    assert r.usage.total_tokens == r.usage.prompt_tokens + 12
    again = client.chat.completions.create(model=model_name, messages=messages("Three ways"),
                                           max_tokens=4, temperature=1, seed=7, n=3)
    assert [c.message.content for c in again.choices] == [c.message.content for c in r.choices]


def test_chat_logprobs(client, model_name):
    r = client.chat.completions.create(model=model_name, messages=messages("Logprobs"),
                                       max_tokens=4, temperature=0, logprobs=True,
                                       top_logprobs=3)
    items = r.choices[0].logprobs.content
    assert len(items) == r.usage.completion_tokens == 4
    for it in items:
        assert isinstance(it.token, str)
        assert it.logprob <= 0
        assert isinstance(it.bytes, list) and all(0 <= b < 256 for b in it.bytes)
        if "\ufffd" not in it.token:
            assert bytes(it.bytes).decode() == it.token
        top = it.top_logprobs
        assert len(top) == 3
        lps = [t.logprob for t in top]
        assert lps == sorted(lps, reverse=True) and all(lp <= 0 for lp in lps)
        assert sum(2.718281828459045 ** lp for lp in lps) <= 1 + 1e-4
        # Greedy: the chosen token is the most likely one.
        assert it.logprob == pytest.approx(top[0].logprob, abs=1e-5)
        assert it.bytes == top[0].bytes

    # Without top_logprobs: the chosen tokens only.
    r = client.chat.completions.create(model=model_name, messages=messages("Logprobs"),
                                       max_tokens=2, temperature=0, logprobs=True)
    assert all(it.top_logprobs == [] for it in r.choices[0].logprobs.content)


def test_chat_stop_string(client, model_name):
    kw = dict(model=model_name, messages=messages("Say something long"), temperature=0)
    full = client.chat.completions.create(max_tokens=10, **kw).choices[0].message.content or ""
    if len(full) < 8:
        pytest.skip(f"greedy content too short to cut: {full!r}")
    k = len(full) // 2
    stop = full[k:k + 3]
    want = full[:full.find(stop)]
    r = client.chat.completions.create(max_tokens=10, stop=[stop, "\x01never"], **kw)
    assert r.choices[0].finish_reason == "stop"
    assert (r.choices[0].message.content or "") == want
    # (No claim on completion_tokens: random weights never write <|message|>, so their words
    # stay an unfinished harmony header until the end, and the stop string is seen only then.)

    # Streaming: the held-back tail never leaks the stop string.
    m = merge_chat_stream(chat_stream(client, max_tokens=10, stop=stop, **kw))[0]
    assert m["content"] == want and m["n_finish"] == 1 and m["finish_reason"] == "stop"


def test_chat_stream_equals_non_stream(client, model_name):
    kw = dict(model=model_name, messages=messages("Stream this"), max_tokens=6, temperature=0)
    whole = client.chat.completions.create(**kw)
    chunks = chat_stream(client, **kw)
    ids = {ch["id"] for ch in chunks}
    assert len(ids) == 1 and ids.pop().startswith("chatcmpl-")
    assert all(ch["object"] == "chat.completion.chunk" and ch["model"] == model_name
               for ch in chunks)
    assert all(ch.get("usage") is None for ch in chunks)
    merged = merge_chat_stream(chunks)
    assert list(merged) == [0]
    m = merged[0]
    assert m["role"] == "assistant" and m["n_finish"] == 1
    assert chunks[-1]["choices"][0]["finish_reason"] == whole.choices[0].finish_reason == "length"
    want = message_fields(whole.choices[0].message)
    assert {k: m[k] for k in want} == want

    # include_usage: one more chunk, with no choices and the whole request's usage.
    chunks = chat_stream(client, stream_options={"include_usage": True}, **kw)
    last = chunks[-1]
    assert last["choices"] == [] and last["usage"] is not None
    u = whole.usage
    assert (last["usage"]["prompt_tokens"], last["usage"]["completion_tokens"],
            last["usage"]["total_tokens"]) == (u.prompt_tokens, u.completion_tokens,
                                               u.total_tokens)
    assert all(ch.get("usage") is None for ch in chunks[:-1])
    assert merge_chat_stream(chunks)[0]["content"] == want["content"]


def test_chat_stream_reasoning(client, model_name):
    """Boosting <|channel|>, "analysis" and <|message|> makes the model write analysis
    messages: reasoning_content, mirrored by reasoning, streamed as it is returned whole."""
    base = dict(model=model_name, messages=messages("Think"), max_tokens=8, temperature=1,
                logit_bias={str(CHANNEL): 100, str(ANALYSIS): 100, str(MESSAGE): 100})
    for seed in range(1, 9):
        whole = client.chat.completions.create(seed=seed, **base)
        msg = whole.choices[0].message.model_dump()
        if msg.get("reasoning_content"):
            break
    else:
        pytest.skip("no seed gave reasoning")
    assert msg["reasoning"] == msg["reasoning_content"]
    m = merge_chat_stream(chat_stream(client, seed=seed, **base))[0]
    want = message_fields(whole.choices[0].message)
    assert {k: m[k] for k in want} == want
    assert m["n_finish"] == 1 and m["finish_reason"] == whole.choices[0].finish_reason


def test_stream_finish_reason(client, model_name):
    """Each way a streamed choice ends shows in its last chunk, as without a stream."""
    kw = dict(model=model_name, messages=messages("Finish"), max_tokens=3, temperature=0)
    assert chat_stream(client, **kw)[-1]["choices"][0]["finish_reason"] == "length"
    eos = chat_stream(client, logit_bias={str(RETURN): 100}, **kw)
    assert eos[-1]["choices"][0]["finish_reason"] == "stop"
    kw = dict(model=model_name, prompt=PROMPT, max_tokens=3, temperature=0, stream=True)
    chunks = [c.model_dump() for c in client.completions.create(**kw)]
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    chunks = [c.model_dump() for c in client.completions.create(
        logit_bias={str(ENDOFTEXT): 100}, **kw)]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    # (Stop strings: test_chat_stop_string, test_completions_stop.)


def test_chat_stream_logprobs(client, model_name):
    kw = dict(model=model_name, messages=messages("Stream logprobs"), max_tokens=4,
              temperature=0, logprobs=True, top_logprobs=2)
    whole = client.chat.completions.create(**kw).choices[0].logprobs.content
    items = []
    for ch in chat_stream(client, **kw):
        for c in ch["choices"]:
            if c.get("logprobs"):
                items += c["logprobs"]["content"]
    assert [(i["token"], i["bytes"], [t["bytes"] for t in i["top_logprobs"]]) for i in items] \
        == [(i.token, i.bytes, [t.bytes for t in i.top_logprobs]) for i in whole]
    assert [i["logprob"] for i in items] == pytest.approx([i.logprob for i in whole], abs=1e-6)


def test_chat_stream_n(client, model_name):
    kw = dict(model=model_name, messages=messages("Two streams"), max_tokens=4, temperature=1,
              seed=11, n=2)
    whole = client.chat.completions.create(**kw)
    merged = merge_chat_stream(chat_stream(client, **kw))
    assert sorted(merged) == [0, 1]
    for c in whole.choices:
        assert merged[c.index]["content"] == (c.message.content or "")
        assert merged[c.index]["n_finish"] == 1
        assert merged[c.index]["finish_reason"] == c.finish_reason


# ---- Completions ---------------------------------------------------------------------------

def test_completions_text_and_ids(client, server, model_name):
    r = client.completions.create(model=model_name, prompt=PROMPT, max_tokens=5, temperature=0)
    assert r.object == "text_completion" and r.id.startswith("cmpl-") and r.model == model_name
    c = r.choices[0]
    assert c.index == 0 and c.finish_reason == "length" and isinstance(c.text, str)
    status, tok = server.json("POST", "/tokenize", {"prompt": PROMPT})
    assert r.usage.prompt_tokens == tok["count"] and r.usage.completion_tokens == 5
    assert r.usage.total_tokens == tok["count"] + 5
    # The same prompt as token ids gives the same text.
    r2 = client.completions.create(model=model_name, prompt=tok["tokens"], max_tokens=5,
                                   temperature=0)
    assert r2.choices[0].text == c.text and r2.usage.prompt_tokens == tok["count"]
    # A list of prompts: n choices per prompt, in order.
    r3 = client.completions.create(model=model_name, prompt=[PROMPT, tok["tokens"]],
                                   max_tokens=5, temperature=0)
    assert [x.index for x in r3.choices] == [0, 1]
    assert [x.text for x in r3.choices] == [c.text, c.text]


def test_completions_n_and_seed(client, model_name):
    kw = dict(model=model_name, prompt=PROMPT, max_tokens=5, temperature=1, seed=99, n=2)
    r = client.completions.create(**kw)
    assert [c.index for c in r.choices] == [0, 1]
    assert r.choices[0].text != r.choices[1].text
    assert r.usage.completion_tokens == 10
    assert [c.text for c in client.completions.create(**kw).choices] == [
        c.text for c in r.choices]


def test_completions_echo(client, server, model_name):
    plain = client.completions.create(model=model_name, prompt=PROMPT, max_tokens=4,
                                      temperature=0).choices[0].text
    r = client.completions.create(model=model_name, prompt=PROMPT, max_tokens=4,
                                  temperature=0, echo=True)
    assert r.choices[0].text == PROMPT + plain
    ids = [START, 1428, MESSAGE, 24912, 2375]  # special tokens are left out of echoed text
    r = client.completions.create(model=model_name, prompt=ids, max_tokens=2, temperature=0,
                                  echo=True)
    assert r.choices[0].text.startswith("userhello world")


def test_completions_stream(client, model_name):
    kw = dict(model=model_name, prompt=PROMPT, max_tokens=6, temperature=0)
    whole = client.completions.create(**kw)
    chunks = [c.model_dump() for c in client.completions.create(
        stream=True, stream_options={"include_usage": True}, **kw)]
    texts = [c["choices"][0]["text"] for c in chunks if c["choices"]]
    assert "".join(texts) == whole.choices[0].text
    finals = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finals[-1] == whole.choices[0].finish_reason == "length"
    assert all(f is None for f in finals[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == whole.usage.completion_tokens == 6
    assert chunks[-1]["usage"]["prompt_tokens"] == whole.usage.prompt_tokens
    assert len({c["id"] for c in chunks}) == 1

    # n=2 with a seed: each choice streams under its index, as it is returned whole.
    kw = dict(model=model_name, prompt=PROMPT, max_tokens=4, temperature=1, seed=5, n=2)
    whole = client.completions.create(**kw)
    texts = {0: "", 1: ""}
    for c in client.completions.create(stream=True, **kw):
        for ch in c.choices:
            texts[ch.index] += ch.text
    assert texts == {c.index: c.text for c in whole.choices}


def test_completions_stop(client, model_name):
    kw = dict(model=model_name, prompt="Once upon a time", temperature=0)
    full = client.completions.create(max_tokens=10, **kw).choices[0].text
    if len(full) < 8:
        pytest.skip(f"greedy text too short to cut: {full!r}")
    k = len(full) // 2
    stop = full[k:k + 3]
    want = full[:full.find(stop)]
    r = client.completions.create(max_tokens=10, stop=stop, **kw)
    assert r.choices[0].text == want and r.choices[0].finish_reason == "stop"
    assert r.usage.completion_tokens < 10  # generation ended at the stop string
    chunks = [c.model_dump() for c in client.completions.create(max_tokens=10, stop=[stop],
                                                                 stream=True, **kw)]
    assert "".join(c["choices"][0]["text"] for c in chunks if c["choices"]) == want
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


# Stop strings apply to generated text only, never to the echoed prompt.
def test_completions_echo_stop_applies_to_generated_text(client, model_name):
    prompt = "Once upon a time"
    kw = dict(model=model_name, prompt=prompt, max_tokens=4, temperature=0)
    plain = client.completions.create(**kw).choices[0]
    gen = plain.text
    stop = prompt[-2:] + gen[:1]  # begins in the prompt, ends in the generated text
    if not gen or stop in gen:
        pytest.skip(f"generated text unsuited: {gen!r}")
    r = client.completions.create(echo=True, stop=stop, **kw).choices[0]
    assert (r.text, r.finish_reason) == (prompt + gen, plain.finish_reason)


# A streamed completion carries the same logprobs as the whole response.
def test_completions_stream_logprobs(client, model_name):
    kw = dict(model=model_name, prompt=PROMPT, max_tokens=3, temperature=0, logprobs=2)
    whole = client.completions.create(**kw).choices[0].logprobs
    tokens, lps = [], []
    for chunk in client.completions.create(stream=True, **kw):
        for c in chunk.choices:
            if c.logprobs is not None:
                tokens += c.logprobs.tokens or []
                lps += c.logprobs.token_logprobs or []
    assert tokens == whole.tokens
    assert lps == pytest.approx(whole.token_logprobs, abs=1e-6)


def test_completions_eos_ends_with_stop(client, model_name):
    r = client.completions.create(model=model_name, prompt=PROMPT, max_tokens=8,
                                  temperature=0, logit_bias={str(ENDOFTEXT): 100})
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].text == "" and r.usage.completion_tokens == 1


def test_completions_logprobs(client, model_name):
    r = client.completions.create(model=model_name, prompt=PROMPT, max_tokens=4,
                                  temperature=0, logprobs=2)
    lp = r.choices[0].logprobs
    n = r.usage.completion_tokens
    assert n == 4
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == n
    assert len(lp.text_offset) == n
    assert lp.text_offset[0] == 0 and lp.text_offset == sorted(lp.text_offset)
    for tok, tlp, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
        assert isinstance(tok, str) and tlp <= 0
        assert 1 <= len(top) <= 2 and all(v <= 0 for v in top.values())
        assert tlp == pytest.approx(max(top.values()), abs=1e-5)  # greedy takes the best
    if "\ufffd" not in "".join(lp.tokens):
        assert "".join(lp.tokens) == r.choices[0].text
    # logprobs=0: the chosen tokens' logprobs, no alternatives.
    r = client.completions.create(model=model_name, prompt=PROMPT, max_tokens=2,
                                  temperature=0, logprobs=0)
    assert len(r.choices[0].logprobs.token_logprobs) == 2
    assert all(not t for t in r.choices[0].logprobs.top_logprobs)


# ---- Errors --------------------------------------------------------------------------------

CHAT = "/v1/chat/completions"
COMPL = "/v1/completions"


def chat_body(**kw):
    return {"messages": messages("hi"), "max_tokens": 2, **kw}


@pytest.mark.parametrize("path, body, param", [
    (CHAT, b"{not json", None),
    (CHAT, b"", None),
    (CHAT, b"[1, 2]", None),
    (CHAT, b'"a string"', None),
    (CHAT, chat_body(temperature="hot"), "temperature"),
    (CHAT, chat_body(temperature=2.5), "temperature"),
    (CHAT, chat_body(n=0), "n"),
    (CHAT, chat_body(n=1000), "n"),
    (CHAT, chat_body(top_p=2), "top_p"),
    (CHAT, chat_body(max_tokens=-1), "max_tokens"),
    (CHAT, chat_body(max_tokens=1.5), "max_tokens"),
    (CHAT, chat_body(stream="yes"), "stream"),
    (CHAT, chat_body(stream=True, n=0), "n"),  # refused before any stream begins
    (CHAT, chat_body(logit_bias={"abc": 1}), "logit_bias"),
    (CHAT, chat_body(logit_bias={"-5": 1}), "logit_bias"),
    (CHAT, chat_body(logit_bias={"5": 500}), "logit_bias"),
    (CHAT, chat_body(top_logprobs=3), "top_logprobs"),
    (CHAT, chat_body(logprobs=True, top_logprobs=21), "top_logprobs"),
    (CHAT, chat_body(stop=["a", "b", "c", "d", "e"]), "stop"),
    (CHAT, chat_body(stop=5), "stop"),
    (CHAT, chat_body(stream_options="usage"), "stream_options"),
    (CHAT, chat_body(model=5), "model"),
    (CHAT, {"messages": "hi", "max_tokens": 2}, None),
    (CHAT, {"max_tokens": 2}, None),
    (CHAT, {"messages": [{"role": "user"}], "max_tokens": 2}, None),
    (CHAT, {"messages": [{"role": "wizard", "content": "x"}], "max_tokens": 2}, None),
    (COMPL, {"max_tokens": 2}, "prompt"),
    (COMPL, {"prompt": 5, "max_tokens": 2}, "prompt"),
    (COMPL, {"prompt": "", "max_tokens": 2}, "prompt"),
    (COMPL, {"prompt": [1, 300000], "max_tokens": 2}, "prompt"),
    (COMPL, {"prompt": "hi", "logprobs": 21, "max_tokens": 2}, "logprobs"),
    (COMPL, {"prompt": "hi", "echo": "yes", "max_tokens": 2}, "echo"),
])
def test_bad_requests(server, path, body, param):
    status, _, data = server.request("POST", path, body,
                                     headers={"Content-Type": "application/json"})
    err = assert_error(status, data, 400, param=param)
    assert err["message"]


def test_bad_request_through_sdk(client, model_name):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=model_name, messages=messages("hi"),
                                       temperature=5, max_tokens=2)
    assert e.value.status_code == 400 and e.value.param == "temperature"


def test_context_length(server, client, model_name):
    long_ids = [1000 + i for i in range(MAX_MODEL_LEN + 50)]
    status, err = server.json("POST", COMPL, {"prompt": long_ids, "max_tokens": 2})
    assert_error(status, err, 400, code="context_length_exceeded")
    assert str(MAX_MODEL_LEN) in err["error"]["message"]
    # Exactly max_model_len prompt tokens leave no room for output either.
    status, err = server.json("POST", COMPL, {"prompt": long_ids[:MAX_MODEL_LEN]})
    assert_error(status, err, 400, code="context_length_exceeded")
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=model_name, messages=messages("word " * 1200),
                                       max_tokens=2)
    assert e.value.code == "context_length_exceeded"
    # max_tokens beyond what the context leaves.
    status, err = server.json("POST", COMPL, {"prompt": long_ids[:100], "max_tokens": 925})
    assert_error(status, err, 400, param="max_tokens")
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=model_name, messages=messages("hi"),
                                       max_tokens=MAX_MODEL_LEN)
    assert e.value.param == "max_tokens"
    # ... and exactly what it leaves is fine (the output is cut short by <|endoftext|>).
    r = client.completions.create(model=model_name, prompt=long_ids[:100], max_tokens=924,
                                  temperature=0, logit_bias={str(ENDOFTEXT): 100})
    assert r.choices[0].finish_reason == "stop"


def test_unknown_path_and_wrong_method(server):
    for method, path in [("GET", "/v1/nothing"), ("POST", "/v1/chat"), ("GET", "/index.html"),
                         ("POST", "/v2/completions")]:
        status, _, data = server.request(method, path, b"{}" if method == "POST" else None)
        assert_error(status, data, 404)
    status, headers, data = server.request("GET", CHAT)
    assert_error(status, data, 405)
    assert "POST" in headers["allow"]
    status, headers, data = server.request("DELETE", "/health")
    assert_error(status, data, 405)
    assert "GET" in headers["allow"]
    status, headers, data = server.request("POST", "/v1/models", b"{}")
    assert_error(status, data, 405)
    # CORS preflight: 204 with what a browser needs.
    status, headers, _ = server.request("OPTIONS", CHAT, headers={
        "Origin": "http://example.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert status == 204
    assert "POST" in headers["access-control-allow-methods"]
    assert "authorization" in headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in headers


def _send_big(port, n_bytes, chunked):
    """Posts n_bytes of body (declared, or chunked) while reading the answer; returns
    (status, body bytes)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    framing = ("Transfer-Encoding: chunked" if chunked else f"Content-Length: {n_bytes}")
    sock.sendall(f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 f"{framing}\r\n\r\n".encode())

    def send():
        piece = b" " * (1 << 20)
        left = n_bytes
        try:
            while left > 0:
                p = piece[:min(left, len(piece))]
                sock.sendall(b"%x\r\n%s\r\n" % (len(p), p) if chunked else p)
                left -= len(p)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server may answer and close before it has read everything

    t = threading.Thread(target=send)
    t.start()
    buf = b""
    try:
        while True:
            if b"\r\n\r\n" in buf:
                head, rest = buf.split(b"\r\n\r\n", 1)
                m = re.search(rb"content-length: *(\d+)", head, re.I)
                if m and len(rest) >= int(m.group(1)):
                    break
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
    finally:
        t.join()
        sock.close()
    head, body = buf.split(b"\r\n\r\n", 1)
    return int(head.split(b" ")[1]), body


def test_body_too_large(server):
    limit = 32 << 20
    status, body = _send_big(server.port, limit + (1 << 20), chunked=False)
    assert_error(status, body, 413)
    status, body = _send_big(server.port, limit + (1 << 20), chunked=True)
    assert_error(status, body, 413)
    # At the limit the body is read (and is not JSON: whitespace only).
    status, body = _send_big(server.port, limit, chunked=False)
    assert_error(status, body, 400)
    # The server is still fine.
    assert server.request("GET", "/health")[0] == 200


# ---- API keys and the served model name ----------------------------------------------------

@pytest.fixture(scope="module")
def auth_server(gptoss_bin, checkpoint, log_dir, tmp_path_factory):
    keys = tmp_path_factory.mktemp("keys") / "keys.txt"
    keys.write_text("# keys, one per line\nsk-file-1\n\n  \n  sk-file-2 \r\n")
    with serving(gptoss_bin, checkpoint, "--api-key", "sk-flag", "--api-key", "sk-flag-2",
                 "--api-key-file", keys,
                 "--served-model-name", "my-served-model", "--max-model-len", 256,
                 "--kv-cache-memory", "16M", "--max-num-seqs", 4, "--date", DATE,
                 log_dir=log_dir, name="auth") as srv:
        yield srv


def test_api_key_required(auth_server):
    status, _, data = auth_server.request("GET", "/v1/models")
    assert_error(status, data, 401)
    status, _, data = auth_server.request("GET", "/v1/models",
                                          headers={"Authorization": "Bearer nope"})
    assert_error(status, data, 401, code="invalid_api_key")
    status, _, data = auth_server.request("POST", "/tokenize", {"prompt": "hi"})
    assert_error(status, data, 401)
    status, _, data = auth_server.request("POST", CHAT, chat_body(),
                                          headers={"Authorization": "Basic c2stZmxhZw=="})
    assert_error(status, data, 401)
    bad = OpenAI(base_url=auth_server.base_url, api_key="sk-wrong", max_retries=0, timeout=60)
    with pytest.raises(openai.AuthenticationError) as e:
        bad.chat.completions.create(model="my-served-model", messages=messages("hi"),
                                    max_tokens=1)
    assert e.value.status_code == 401
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    bad.close()
    for not_a_key in ("# keys, one per line", "sk-file", "sk-flag-22", ""):
        status, _, data = auth_server.request("GET", "/v1/models",
                                              headers={"Authorization": "Bearer " + not_a_key})
        assert status == 401, not_a_key
    # Health, version and metrics stay open.
    for path in ("/health", "/version", "/metrics"):
        assert auth_server.request("GET", path)[0] == 200, path


@pytest.mark.parametrize("key", ["sk-flag", "sk-flag-2", "sk-file-1", "sk-file-2"])
def test_api_key_accepted(auth_server, key):
    c = OpenAI(base_url=auth_server.base_url, api_key=key, max_retries=0, timeout=300)
    try:
        assert [m.id for m in c.models.list().data] == ["my-served-model"]
        r = c.chat.completions.create(model="my-served-model", messages=messages("hi"),
                                      max_tokens=2, temperature=0)
        assert r.model == "my-served-model" and r.usage.completion_tokens == 2
    finally:
        c.close()


def test_served_model_name(auth_server, model_name):
    c = OpenAI(base_url=auth_server.base_url, api_key="sk-flag", max_retries=0, timeout=300)
    try:
        card = c.models.retrieve("my-served-model").model_dump()
        assert card["id"] == "my-served-model" and card["max_model_len"] == 256
        # The directory name is not an alias once a name is given.
        with pytest.raises(openai.NotFoundError) as e:
            c.completions.create(model=model_name, prompt="hi", max_tokens=1)
        assert e.value.code == "model_not_found"
        r = c.completions.create(model="my-served-model", prompt="hi", max_tokens=1)
        assert r.model == "my-served-model"
    finally:
        c.close()
    text = auth_server.metrics_text()
    assert 'model_name="my-served-model"' in text


# ---- The engine through the API: batching, preemption, prefix caching, aborts -------------

def batch_prompts(n, tag):
    # Different lengths (by 7 tokens each). They share the harmony system prompt, so the
    # prefix cache serves part of each, which must change nothing either.
    return [f"{tag} {i}: " + " ".join(["word"] * (1 + 7 * i)) for i in range(n)]


def test_batching_invariance(client, server, model_name):
    prompts = batch_prompts(16, "topic")

    def ask(p):
        # Long enough (12 steps) that the watcher below sees the batch even on a busy machine.
        r = client.chat.completions.create(model=model_name, messages=messages(p),
                                           max_tokens=12, temperature=0)
        return r.choices[0].message.model_dump(), r.choices[0].finish_reason, (
            r.usage.prompt_tokens, r.usage.completion_tokens)

    peak = [0]
    done = threading.Event()

    def watch():
        while not done.is_set():
            m = server.metrics()
            peak[0] = max(peak[0], metric_value(m, "vllm:num_requests_running"))
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            together = list(pool.map(ask, prompts))
    finally:
        done.set()
        watcher.join()
    alone = [ask(p) for p in prompts]
    for i, (a, b) in enumerate(zip(together, alone)):
        assert a == b, f"request {i} differs when batched"
    assert len({t[2][0] for t in together}) == 16  # the prompt lengths all differ
    assert peak[0] >= 2, "the requests never ran together"


def _needed_kv_bytes(gptoss_bin, checkpoint, *flags):
    """What --kv-cache-memory must be for one request of --max-model-len (from the refusal
    the server gives when the KV cache is too small)."""
    r = subprocess.run([gptoss_bin, "serve", "--model", str(checkpoint), "--port", "0",
                        "--kv-cache-memory", "1K", *map(str, flags)],
                       capture_output=True, timeout=300)
    text = r.stderr.decode()
    assert r.returncode != 0, text
    m = re.search(r"needs (\d+) bytes", text)
    assert m, text
    return int(m.group(1))


def test_preemption_keeps_outputs(gptoss_bin, checkpoint, log_dir, client, model_name):
    flags = ["--max-model-len", 256, "--max-num-seqs", 8]
    need = _needed_kv_bytes(gptoss_bin, checkpoint, *flags)
    # Room for one full-length request (17 blocks of 16 tokens), shared by 8 requests that
    # each start with 3 blocks of prompt and grow to 6 blocks: at most 5 fit at first, and any
    # 3 that run together must take blocks from each other as they grow. Each request decodes
    # long enough that they overlap even when the client's connections arrive one by one.
    prompts = [f"p{i} The history of the river valley begins with farmers who planted wheat "
               "and barley along the banks of the slow brown river, built small villages of "
               "mud brick and reed, and traded pottery with their neighbours to the north"
               for i in range(8)]
    kw = dict(max_tokens=40, temperature=0)

    def solo_all():
        # Solo references on the main server (same model, nothing else running there).
        return [client.completions.create(model=model_name, prompt=p, **kw).choices[0].text
                for p in prompts]

    with serving(gptoss_bin, checkpoint, *flags, "--kv-cache-memory", need, "--date", DATE,
                 log_dir=log_dir, name="small-kv") as small:
        for p in prompts:  # 3 blocks of prompt each, growing into a 6th
            status, tok = small.json("POST", "/tokenize", {"prompt": p})
            assert status == 200 and 33 <= tok["count"] <= 48 and 80 < tok["count"] + 40 <= 96, tok
        c = OpenAI(base_url=small.base_url, api_key="EMPTY", max_retries=0, timeout=600)

        def ask(p):
            r = c.completions.create(model=checkpoint.name, prompt=p, **kw)
            return r.choices[0].text, r.choices[0].finish_reason, r.usage.completion_tokens

        with concurrent.futures.ThreadPoolExecutor(9) as pool:
            solo = pool.submit(solo_all)
            together = list(pool.map(ask, prompts))
            solo = solo.result()
        c.close()
        assert [t[1:] for t in together] == [("length", 40)] * 8
        assert [t[0] for t in together] == solo
        m = small.metrics()
        assert metric_value(m, "vllm:num_preemptions_total") > 0
        assert metric_value(m, "vllm:request_success_total", finished_reason="length") == 8
        assert wait_until(lambda: small.metric("vllm:num_requests_running") == 0 and
                          small.metric("vllm:kv_cache_usage_perc") == 0, SETTLE_S)


def _unique_prompt(n_words=24):
    tag = uuid.uuid4().hex
    return f"{tag} " + " ".join(f"c{tag[:4]}{j}" for j in range(n_words))


def test_prefix_cache(client, server, model_name):
    prompt = _unique_prompt()
    kw = dict(model=model_name, prompt=prompt, max_tokens=3, temperature=0)
    h0 = server.metric("vllm:prefix_cache_hits_total")
    q0 = server.metric("vllm:prefix_cache_queries_total")
    first = client.completions.create(**kw)
    h1 = server.metric("vllm:prefix_cache_hits_total")
    q1 = server.metric("vllm:prefix_cache_queries_total")
    second = client.completions.create(**kw)
    h2 = server.metric("vllm:prefix_cache_hits_total")
    n = first.usage.prompt_tokens
    assert n > 64
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    assert h1 == h0 and q1 - q0 == n
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert 0 < cached < n and cached % 16 == 0
    assert h2 - h1 == cached
    assert second.usage.prompt_tokens == n
    assert second.choices[0].text == first.choices[0].text


def test_no_prefix_caching(gptoss_bin, checkpoint, log_dir, client, model_name):
    prompt = _unique_prompt()
    kw = dict(prompt=prompt, max_tokens=3, temperature=0)
    want = client.completions.create(model=model_name, **kw).choices[0].text
    with serving(gptoss_bin, checkpoint, "--no-enable-prefix-caching", "--max-model-len", 512,
                 "--kv-cache-memory", "32M", "--date", DATE, "--disable-log-stats",
                 log_dir=log_dir, name="no-prefix") as srv:
        c = OpenAI(base_url=srv.base_url, api_key="EMPTY", max_retries=0, timeout=300)
        try:
            for _ in range(2):
                r = c.completions.create(model=checkpoint.name, **kw)
                assert r.usage.prompt_tokens_details.cached_tokens == 0
                assert r.choices[0].text == want
        finally:
            c.close()
        assert srv.metric("vllm:prefix_cache_hits_total") == 0


def _idle_after_abort(server, aborts_before):
    def idle():
        m = server.metrics()
        return (metric_value(m, "vllm:num_requests_running") == 0 and
                metric_value(m, "vllm:num_requests_waiting") == 0 and
                metric_value(m, "vllm:kv_cache_usage_perc") == 0 and
                metric_value(m, "vllm:request_success_total", finished_reason="abort") ==
                aborts_before + 1) and m
    m = wait_until(idle, SETTLE_S)
    assert m, f"the server did not abort the request: {server.metrics_text()[:1500]}"
    return m


@pytest.mark.parametrize("path", [CHAT, COMPL])
def test_stream_disconnect_aborts(server, model_name, path):
    before = server.metrics()
    aborts = metric_value(before, "vllm:request_success_total", finished_reason="abort")
    lengths = metric_value(before, "vllm:request_success_total", finished_reason="length")
    gen0 = metric_value(before, "vllm:generation_tokens_total")
    body = {"model": model_name, "max_tokens": 600, "stream": True, "temperature": 0}
    if path == CHAT:
        # Random weights never finish a harmony header, so a chat stream shows only its role
        # delta (sent with the first token) until the end: one event is all there is.
        body["messages"], want, kind = messages("Go on"), 1, "chat.completion.chunk"
    else:
        body["prompt"], want, kind = "Go on", 2, "text_completion"
    s = RawStream(server.port, path, body)
    assert s.read_status() == 200
    events = s.read_events(want)
    assert len(events) >= want and json.loads(events[0])["object"] == kind
    assert wait_until(lambda: server.metric("vllm:num_requests_running") == 1, SETTLE_S)
    s.close()
    m = _idle_after_abort(server, aborts)
    assert metric_value(m, "vllm:request_success_total", finished_reason="length") == lengths
    assert metric_value(m, "vllm:generation_tokens_total") - gen0 < 600


def test_non_stream_timeout_aborts(server, model_name):
    aborts = server.metric("vllm:request_success_total", finished_reason="abort")
    # 900 tokens take the tiny model ~1.8 s in a release build on an idle machine (600 took
    # 1.2 s, too close to a 1 s timeout); the client gives up after 0.3 s.
    c = OpenAI(base_url=server.base_url, api_key="EMPTY", max_retries=0, timeout=0.3)
    try:
        with pytest.raises(openai.APITimeoutError):
            c.chat.completions.create(model=model_name, messages=messages("Take your time"),
                                      max_tokens=900, temperature=0)
    finally:
        c.close()
    _idle_after_abort(server, aborts)
    # The server goes on serving.
    status, body = server.json("POST", COMPL, {"prompt": "ok", "max_tokens": 1})
    assert status == 200 and body["usage"]["completion_tokens"] == 1


def test_sigterm_during_requests(gptoss_bin, checkpoint, log_dir):
    """SIGTERM with a stream and a plain request in flight: both are ended, the server exits
    0 within seconds."""
    srv = Server(gptoss_bin, checkpoint, "--max-model-len", 1024, "--kv-cache-memory", "16M",
                 "--max-num-seqs", 4, log_dir=log_dir, name="sigterm").start()
    try:
        s = RawStream(srv.port, COMPL, {"prompt": "Keep going", "max_tokens": 900,
                                        "stream": True})
        assert s.read_status() == 200
        assert len(s.read_events(2)) >= 2
        plain = {}

        def ask():
            try:
                plain["answer"] = srv.request("POST", CHAT, {"messages": messages("Long"),
                                                             "max_tokens": 900}, timeout=120)
            except (OSError, http.client.HTTPException) as e:
                plain["answer"] = e

        t = threading.Thread(target=ask)
        t.start()
        assert wait_until(lambda: srv.metric("vllm:num_requests_running") == 2, SETTLE_S)
        t0 = time.monotonic()
        srv.check_clean_exit(signal.SIGTERM)
        took = time.monotonic() - t0
        assert took < 20, f"shutdown took {took:.1f} s"
        # Neither request was left hanging.
        t.join(10)
        assert not t.is_alive()
        answer = plain["answer"]
        if isinstance(answer, tuple):  # an answer came before the connection closed
            assert answer[0] != 200, answer
        s.sock.settimeout(10)
        s.read_to_end()
        s.close()
        assert b"[DONE]" not in s.buf  # the stream was cut, not finished
        assert "shutting down" in srv.stderr()
    finally:
        srv.kill()


def test_queue_full_is_503(gptoss_bin, checkpoint, log_dir):
    """With one running slot and room for one waiting request, a third request is refused with
    503 and OpenAI's error body, and the server goes on serving once the queue drains."""
    with serving(gptoss_bin, checkpoint, "--max-model-len", 1024, "--kv-cache-memory", "16M",
                 "--max-num-seqs", 1, "--max-queued-requests", 1, "--date", DATE,
                 log_dir=log_dir, name="queue") as srv:
        first = RawStream(srv.port, COMPL, {"prompt": "Keep going", "max_tokens": 900,
                                            "stream": True})
        assert first.read_status() == 200
        assert len(first.read_events(2)) >= 2
        second = RawStream(srv.port, COMPL, {"prompt": "Wait", "max_tokens": 2, "stream": True})
        assert wait_until(lambda: srv.metric("vllm:num_requests_waiting") == 1, SETTLE_S)
        status, headers, body = srv.request("POST", COMPL, {"prompt": "Refused", "max_tokens": 1})
        assert_error(status, body, 503)
        assert headers.get("retry-after") == "1", headers  # when to come back
        first.close()
        assert second.read_status() == 200
        second.read_to_end()
        second.close()
        status, body = srv.json("POST", COMPL, {"prompt": "ok", "max_tokens": 1})
        assert status == 200

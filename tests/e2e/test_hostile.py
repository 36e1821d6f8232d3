"""Hostile clients against `gptoss serve`: malformed bytes and JSON, absurd sizes and numbers,
HTTP abuse. Each gets its documented status with OpenAI's error body (or, for broken HTTP, a
closed connection), and after every one the server still answers a normal request."""
import json
import socket

import pytest

from server_fixture import serving
from test_server import assert_error

CHAT, COMPL = "/v1/chat/completions", "/v1/completions"


@pytest.fixture(scope="module")
def srv(gptoss_bin, tiny_model, tmp_path_factory):
    with serving(gptoss_bin, tiny_model, "--max-model-len", 1024, "--kv-cache-memory", "64M",
                 log_dir=tmp_path_factory.mktemp("hostile-logs"), name="hostile") as s:
        yield s


def still_serving(srv):
    status, _, body = srv.request("POST", COMPL, {"prompt": "ok", "max_tokens": 1})
    assert status == 200, body


def raw_post(srv, path, data):
    return srv.request("POST", path, data, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("name,data,status", [
    ("invalid utf-8", b'{"prompt": "\xff\xfe\xc3", "max_tokens": 1}', 400),
    ("deeply nested", b'{"prompt": ' + b"[" * 100000 + b"]" * 100000 + b"}", 400),
    ("NaN", b'{"prompt": "x", "temperature": NaN, "max_tokens": 1}', 400),
    ("Infinity", b'{"prompt": "x", "max_tokens": Infinity}', 400),
    ("duplicate keys", b'{"prompt": "x", "prompt": "y", "max_tokens": 1}', 400),
    ("huge number", b'{"prompt": "x", "max_tokens": 1e300}', 400),
    ("huge integer", b'{"prompt": "x", "max_tokens": 99999999999999999999999}', 400),
    ("negative n", b'{"prompt": "x", "n": -3}', 400),
    ("null everywhere", b'{"prompt": null, "max_tokens": null}', 400),
    ("trailing garbage", b'{"prompt": "x", "max_tokens": 1} trailing', 400),
    ("nul character", b'{"prompt": "a\\u0000b", "max_tokens": 1}', 400),
])
def test_malformed_bodies(srv, name, data, status):
    got, _, body = raw_post(srv, COMPL, data)
    if status == 200:
        assert got == 200, body
    else:
        assert_error(got, body, status)
    still_serving(srv)


def test_ten_megabyte_string_is_a_context_error(srv):
    big = "lorem ipsum " * ((10 << 20) // 12)
    status, _, body = srv.request("POST", CHAT, {"messages": [{"role": "user", "content": big}],
                                                 "max_tokens": 1})
    assert_error(status, body, 400)
    still_serving(srv)


@pytest.mark.parametrize("field,value", [
    ("messages", 5), ("messages", [5]), ("messages", [{"role": 5, "content": "x"}]),
    ("messages", [{"role": "user", "content": {"a": 1}}]), ("tools", "all"), ("tools", [5]),
    ("tool_choice", 5), ("temperature", [1]), ("seed", "x"), ("seed", 1.5), ("stop", [1]),
    ("max_tokens", "10"), ("stream", 1), ("n", 1.5), ("logit_bias", [1]), ("top_k", "x"),
])
def test_wrong_types(srv, field, value):
    req = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1, field: value}
    status, _, body = srv.request("POST", CHAT, req)
    assert_error(status, body, 400)
    still_serving(srv)


def test_tool_call_with_invalid_json_arguments(srv):
    """The arguments string is the client's own earlier output: passed on as text, not parsed."""
    req = {"max_tokens": 2, "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "get_weather", "arguments": "{not json"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"}]}
    status, _, body = srv.request("POST", CHAT, req)
    assert status == 200, body
    still_serving(srv)


def test_pipelined_requests_answered_in_order(srv):
    one = json.dumps({"prompt": "a", "max_tokens": 1}).encode()
    req = (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n%s" % (len(one), one))
    with socket.create_connection(("127.0.0.1", srv.port), timeout=60) as s:
        s.sendall(req + req.replace(b"Host: x", b"Host: x\r\nConnection: close"))
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.count(b"HTTP/1.1 200") == 2, data[:500]
    still_serving(srv)


def test_headers_over_the_limit(srv):
    with socket.create_connection(("127.0.0.1", srv.port), timeout=60) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
        try:
            data = s.recv(4096)
        except ConnectionResetError:
            data = b""
    # libmicrohttpd answers 431 (or closes) once the headers outgrow its buffer.
    assert data == b"" or data.startswith(b"HTTP/1.1 431"), data[:200]
    still_serving(srv)

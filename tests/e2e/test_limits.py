"""`gptoss serve`'s limits, each set low on one server and each checked from both sides: the
request just inside the limit is served, the one just outside gets the documented status and
OpenAI's error body, and the server keeps serving. Every test here fails if its limit is
removed (the defaults are far above what the tests send)."""
import json
import socket
import subprocess
import time

import pytest

from server_fixture import serving
from test_server import assert_error

CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def srv(gptoss_bin, tiny_model, tmp_path_factory):
    with serving(gptoss_bin, tiny_model, "--max-model-len", 1024, "--kv-cache-memory", "64M",
                 "--max-body-bytes", "64K", "--max-n", 2, "--max-tools", 2,
                 "--read-timeout", 2, log_dir=tmp_path_factory.mktemp("limits-logs"),
                 name="limits") as s:
        yield s


def chat(**kw):
    return dict({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}, **kw)


def tool(i):
    return {"type": "function", "function": {"name": f"f{i}", "parameters": {"type": "object"}}}


def test_max_body_bytes(srv):
    pad = "x" * (60 << 10)
    status, _, body = srv.request("POST", CHAT, chat(user=pad))
    assert status == 200, body
    status, _, body = srv.request("POST", CHAT, chat(user=pad + "x" * (8 << 10)))
    assert_error(status, body, 413)
    assert srv.request("GET", "/health")[0] == 200


def test_max_n(srv):
    status, _, body = srv.request("POST", CHAT, chat(n=2))
    assert status == 200 and len(json.loads(body)["choices"]) == 2, body
    status, _, body = srv.request("POST", CHAT, chat(n=3))
    assert_error(status, body, 400, param="n")


def test_max_tools(srv):
    status, _, body = srv.request("POST", CHAT, chat(tools=[tool(0), tool(1)]))
    assert status == 200, body
    status, _, body = srv.request("POST", CHAT, chat(tools=[tool(0), tool(1), tool(2)]))
    err = assert_error(status, body, 400, param="tools")
    assert "--max-tools" in err["message"], err


def test_read_timeout_cuts_a_slow_client(srv):
    """A client that sends half a request and stops is disconnected after --read-timeout, and
    holds nobody up meanwhile."""
    slow = socket.create_connection(("127.0.0.1", srv.port))
    slow.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                 b"\r\nContent-Length: 100\r\n\r\n{\"prompt\": ")
    t0 = time.monotonic()
    assert srv.request("GET", "/health")[0] == 200
    slow.settimeout(30)
    try:
        data = slow.recv(4096)
    except (ConnectionResetError, socket.timeout):
        data = b""
    waited = time.monotonic() - t0
    slow.close()
    assert data == b"" and 1 < waited < 15, (data, waited)
    assert srv.request("GET", "/health")[0] == 200


def test_allowed_origins(gptoss_bin, srv, tmp_path):
    """CORS: only the listed origins' pages get a grant; by default (srv) none does."""
    status, headers, _ = srv.request("GET", "/health", headers={"Origin": "http://a.example"})
    assert status == 200 and "access-control-allow-origin" not in headers
    with serving(gptoss_bin, srv.model, "--max-model-len", 1024, "--kv-cache-memory", "64M",
                 "--allowed-origins", "http://a.example,https://b.example:8443",
                 log_dir=tmp_path, name="cors") as s:
        for origin in ("http://a.example", "https://b.example:8443"):
            status, headers, _ = s.request("POST", CHAT, chat(), headers={"Origin": origin})
            assert status == 200 and headers["access-control-allow-origin"] == origin
            assert headers["vary"] == "Origin"
            status, headers, _ = s.request("OPTIONS", CHAT, headers={
                "Origin": origin, "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type"})
            assert status == 204 and headers["access-control-allow-origin"] == origin
        status, headers, _ = s.request("GET", "/health", headers={"Origin": "http://evil.example"})
        assert status == 200 and "access-control-allow-origin" not in headers
    with serving(gptoss_bin, srv.model, "--max-model-len", 1024, "--kv-cache-memory", "64M",
                 "--allowed-origins", "*", log_dir=tmp_path, name="cors-any") as s:
        status, headers, _ = s.request("GET", "/health", headers={"Origin": "http://x.example"})
        assert headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("flag,value,message", [
    ("--max-body-bytes", "12", "--max-body-bytes must be a size from 1K to 4G"),
    ("--max-n", "0", "--max-n must be"),
    ("--max-tools", "x", "--max-tools must be"),
    ("--read-timeout", "0", "--read-timeout must be"),
    ("--max-connections", "-1", "--max-connections must be"),
    ("--allowed-origins", "example.com", "--allowed-origins takes up to 64 origins"),
])
def test_bad_limit_flags(gptoss_bin, flag, value, message):
    r = subprocess.run([gptoss_bin, "serve", "--model", "/nonexistent", flag, value],
                       capture_output=True, timeout=60)
    assert r.returncode != 0 and message in r.stderr.decode(), r.stderr.decode()


def test_max_connections_answers_503(gptoss_bin, srv, tmp_path):
    """A connection over --max-connections gets 503 with Retry-After and OpenAI's error body
    (then is closed), not a refused or silently dropped connection; once the others close,
    requests are served again."""
    with serving(gptoss_bin, srv.model, "--max-model-len", 1024, "--kv-cache-memory", "64M",
                 "--max-connections", 4, log_dir=tmp_path, name="max-connections") as s:
        held = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(4)]
        try:
            time.sleep(0.3)  # the server has taken all four
            status, headers, body = s.request("POST", CHAT, chat())
            assert_error(status, body, 503)
            assert headers.get("retry-after") == "1" and headers.get("connection") == "close"
            assert "--max-connections" in json.loads(body)["error"]["message"] or \
                "too many open connections" in json.loads(body)["error"]["message"]
        finally:
            for h in held:
                h.close()
        deadline = time.monotonic() + 10
        while s.request("GET", "/health")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        status, _, body = s.request("POST", CHAT, chat())
        assert status == 200, body

"""End-to-end tests of what `gptoss serve` does for the web UI, over plain HTTP (the browser
tests are in test_webui.py): the embedded files and their headers, --no-webui and
--webui-dir, the /status endpoint the status panel reads, and the scripted checkpoint the
browser tests chat with.
"""
import hashlib
import os
import re

import pytest

from conftest import ROOT
from scripted_model import ANALYSIS_TEXT, FINAL_TEXT
from server_fixture import RawStream, serving, wait_until

# Debian's files that the build embeds (src/server/CMakeLists.txt).
VENDORED = {
    "/vendor/marked.min.js": "/usr/share/javascript/marked/marked.umd.min.js",
    "/vendor/purify.min.js": "/usr/share/nodejs/dompurify/dist/purify.min.js",
    "/vendor/highlight.min.js": "/usr/share/javascript/highlight.js/highlight.min.js",
    "/vendor/hljs-light.css": "/usr/share/javascript/highlight.js/styles/atom-one-light.css",
    "/vendor/hljs-dark.css": "/usr/share/javascript/highlight.js/styles/atom-one-dark.css",
}
WEB_FILES = {"/": "index.html", "/app.js": "app.js", "/style.css": "style.css"}


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("webui-logs")


@pytest.fixture(scope="module")
def server(gptoss_bin, scripted, log_dir):
    with serving(gptoss_bin, scripted, "--api-key", "webui-key", log_dir=log_dir,
                 name="webui") as srv:
        yield srv


AUTH = {"Authorization": "Bearer webui-key"}


def test_ui_files_are_served_with_their_types_and_security_headers(server):
    types = {"/": "text/html; charset=utf-8", "/app.js": "text/javascript; charset=utf-8",
             "/style.css": "text/css; charset=utf-8"}
    for path, ctype in types.items():
        status, headers, body = server.request("GET", path)
        assert status == 200, path
        assert headers["content-type"] == ctype
        with open(os.path.join(ROOT, "web", WEB_FILES[path]), "rb") as f:
            assert body == f.read(), f"{path} is not web/{WEB_FILES[path]} as built"
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "connect-src 'self'" in csp
        assert "object-src 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"


def test_vendored_libraries_are_debians_files(server):
    for path, source in VENDORED.items():
        status, headers, body = server.request("GET", path)
        assert status == 200, path
        if os.path.exists(source):
            with open(source, "rb") as f:
                assert hashlib.sha256(body).digest() == hashlib.sha256(f.read()).digest(), path


def test_everything_the_page_references_is_served_here(server):
    """Every script and stylesheet the page loads comes from this server; none from outside."""
    _, _, html = server.request("GET", "/")
    html = html.decode()
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(r.endswith("app.js") for r in refs) and any(r.endswith(".css") for r in refs)
    for ref in refs:
        assert not re.match(r"^[a-z]+:", ref) or ref.startswith("data:"), \
            f"the page refers to {ref}, outside this server"
        if ref.startswith("data:") or ref.startswith("#"):
            continue
        status, _, _ = server.request("GET", "/" + ref.lstrip("./"))
        assert status == 200, ref


def test_etag_revalidation_answers_304(server):
    status, headers, body = server.request("GET", "/vendor/highlight.min.js")
    etag = headers["etag"]
    assert status == 200 and len(body) > 100000 and headers["cache-control"] == "no-cache"
    status, headers, body = server.request("GET", "/vendor/highlight.min.js",
                                           headers={"If-None-Match": etag})
    assert status == 304 and body == b"" and headers["etag"] == etag
    status, _, body = server.request("GET", "/vendor/highlight.min.js",
                                     headers={"If-None-Match": '"0000000000000000"'})
    assert status == 200 and len(body) > 100000


def test_head_has_no_body(server):
    status, headers, body = server.request("HEAD", "/")
    assert status == 200 and body == b"" and headers["content-type"].startswith("text/html")


def test_ui_and_status_need_no_key_but_the_api_does(server):
    assert server.request("GET", "/")[0] == 200
    assert server.request("GET", "/status")[0] == 200
    assert server.request("GET", "/v1/models")[0] == 401
    assert server.request("GET", "/v1/models", headers=AUTH)[0] == 200


def test_unknown_pages_are_404(server):
    for path in ("/index.htm", "/vendor/", "/vendor/../app.js", "/app.js/x"):
        assert server.request("GET", path)[0] == 404, path
    assert server.request("POST", "/")[0] == 405


def test_status_fields(server):
    status, body = server.json("GET", "/status")
    assert status == 200
    assert body["model"] == "scripted" and body["ready"] is True
    assert body["auth_required"] is True and body["demo"] is False
    assert body["max_model_len"] > 0 and body["uptime_s"] >= 0
    assert set(body["requests"]) == {"running", "waiting"}
    kv = body["kv_cache"]
    assert 0 <= kv["usage"] <= 1 and kv["blocks_total"] * 16 >= kv["tokens_capacity"] > 0
    assert kv["usage"] == pytest.approx(kv["blocks_used"] / kv["blocks_total"], abs=1e-6)
    dev, = body["devices"]
    assert dev["kind"] == "cpu" and dev["rank"] == 0 and dev["name"].startswith("CPU")
    assert 0 < dev["weights_bytes"] < dev["memory_used"] < dev["memory_total"]
    assert dev["kv_cache_bytes"] > 0


def test_status_follows_a_stream_and_its_cancellation(server):
    """While a reply streams, /status shows it running with KV blocks in use; once the client
    hangs up, the request is gone and its blocks are free (what the UI's Stop button relies on)."""
    stream = RawStream(server.port, "/v1/chat/completions",
                       {"messages": [{"role": "user", "content": "hello"}], "stream": True,
                        "max_tokens": 6000}, headers=AUTH)
    try:
        assert stream.read_status() == 200
        stream.read_events(5)

        def busy():
            b = server.json("GET", "/status")[1]
            return b if b["requests"]["running"] == 1 and b["kv_cache"]["blocks_used"] > 0 else None
        during = wait_until(busy, timeout=30)
        assert during, server.json("GET", "/status")[1]
        assert during["kv_cache"]["usage"] > 0
    finally:
        stream.close()

    def idle():
        b = server.json("GET", "/status")[1]
        return b["requests"]["running"] == 0 and b["kv_cache"]["blocks_used"] == 0
    assert wait_until(idle, timeout=30), server.json("GET", "/status")[1]
    assert server.json("GET", "/status")[1]["tokens"]["generation"] > 5


def test_scripted_model_thinks_then_answers(server):
    status, body = server.json("POST", "/v1/chat/completions",
                               {"messages": [{"role": "user", "content": "Hi!"}],
                                "max_tokens": 40}, headers=AUTH)
    assert status == 200, body
    msg = body["choices"][0]["message"]
    assert msg["reasoning_content"] == ANALYSIS_TEXT
    assert msg["content"].startswith(FINAL_TEXT.strip())
    assert body["choices"][0]["finish_reason"] == "length"


def test_no_webui(gptoss_bin, scripted, log_dir):
    with serving(gptoss_bin, scripted, "--no-webui", log_dir=log_dir, name="no-webui") as srv:
        for path in ["/", "/app.js", *VENDORED]:
            assert srv.request("GET", path)[0] == 404, path
        assert srv.request("GET", "/status")[0] == 200
        assert srv.request("GET", "/health")[0] == 200


def test_webui_dir_serves_files_from_disk(gptoss_bin, scripted, log_dir, tmp_path):
    (tmp_path / "index.html").write_text("<p>first</p>")
    with serving(gptoss_bin, scripted, "--webui-dir", tmp_path, log_dir=log_dir,
                 name="webui-dir") as srv:
        status, headers, body = srv.request("GET", "/")
        assert status == 200 and body == b"<p>first</p>"
        assert headers["cache-control"] == "no-store" and "content-security-policy" in headers
        assert "etag" not in headers  # the file may change under the server
        (tmp_path / "index.html").write_text("<p>second</p>")
        assert srv.request("GET", "/")[2] == b"<p>second</p>"
        # A file missing from the folder is a server-side error with OpenAI's body; the
        # vendored libraries still come from the binary.
        status, _, body = srv.request("GET", "/app.js")
        assert status == 500 and b"app.js" in body
        assert srv.request("GET", "/vendor/marked.min.js")[0] == 200


@pytest.mark.parametrize("flags, message", [
    (["--webui-dir", "/nonexistent-folder"], "--webui-dir /nonexistent-folder: not a folder"),
    (["--webui-dir", "/tmp", "--no-webui"], "contradict"),
])
def test_bad_webui_flags(run, scripted, flags, message):
    r = run(["serve", "--model", str(scripted), "--port", "0", *flags])
    assert r.returncode == 2
    assert message in r.stderr.decode()

"""API keys beyond the basics in test_server.py: which endpoints are open without a key
(--public-endpoints), key files that would switch authentication off, and what the log may
hold — never a key, and a prompt only under --log-requests."""
import subprocess

import pytest

from server_fixture import serving
from test_server import assert_error

CHAT = "/v1/chat/completions"
KEY = "sk-never-logged-7f3a"
WRONG_KEY = "sk-wrong-never-logged-91c2"
PROMPT_MARK = "prompt-marker-5d41"
OPEN = ("/health", "/version", "/metrics", "/status")


def chat(text, **kw):
    return dict({"messages": [{"role": "user", "content": text}], "max_tokens": 2}, **kw)


def auth(key=KEY):
    return {"Authorization": f"Bearer {key}"}


def flags(*extra):
    return ["--max-model-len", 512, "--kv-cache-memory", "32M", "--api-key", KEY, *extra]


@pytest.mark.parametrize("public,open_paths", [
    ("none", ()),
    ("health,/version", ("/health", "/version")),
    ("metrics", ("/metrics",)),
])
def test_public_endpoints(gptoss_bin, tiny_model, tmp_path, public, open_paths):
    with serving(gptoss_bin, tiny_model, *flags("--public-endpoints", public),
                 log_dir=tmp_path, name="public") as srv:
        for path in OPEN:
            status, _, body = srv.request("GET", path)
            if path in open_paths:
                assert status == 200, (path, body)
            else:
                assert_error(status, body, 401)
            assert srv.request("GET", path, headers=auth())[0] == 200, path
        # The web UI's own files hold no data: always open.
        assert srv.request("GET", "/")[0] == 200


def test_default_public_endpoints(gptoss_bin, tiny_model, tmp_path):
    """By default (as vLLM) health, version, metrics and status need no key; the API does."""
    with serving(gptoss_bin, tiny_model, *flags(), log_dir=tmp_path, name="public-default") as srv:
        for path in OPEN:
            assert srv.request("GET", path)[0] == 200, path
        assert_error(*srv.request("GET", "/v1/models")[::2], 401)


def test_nothing_private_is_logged_by_default(gptoss_bin, tiny_model, tmp_path):
    with serving(gptoss_bin, tiny_model, *flags(), log_dir=tmp_path, name="quiet-log") as srv:
        assert srv.request("POST", CHAT, chat(PROMPT_MARK), headers=auth())[0] == 200
        assert srv.request("POST", "/v1/completions", {"prompt": PROMPT_MARK, "max_tokens": 1},
                           headers=auth())[0] == 200
        assert srv.request("POST", CHAT, chat(PROMPT_MARK), headers=auth(WRONG_KEY))[0] == 401
    log = srv.stderr()
    assert "POST /v1/chat/completions 200" in log  # the access log is there
    for secret in (KEY, WRONG_KEY, PROMPT_MARK):
        assert secret not in log, secret


def test_log_requests(gptoss_bin, tiny_model, tmp_path):
    long_text = PROMPT_MARK + " " + "word " * 400
    with serving(gptoss_bin, tiny_model, *flags("--log-requests", "--max-log-len", 600),
                 log_dir=tmp_path, name="log-requests") as srv:
        assert srv.request("POST", CHAT, chat(PROMPT_MARK + ' "quoted"\nnext line',
                                              temperature=0.5, seed=7),
                           headers=auth())[0] == 200
        assert srv.request("POST", "/v1/completions", {"prompt": long_text, "max_tokens": 1},
                           headers=auth())[0] == 200
    log = srv.stderr().splitlines()
    lines = [line for line in log if PROMPT_MARK in line]
    assert len(lines) == 2, log
    # The chat line: the harmony prompt as the model sees it, on one line, with the parameters.
    assert "<|start|>user<|message|>" + PROMPT_MARK + ' \\"quoted\\"\\nnext line' in lines[0]
    assert "temperature 0.5" in lines[0] and "seed 7" in lines[0] and "max_tokens 2" in lines[0]
    # The long completion prompt is cut at --max-log-len bytes.
    assert "(cut)" in lines[1] and len(lines[1]) < 600 + 400, lines[1]
    assert "(cut)" not in lines[0]
    assert not any(KEY in line for line in log)


@pytest.mark.parametrize("content,message", [
    ("", "no key in the file"),
    ("# only a comment\n\n   \n", "no key in the file"),
])
def test_key_file_without_keys_is_refused(gptoss_bin, tiny_model, tmp_path, content, message):
    """An empty key file would silently turn authentication off."""
    keys = tmp_path / "keys.txt"
    keys.write_text(content)
    r = subprocess.run([gptoss_bin, "serve", "--model", str(tiny_model), "--port", "0",
                        "--api-key-file", str(keys)], capture_output=True, timeout=60)
    assert r.returncode != 0 and message in r.stderr.decode(), r.stderr.decode()


@pytest.mark.parametrize("args,message", [
    (["--public-endpoints", "health,docs"], "--public-endpoints takes a list"),
    (["--max-log-len", "100"], "--max-log-len applies to --log-requests only"),
    (["--api-key", ""], "--api-key: empty key"),
    (["--api-key-file", "/nonexistent/keys"], "--api-key-file /nonexistent/keys"),
])
def test_bad_auth_flags(gptoss_bin, tiny_model, args, message):
    r = subprocess.run([gptoss_bin, "serve", "--model", str(tiny_model), "--port", "0", *args],
                       capture_output=True, timeout=60)
    assert r.returncode != 0 and message in r.stderr.decode(), r.stderr.decode()

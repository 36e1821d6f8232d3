#!/usr/bin/env python3
"""A fake OpenAI-compatible streaming server, only for testing bench/loadgen.py (stdlib only).

It does no inference: every request waits --prefill-ms, then streams min(max_tokens, --tokens)
one-word "tokens" one --delay-ms apart, the first --reasoning-tokens of them as reasoning deltas
(``delta.reasoning_content``, as vLLM and llama.cpp send gpt-oss's analysis channel). Chat requests
get ``chat.completion.chunk`` events (a role-only chunk first, like vLLM), completions requests get
``text_completion`` events; the usage chunk (choices: []) comes last when the request asks for
stream_options.include_usage; then ``data: [DONE]``. Each request runs on its own thread, so the
"server" never slows down with concurrency: aggregate tokens/s should scale with the load.

    python3 bench/fake_openai_server.py --port 8765 --delay-ms 20 --tokens 16 &
    python3 bench/loadgen.py --url http://127.0.0.1:8765/v1 --concurrency 1,4,16

--http10 answers with HTTP/1.0 bodies delimited by closing the connection instead of chunked
transfer encoding; --fail-every N answers every Nth request with HTTP 500, to test error counting.
"""

from __future__ import annotations

import argparse
import http.server
import itertools
import json
import threading
import time

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi".split()


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "fake-openai/1"
    disable_nagle_algorithm = True  # TCP_NODELAY, as real servers stream
    cfg: argparse.Namespace
    counter = itertools.count(1)
    lock = threading.Lock()

    def log_message(self, fmt, *args):  # quiet
        if self.cfg.verbose:
            super().log_message(fmt, *args)

    def _send_json(self, status: int, obj: dict):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.rstrip("/") == "/v1/models":
            self._send_json(200, {"object": "list", "data": [
                {"id": self.cfg.model, "object": "model", "created": 0, "owned_by": "fake"}]})
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})

    def _write(self, data: bytes):
        if self.chunked:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        else:
            self.wfile.write(data)
        self.wfile.flush()

    def do_POST(self):
        path = self.path.rstrip("/")
        if path not in ("/v1/chat/completions", "/v1/completions"):
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        try:
            req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        except ValueError:
            self._send_json(400, {"error": {"message": "bad JSON"}})
            return
        with self.lock:
            n = next(self.counter)
        if self.cfg.fail_every and n % self.cfg.fail_every == 0:
            self._send_json(500, {"error": {"message": f"fake failure of request {n}"}})
            return
        chat = path.endswith("/chat/completions")
        if chat:
            prompt = " ".join(str(m.get("content", "")) for m in req.get("messages", []))
        else:
            prompt = str(req.get("prompt", ""))
        prompt_tokens = len(prompt.split())
        n_tokens = min(int(req.get("max_tokens") or self.cfg.tokens), self.cfg.tokens)
        cid = f"fake-{n}"
        created = int(time.time())
        obj_type = "chat.completion.chunk" if chat else "text_completion"
        time.sleep(self.cfg.prefill_ms / 1000)

        if not req.get("stream"):
            text = " ".join(WORDS[i % len(WORDS)] for i in range(n_tokens))
            time.sleep(n_tokens * self.cfg.delay_ms / 1000)
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": n_tokens,
                     "total_tokens": prompt_tokens + n_tokens}
            if chat:
                choice = {"index": 0, "message": {"role": "assistant", "content": text},
                          "finish_reason": "length"}
            else:
                choice = {"index": 0, "text": text, "finish_reason": "length"}
            self._send_json(200, {"id": cid, "object": obj_type.replace(".chunk", ""),
                                  "created": created, "model": self.cfg.model, "choices": [choice],
                                  "usage": usage})
            return

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.chunked = not self.cfg.http10
        if self.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()

        def event(choices, usage=None):
            obj = {"id": cid, "object": obj_type, "created": created, "model": self.cfg.model,
                   "choices": choices}
            if usage is not None:
                obj["usage"] = usage
            self._write(b"data: " + json.dumps(obj).encode() + b"\n\n")

        try:
            if chat:
                event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
            for i in range(n_tokens):
                if i:
                    time.sleep(self.cfg.delay_ms / 1000)
                word = WORDS[i % len(WORDS)] + " "
                last = i == n_tokens - 1
                finish = "length" if last else None
                if chat:
                    key = "reasoning_content" if i < self.cfg.reasoning_tokens else "content"
                    event([{"index": 0, "delta": {key: word}, "finish_reason": finish}])
                else:
                    event([{"index": 0, "text": word, "finish_reason": finish}])
            if (req.get("stream_options") or {}).get("include_usage"):
                event([], {"prompt_tokens": prompt_tokens, "completion_tokens": n_tokens,
                           "total_tokens": prompt_tokens + n_tokens})
            self._write(b"data: [DONE]\n\n")
            if self.chunked:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the listen() backlog: room for a burst of connections


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--model", default="fake-gpt-oss")
    ap.add_argument("--delay-ms", type=float, default=20.0, help="gap between tokens")
    ap.add_argument("--prefill-ms", type=float, default=0.0, help="delay before the first token")
    ap.add_argument("--tokens", type=int, default=16, help="tokens per answer (at most max_tokens)")
    ap.add_argument("--reasoning-tokens", type=int, default=4, help="how many of them are reasoning deltas")
    ap.add_argument("--http10", action="store_true", help="close-delimited bodies instead of chunked")
    ap.add_argument("--fail-every", type=int, default=0, help="answer every Nth request with HTTP 500")
    ap.add_argument("--verbose", action="store_true")
    cfg = ap.parse_args()
    Handler.cfg = cfg
    Handler.protocol_version = "HTTP/1.0" if cfg.http10 else "HTTP/1.1"
    server = Server((cfg.host, cfg.port), Handler)
    print(f"fake OpenAI server on http://{cfg.host}:{cfg.port}/v1 model={cfg.model}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

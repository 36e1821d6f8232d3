#!/usr/bin/env python3
"""Soak test for `gptoss serve`: thousands of requests from many concurrent clients on
127.0.0.1, then checks that the server gave every request its due and came back to where it
started. Standard library only (no `openai` package), Python 3.11.

Request kinds, drawn at random from a fixed mix (--seed):
  a stream     streaming chat completion read to the end: "data: [DONE]" last, every event
               JSON, exactly one choice with a finish_reason ("stop" or "length")
  b complete   non-streaming chat or text completion: 200, finish_reason, consistent usage
  c disconnect streaming request dropped after one or two events or a few milliseconds
               (half with a FIN, half with a RST)
  d cancel     non-streaming request for 200 tokens dropped 10-200 ms after sending it, or
               (half of them) at 50-100 % of the current median completion time, so that some
               are cancelled while waiting and some while decoding; one answered first must
               be a whole, valid answer
  e bad        malformed JSON, wrong types, unknown model, empty messages, invalid UTF-8, ...:
               each must get a 4xx with OpenAI's error body {"error": {"message", "type"}}
  f long       completions with a prompt of ~55-75 % of --max-model-len and 64 new tokens, so
               that with a small KV pool several running together must preempt; streamed or
               not, they must complete like a and b

a, b and f are "good" requests: each must be answered completely (a 503 is allowed only with
--allow-503; a refused or reset connection is a failure). A warm-up first sends every kind
(and every bad variant) so that the server's pools and allocator arenas reach their working
size; then, with the server idle, the baseline RSS and open-fd count are read from /proc.
After the main phase the server must go idle again (no request running or waiting, KV cache
usage 0, i.e. the pool 100 % free) with RSS within --rss-tolerance % of the baseline and no
more open fds than the baseline (+ --fd-slack). A server this script started must then exit
0 on SIGINT within 60 s without a sanitizer report in its stderr.

Exit status 0 only when every criterion holds; each failed one is printed on a line of its own.

Time to first token is when the first generated text arrives. With a random-weights checkpoint
a chat reply mostly stays in the harmony header (no <|message|> is generated), so its text comes
in one piece at the end and a chat's TTFT equals its latency; the long streamed completions
show the real figure.

The reference report's command line (docs/reliability.md):
  python3 tests/soak/soak.py --bin build/gptoss --model /tmp/soak/tiny --clients 64 \
      --requests 4000 --serve-flags "--max-model-len 512 --max-num-seqs 16 \
      --kv-cache-memory 8945664 --max-queued-requests 4096" --json /tmp/soak/report.json
with /tmp/soak/tiny from `build/gptoss random-model --preset tiny --seed 5 --tokenizer
tests/data/tokenizer/o200k_base.tiktoken --out /tmp/soak/tiny`. That KV pool holds 1296
tokens, about 2.5 requests of --max-model-len (tests/e2e/test_soak.py derives the same size
from the server's "needs N bytes" refusal).

Attach to a running server instead with --port N --pid PID (the pid is needed for /proc).
"""
import argparse
import collections
import json
import math
import os
import random
import re
import select
import shlex
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

KINDS = ("stream", "complete", "disconnect", "cancel", "bad", "long")
GOOD_KINDS = ("stream", "complete", "long")
# Share of each kind in the main phase, in percent.
MIX = {"stream": 25, "complete": 20, "disconnect": 10, "cancel": 10, "bad": 15, "long": 20}
FINISH_REASONS = ("stop", "length")
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: ThreadSanitizer",
                   "WARNING: ThreadSanitizer", "LeakSanitizer")
CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
WORDS = ("river valley farmers planted wheat barley along the banks of slow brown water built "
         "small villages from mud brick and reed traded pottery with neighbours to the north "
         "mountain winter harvest market bridge lantern copper orchard stone tower harbour "
         "merchant festival library garden bell road forest meadow island chapel mill").split()
# A keep-alive connection idle longer than this is not reused: the server may close idle
# connections (--read-timeout, 30 s by default), and a request racing that close would fail
# for a reason that is no bug of the server's.
KEEPALIVE_IDLE_S = 5.0
# What the server itself holds between requests is measured once it has been idle this long.
FD_STABLE_S = 1.0


class Fail(Exception):
    """A request that did not get what it should have: the message is the reason."""


class Rejected(Exception):
    """503 with Retry-After: the queue was full."""


# ---- HTTP over a plain socket ------------------------------------------------------------------

class Conn:
    """One HTTP/1.1 connection to the server, read by hand so that the framing is checked and a
    client can drop it at any byte."""

    def __init__(self, port, timeout):
        try:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        except ConnectionRefusedError as e:
            raise Fail(f"connection refused: {e}") from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.port = port
        self.buf = b""
        self.uses = 0
        self.idle_since = time.monotonic()
        self.reusable = True

    def send(self, method, path, body=None, ctype="application/json"):
        head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        if body is not None:
            head += [f"Content-Type: {ctype}", f"Content-Length: {len(body)}"]
        self.uses += 1
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + (body or b""))

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            self.reusable = False
            raise Fail("the server closed the connection mid-response")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise Fail("a line of the response over 64 KiB")
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_head(self):
        """(status, headers with lower-case names)."""
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise Fail("response headers over 64 KiB")
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
        if not m:
            raise Fail(f"bad status line {lines[0]!r}")
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if headers.get("connection", "").lower() == "close":
            self.reusable = False
        return int(m.group(1)), headers

    def body_pieces(self, headers):
        """The body as it arrives, de-chunked; raises Fail on broken framing."""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size_line = self._line()
                try:
                    size = int(size_line.split(b";")[0], 16)
                except ValueError:
                    raise Fail(f"bad chunk size line {size_line[:40]!r}") from None
                if size == 0:
                    while self._line():  # trailers, then the empty line
                        pass
                    return
                piece = self._take(size)
                if self._take(2) != b"\r\n":
                    raise Fail("a chunk not followed by CRLF")
                yield piece
        elif "content-length" in headers:
            n = int(headers["content-length"])
            if n:
                yield self._take(n)
        else:
            self.reusable = False
            while True:
                try:
                    self._fill()
                except Fail:
                    break
            piece, self.buf = self.buf, b""
            yield piece

    def read_body(self, headers):
        return b"".join(self.body_pieces(headers))

    def close(self, reset=False):
        if reset:
            # l_onoff=1, l_linger=0: close() sends a RST instead of a FIN.
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        try:
            self.sock.close()
        except OSError:
            pass


def simple_request(port, method, path, body=None, timeout=30):
    """One request on a new connection: (status, headers, body bytes)."""
    c = Conn(port, timeout)
    try:
        c.send(method, path, body)
        status, headers = c.read_head()
        return status, headers, c.read_body(headers)
    finally:
        c.close()


def parse_metrics(text):
    """Prometheus text → {name: value}; labels are ignored (samples of one name are summed, so
    e.g. request_success_total adds up its finish reasons)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)', line)
        if m:
            out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(3))
    return out


def success_by_reason(text):
    out = {}
    pattern = r'^vllm:request_success_total\{[^}]*finished_reason="(\w+)"[^}]*\}\s+(\S+)'
    for m in re.finditer(pattern, text, re.M):
        out[m.group(1)] = float(m.group(2))
    return out


# ---- What the answers must look like -------------------------------------------------------------

def check_usage(usage, max_tokens, finish_reason):
    if not isinstance(usage, dict):
        raise Fail(f"no usage object: {usage!r}")
    p, c, t = (usage.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens"))
    if not all(isinstance(v, int) for v in (p, c, t)):
        raise Fail(f"usage fields are not integers: {usage!r}")
    if t != p + c or p < 1 or c < 0 or c > max_tokens:
        raise Fail(f"inconsistent usage {usage!r} for max_tokens {max_tokens}")
    if finish_reason == "length" and c != max_tokens:
        raise Fail(f"finish_reason length after {c} of {max_tokens} tokens")


def check_completion(status, headers, body, chat, max_tokens):
    if status != 200:
        raise Fail(f"status {status}: {body[:300]!r}")
    if not headers.get("content-type", "").startswith("application/json"):
        raise Fail(f"content-type {headers.get('content-type')!r}")
    try:
        j = json.loads(body)
    except ValueError as e:
        raise Fail(f"body is not JSON ({e}): {body[:200]!r}") from None
    want = "chat.completion" if chat else "text_completion"
    if j.get("object") != want:
        raise Fail(f"object {j.get('object')!r}, not {want}")
    choices = j.get("choices")
    if not isinstance(choices, list) or len(choices) != 1:
        raise Fail(f"choices {choices!r}")
    fr = choices[0].get("finish_reason")
    if fr not in FINISH_REASONS:
        raise Fail(f"finish_reason {fr!r}")
    text = choices[0].get("message", {}).get("content", "") if chat else choices[0].get("text")
    if text is not None and not isinstance(text, str):
        raise Fail(f"the answer's text is {type(text).__name__}")
    check_usage(j.get("usage"), max_tokens, fr)


class SSE:
    """The "data:" events of a streamed body, as (arrival time, payload); `buf` holds what has
    arrived but not been handed out yet."""

    def __init__(self, conn, headers):
        self.conn = conn
        self.headers = headers
        self.buf = b""

    def __iter__(self):
        for piece in self.conn.body_pieces(self.headers):
            t = time.monotonic()
            self.buf += piece
            while b"\n\n" in self.buf:
                event, self.buf = self.buf.split(b"\n\n", 1)
                data = []
                for line in event.split(b"\n"):
                    if line.startswith(b"data:"):
                        data.append(line[5:].removeprefix(b" "))
                    elif line and not line.startswith(b":"):
                        raise Fail(f"not an SSE line: {line[:80]!r}")
                if data:
                    yield t, b"\n".join(data)
        if self.buf.strip():
            raise Fail(f"the stream ended inside an event: {self.buf[:80]!r}")


def check_stream(conn, t0, chat, max_tokens, include_usage):
    """Reads a streamed answer to its end; returns the time to the first generated text."""
    status, headers = conn.read_head()
    if status == 503 and "retry-after" in headers:
        conn.read_body(headers)
        raise Rejected()
    if status != 200:
        raise Fail(f"status {status}: {conn.read_body(headers)[:300]!r}")
    if not headers.get("content-type", "").startswith("text/event-stream"):
        raise Fail(f"content-type {headers.get('content-type')!r}")
    want = "chat.completion.chunk" if chat else "text_completion"
    ttft = None
    done = False
    finishes = []
    usage = []
    ids = set()
    for t, data in SSE(conn, headers):
        if done:
            raise Fail(f"an event after [DONE]: {data[:80]!r}")
        if data == b"[DONE]":
            done = True
            continue
        try:
            j = json.loads(data)
        except ValueError:
            raise Fail(f"an event that is not JSON: {data[:120]!r}") from None
        if "error" in j:
            raise Fail(f"an error event: {data[:300]!r}")
        if j.get("object") != want:
            raise Fail(f"chunk object {j.get('object')!r}, not {want}")
        ids.add(j.get("id"))
        choices = j.get("choices")
        if not isinstance(choices, list):
            raise Fail(f"chunk without a choices list: {data[:120]!r}")
        if j.get("usage") is not None:
            if choices:
                raise Fail("a usage chunk with choices")
            usage.append(j["usage"])
        for ch in choices:
            delta = ch.get("delta", {}) if chat else ch
            text = (delta.get("content") or delta.get("reasoning_content") or "") if chat \
                else (delta.get("text") or "")
            if text and ttft is None:
                ttft = t - t0
            if ch.get("finish_reason") is not None:
                finishes.append(ch["finish_reason"])
    if not done:
        raise Fail("the stream ended without data: [DONE]")
    if len(finishes) != 1 or finishes[0] not in FINISH_REASONS:
        raise Fail(f"finish reasons {finishes!r}, not exactly one of {FINISH_REASONS}")
    if len(ids) != 1:
        raise Fail(f"{len(ids)} different ids in one stream")
    if include_usage:
        if len(usage) != 1:
            raise Fail(f"{len(usage)} usage chunks with include_usage")
        check_usage(usage[0], max_tokens, finishes[0])
    elif usage:
        raise Fail("a usage chunk without stream_options.include_usage")
    return ttft


def check_error(status, body):
    """A bad request's answer: a 4xx with OpenAI's error body."""
    if status == 503:
        raise Rejected()
    if not 400 <= status < 500:
        raise Fail(f"status {status} for a bad request: {body[:200]!r}")
    try:
        err = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        raise Fail(f"status {status} without an OpenAI error body: {body[:200]!r}") from None
    if not isinstance(err, dict) or not isinstance(err.get("message"), str) \
            or not isinstance(err.get("type"), str):
        raise Fail(f"error body without message and type: {body[:200]!r}")


# ---- The requests ----------------------------------------------------------------------------

def words(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n))


def bad_variants(model):
    """(name, path, body bytes) of each bad request; the unknown model goes both ways."""
    msgs = [{"role": "user", "content": "hello"}]

    def js(**kw):
        return json.dumps(dict({"model": model, "messages": msgs}, **kw)).encode()
    return [
        ("malformed_json", CHAT, b'{"model": "' + model.encode() + b'", "messages": [{"role": '),
        ("trailing_garbage", CHAT, js() + b" }"),
        ("messages_number", CHAT, js(messages=5)),
        ("max_tokens_string", CHAT, js(max_tokens="x")),
        ("temperature_string", CHAT, js(temperature="hot")),
        ("max_tokens_negative", COMPLETIONS,
         json.dumps({"model": model, "prompt": "hi", "max_tokens": -3}).encode()),
        ("unknown_model", CHAT, js(model="no-such-model")),
        ("unknown_model_completions", COMPLETIONS,
         json.dumps({"model": "no-such-model", "prompt": "hi"}).encode()),
        ("empty_messages", CHAT, js(messages=[])),
        ("invalid_utf8", CHAT, b'{"model": "' + model.encode()
         + b'", "messages": [{"role": "user", "content": "caf\xc3\x28 \xff\xfe"}]}'),
        ("prompt_object", COMPLETIONS, json.dumps({"model": model, "prompt": {"a": 1}}).encode()),
        ("not_an_object", CHAT, b"[1, 2, 3]"),
    ]


class Client:
    """One client thread's state: its keep-alive connection."""

    def __init__(self, soak):
        self.soak = soak
        self.conn = None

    def connection(self, reuse):
        """A keep-alive connection when `reuse` and one is fit for it, else a new one."""
        s = self.soak
        c = self.conn
        if c is not None and (not reuse or not c.reusable
                              or time.monotonic() - c.idle_since > KEEPALIVE_IDLE_S):
            c.close()
            c = self.conn = None
        if c is None:
            c = self.conn = Conn(s.port, s.timeout)
        return c

    def done_with(self, c):
        if c.reusable and not c.buf:
            c.idle_since = time.monotonic()
        else:
            c.close()
            if self.conn is c:
                self.conn = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    # Each kind returns (outcome, variant, details); raising Fail or Rejected is the other way.

    def run(self, kind, seed, variant):
        return getattr(self, "do_" + kind)(random.Random(seed), variant)

    def _sampling(self, rng):
        temp = rng.choice((0, 1))
        kw = {"temperature": temp}
        if temp:
            kw["seed"] = rng.randrange(1 << 31)
        return kw

    def _chat_body(self, rng, max_tokens, **kw):
        return dict({"model": self.soak.model, "max_tokens": max_tokens,
                     "messages": [{"role": "user", "content": words(rng, rng.randint(3, 20))}]},
                    **self._sampling(rng), **kw)

    def _stream(self, path, body, chat, max_tokens, include_usage):
        if include_usage:
            body["stream_options"] = {"include_usage": True}
        c = Conn(self.soak.port, self.soak.timeout)
        try:
            t0 = time.monotonic()
            c.send("POST", path, json.dumps(body).encode())
            ttft = check_stream(c, t0, chat, max_tokens, include_usage)
            return {"latency": time.monotonic() - t0, "ttft": ttft}
        finally:
            c.close()

    def _complete(self, rng, path, body, chat, max_tokens):
        c = self.connection(reuse=rng.random() < 0.5)
        reused = c.uses > 0
        if reused:
            self.soak.count_reuse()
        try:
            t0 = time.monotonic()
            c.send("POST", path, json.dumps(body).encode())
            status, headers = c.read_head()
            data = c.read_body(headers)
            latency = time.monotonic() - t0
        except (Fail, OSError) as e:
            c.reusable = False
            self.done_with(c)
            how = "a reused keep-alive" if reused else "a new"
            raise Fail(f"{e} (on {how} connection)") from None
        self.done_with(c)
        if status == 503 and "retry-after" in headers:
            raise Rejected()
        check_completion(status, headers, data, chat, max_tokens)
        return {"latency": latency}

    def do_stream(self, rng, variant):
        max_tokens = rng.randint(8, 32)
        usage = rng.random() < 0.5
        details = self._stream(CHAT, self._chat_body(rng, max_tokens, stream=True), True,
                               max_tokens, usage)
        return "ok", "usage" if usage else "plain", details

    def do_complete(self, rng, variant):
        max_tokens = rng.randint(8, 32)
        if rng.random() < 0.5:
            return "ok", "chat", self._complete(rng, CHAT, self._chat_body(rng, max_tokens),
                                                True, max_tokens)
        body = dict({"model": self.soak.model, "prompt": words(rng, rng.randint(3, 30)),
                     "max_tokens": max_tokens}, **self._sampling(rng))
        return "ok", "completion", self._complete(rng, COMPLETIONS, body, False, max_tokens)

    def do_long(self, rng, variant):
        s = self.soak
        max_tokens = 64
        lo, hi = s.long_prompt_words
        body = dict({"model": s.model, "prompt": words(rng, rng.randint(lo, hi)),
                     "max_tokens": max_tokens}, **self._sampling(rng))
        if rng.random() < 0.5:
            body["stream"] = True
            return "ok", "stream", self._stream(COMPLETIONS, body, False, max_tokens,
                                                rng.random() < 0.5)
        return "ok", "complete", self._complete(rng, COMPLETIONS, body, False, max_tokens)

    def do_disconnect(self, rng, variant):
        s = self.soak
        mode = variant or rng.choice(("after_1_event", "after_2_events", "after_ms"))
        reset = rng.random() < 0.5
        chat = rng.random() < 0.5
        max_tokens = rng.randint(64, 200)
        if chat:
            body = self._chat_body(rng, max_tokens, stream=True)
        else:
            body = dict({"model": s.model, "prompt": words(rng, rng.randint(3, 30)),
                         "max_tokens": max_tokens, "stream": True}, **self._sampling(rng))
        c = Conn(s.port, s.timeout)
        try:
            c.send("POST", CHAT if chat else COMPLETIONS, json.dumps(body).encode())
            if mode == "after_ms":
                # Whatever has come by then (maybe nothing, maybe some events) is left unread.
                time.sleep(rng.uniform(0.0, 0.05))
            else:
                want = 1 if mode == "after_1_event" else 2
                status, headers = c.read_head()
                if status == 503 and "retry-after" in headers:
                    raise Rejected()
                if status != 200:
                    raise Fail(f"status {status} before the disconnect")
                seen = 0
                finished = False
                sse = SSE(c, headers)
                for _, data in sse:
                    if data == b"[DONE]":
                        finished = True
                    elif any(ch.get("finish_reason") for ch in json.loads(data)["choices"]):
                        finished = True
                    seen += 1
                    if seen >= want:
                        break
                else:
                    mode = "completed_first"
                # A chat's text can be held back to the end (see "Time to first token" above):
                # then its second event comes just before the finish, and the disconnect cuts
                # nothing. A peek of a few ms tells; those are counted apart, so that the
                # report shows how many disconnects really cut a generation short.
                if not finished and select.select([c.sock], [], [], 0.005)[0]:
                    try:
                        c._fill()
                    except Fail:
                        pass
                if finished or re.search(rb'"finish_reason":\s*"', sse.buf + c.buf):
                    mode += "_after_finish" if mode != "completed_first" else ""
        except OSError as e:
            raise Fail(f"{type(e).__name__} before the disconnect: {e}") from None
        except (ValueError, KeyError, TypeError, AttributeError):
            raise Fail("an event that is not a JSON chunk before the disconnect") from None
        finally:
            c.close(reset=reset)
        return "ok", f"{mode}_{'rst' if reset else 'fin'}", {}

    def do_cancel(self, rng, variant):
        s = self.soak
        max_tokens = s.cancel_max_tokens
        reset = rng.random() < 0.5
        chat = rng.random() < 0.5
        if chat:
            path, body = CHAT, self._chat_body(rng, max_tokens)
        else:
            path = COMPLETIONS
            body = dict({"model": s.model, "prompt": words(rng, rng.randint(3, 30)),
                         "max_tokens": max_tokens}, **self._sampling(rng))
        # Early: 10-200 ms after sending, mostly while the request still waits for a slot.
        # Late: at 50-100 % of what a completion takes right now, mostly while it decodes.
        late = rng.random() < 0.5
        delay = rng.uniform(0.010, 0.200)
        late_share = rng.uniform(0.5, 1.0)
        recent = sorted(s.recent_latency)
        if late and recent:
            delay = max(delay, late_share * recent[len(recent) // 2])
        c = Conn(s.port, s.timeout)
        try:
            t0 = time.monotonic()
            c.send("POST", path, json.dumps(body).encode())
            readable, _, _ = select.select([c.sock], [], [], delay)
            if not readable:
                return "ok", f"cancelled_{'late' if late else 'early'}_" \
                    f"{'rst' if reset else 'fin'}", {}
            # The answer (or a rejection) came first: it must then be a whole, valid one.
            status, headers = c.read_head()
            data = c.read_body(headers)
            if status == 503 and "retry-after" in headers:
                raise Rejected()
            check_completion(status, headers, data, chat, max_tokens)
            return "ok", "answered_first", {"latency": time.monotonic() - t0}
        except OSError as e:
            raise Fail(f"{type(e).__name__}: {e}") from None
        finally:
            c.close(reset=reset)

    def do_bad(self, rng, variant):
        s = self.soak
        name, path, body = s.bad[variant] if variant is not None else rng.choice(s.bad)
        c = self.connection(reuse=rng.random() < 0.5)
        if c.uses:
            s.count_reuse()
        try:
            c.send("POST", path, body)
            status, headers = c.read_head()
            data = c.read_body(headers)
        except (Fail, OSError) as e:
            c.reusable = False
            self.done_with(c)
            raise Fail(f"{name}: {e}") from None
        self.done_with(c)
        try:
            check_error(status, data)
        except Fail as e:
            raise Fail(f"{name}: {e}") from None
        return "expected_4xx", f"{name}:{status}", {"status": status}


# ---- The run ---------------------------------------------------------------------------------

def percentile(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[max(0, min(len(v) - 1, math.ceil(p / 100 * len(v)) - 1))]


def ms(x):
    return None if x is None else round(x * 1000, 1)


class Phase:
    """The outcomes of one phase's requests."""

    def __init__(self, name):
        self.name = name
        self.lock = threading.Lock()
        self.kinds = {k: {"issued": 0, "ok": 0, "failed": 0, "expected_4xx": 0,
                          "rejected_503": 0, "variants": {}, "latency": [], "ttft": []}
                      for k in KINDS}
        self.failures = []
        self.started = self.ended = None

    def record(self, kind, outcome, variant, details, reason=None, seed=None):
        with self.lock:
            k = self.kinds[kind]
            k["issued"] += 1
            k[outcome] += 1
            if variant:
                k["variants"][variant] = k["variants"].get(variant, 0) + 1
            if outcome == "ok" and kind in GOOD_KINDS:
                k["latency"].append(details["latency"])
                if details.get("ttft") is not None:
                    k["ttft"].append(details["ttft"])
            if outcome == "failed":
                # The request's seed rebuilds it: Client.run(kind, seed, None).
                self.failures.append({"phase": self.name, "kind": kind, "reason": reason,
                                      "seed": seed,
                                      "t": round(time.monotonic() - self.started, 3)})

    def done(self):
        with self.lock:
            return sum(k["issued"] for k in self.kinds.values())

    def failed(self):
        with self.lock:
            return sum(k["failed"] for k in self.kinds.values())

    def summary(self):
        out = {}
        for kind, k in self.kinds.items():
            s = {n: k[n] for n in ("issued", "ok", "failed", "expected_4xx", "rejected_503")}
            s["variants"] = dict(sorted(k["variants"].items()))
            if kind in GOOD_KINDS:
                s["latency_p50_ms"] = ms(percentile(k["latency"], 50))
                s["latency_p99_ms"] = ms(percentile(k["latency"], 99))
                if k["ttft"]:
                    s["ttft_p50_ms"] = ms(percentile(k["ttft"], 50))
                    s["ttft_p99_ms"] = ms(percentile(k["ttft"], 99))
            out[kind] = s
        lat = [x for kind in GOOD_KINDS for x in self.kinds[kind]["latency"]]
        ttft = [x for kind in GOOD_KINDS for x in self.kinds[kind]["ttft"]]
        good = {"completed": sum(self.kinds[k]["ok"] for k in GOOD_KINDS),
                "failed": sum(self.kinds[k]["failed"] for k in GOOD_KINDS),
                "rejected_503": sum(self.kinds[k]["rejected_503"] for k in GOOD_KINDS),
                "latency_p50_ms": ms(percentile(lat, 50)),
                "latency_p99_ms": ms(percentile(lat, 99)),
                "ttft_p50_ms": ms(percentile(ttft, 50)), "ttft_p99_ms": ms(percentile(ttft, 99))}
        statuses = {}
        for v, n in self.kinds["bad"]["variants"].items():
            st = v.rsplit(":", 1)[1]
            statuses[st] = statuses.get(st, 0) + n
        return out, good, dict(sorted(statuses.items()))


class Soak:
    def __init__(self, args):
        self.args = args
        self.timeout = args.timeout
        self.deadline = None
        self.proc = None
        self.port = args.port
        self.pid = args.pid
        self.log_path = None
        self.stop = threading.Event()
        self.deadline_hit = False
        self.server_died = None
        self.model = None
        # Latencies of the latest completed non-streaming requests, for the late cancellations.
        self.recent_latency = collections.deque(maxlen=200)
        self.reuse_lock = threading.Lock()
        self.keepalive_reuses = 0

    def count_reuse(self):
        with self.reuse_lock:
            self.keepalive_reuses += 1

    # ---- the server process -------------------------------------------------------------------

    def start_server(self):
        a = self.args
        log_dir = a.log_dir or tempfile.mkdtemp(prefix="gptoss-soak-")
        os.makedirs(log_dir, exist_ok=True)
        for attempt in range(3):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
            self.log_path = os.path.join(log_dir, f"server-{self.port}.stderr")
            cmd = [a.bin, "serve", "--model", a.model, "--host", "127.0.0.1",
                   "--port", str(self.port), *shlex.split(a.serve_flags)]
            self.server_cmd = cmd
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT)
            self.pid = self.proc.pid
            end = time.monotonic() + a.start_timeout
            while time.monotonic() < end:
                if self.proc.poll() is not None:
                    break
                try:
                    if simple_request(self.port, "GET", "/health", timeout=5)[0] == 200:
                        return
                except (Fail, OSError):
                    pass
                time.sleep(0.05)
            text = self.stderr()
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
                sys.exit(f"soak: the server was not ready after {a.start_timeout} s:\n"
                         f"{text[-3000:]}")
            # Another process may have taken the port between our probe and the server's bind.
            if "in use" not in text.lower() or attempt == 2:
                sys.exit(f"soak: the server exited with {self.proc.returncode} while starting:\n"
                         f"{text[-3000:]}")

    def stderr(self):
        if not self.log_path:
            return ""
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            return False
        try:
            with open(f"/proc/{self.pid}/status") as f:
                state = re.search(r"^State:\s+(\S)", f.read(), re.M).group(1)
            return state not in ("Z", "X")
        except OSError:
            return False

    def rss_kb(self):
        with open(f"/proc/{self.pid}/status") as f:
            return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1))

    def fds(self):
        """Open fds by what they are: socket, pipe, anon_inode:[eventfd], file."""
        out = {}
        d = f"/proc/{self.pid}/fd"
        for name in os.listdir(d):
            try:
                target = os.readlink(os.path.join(d, name))
            except OSError:
                continue  # closed between listdir and readlink
            if target.startswith(("socket:", "pipe:")):
                what = target.split(":", 1)[0]
            elif target.startswith("anon_inode:"):
                what = target
            else:
                what = "file"
            out[what] = out.get(what, 0) + 1
        return out

    def settled_fds(self, target=None, timeout=10.0):
        """The server's fd count once the connections this script closed are gone on its side
        too (it closes its end when it next polls them): the count must have stopped changing
        for FD_STABLE_S, or have come down to `target`."""
        end = time.monotonic() + timeout
        last = self.fds()
        since = time.monotonic()
        while time.monotonic() < end:
            n = sum(last.values())
            if target is not None and n <= target:
                break
            if time.monotonic() - since >= FD_STABLE_S and target is None:
                break
            time.sleep(0.1)
            cur = self.fds()
            if cur != last:
                last, since = cur, time.monotonic()
        return last

    def metrics(self):
        status, _, body = simple_request(self.port, "GET", "/metrics", timeout=30)
        if status != 200:
            raise Fail(f"/metrics answered {status}")
        text = body.decode()
        return parse_metrics(text), text

    def wait_idle(self, timeout):
        """Polls /metrics until nothing runs or waits and the KV pool is all free; returns the
        last metrics (and whether it got there)."""
        end = time.monotonic() + timeout
        while True:
            try:
                m, text = self.metrics()
            except (Fail, OSError) as e:
                m, text = None, str(e)
            idle = m is not None and m.get("vllm:num_requests_running") == 0 \
                and m.get("vllm:num_requests_waiting") == 0 \
                and m.get("vllm:kv_cache_usage_perc") == 0
            if idle or time.monotonic() >= end:
                return m, text, idle
            time.sleep(0.2)

    # ---- phases ---------------------------------------------------------------------------------

    def plan(self, n, seed, warmup):
        """(kind, request seed, forced variant) for n requests. The warm-up goes round the kinds
        and the bad variants so that the server sees each of them."""
        rng = random.Random(seed)
        kinds = [k for k in KINDS for _ in range(MIX[k])]
        out = []
        for i in range(n):
            if warmup:
                kind = KINDS[i % len(KINDS)]
                variant = (i // len(KINDS)) % len(self.bad) if kind == "bad" else None
                if kind == "disconnect":
                    variant = ("after_1_event", "after_2_events", "after_ms")[(i // len(KINDS)) % 3]
            else:
                kind, variant = rng.choice(kinds), None
            out.append((kind, rng.randrange(1 << 62), variant))
        return out

    def run_phase(self, phase, plan):
        lock = threading.Lock()
        it = iter(plan)
        phase.started = time.monotonic()

        def worker():
            client = Client(self)
            try:
                while not self.stop.is_set():
                    if time.monotonic() > self.deadline:
                        self.deadline_hit = True
                        self.stop.set()
                        break
                    with lock:
                        item = next(it, None)
                    if item is None:
                        break
                    kind, seed, variant = item
                    try:
                        outcome, var, details = client.run(kind, seed, variant)
                        phase.record(kind, outcome, var, details)
                        if kind == "complete" and outcome == "ok":
                            self.recent_latency.append(details["latency"])
                    except Rejected:
                        if self.args.allow_503:
                            phase.record(kind, "rejected_503", "503", {})
                        else:
                            phase.record(kind, "failed", None, {},
                                         "503 with Retry-After (--allow-503 not given)", seed)
                    except Fail as e:
                        phase.record(kind, "failed", None, {}, str(e), seed)
                    except (OSError, ValueError) as e:
                        phase.record(kind, "failed", None, {}, f"{type(e).__name__}: {e}", seed)
                    except Exception as e:  # noqa: BLE001 - a bug here must not lose the count
                        phase.record(kind, "failed", None, {},
                                     f"soak.py itself: {type(e).__name__}: {e}", seed)
            finally:
                client.close()

        threads = [threading.Thread(target=worker, daemon=True, name=f"client-{i}")
                   for i in range(self.args.clients)]
        for t in threads:
            t.start()
        last_note = time.monotonic()
        while any(t.is_alive() for t in threads):
            time.sleep(0.2)
            now = time.monotonic()
            if self.proc is not None and self.proc.poll() is not None and not self.stop.is_set():
                self.server_died = f"the server exited with {self.proc.returncode} during the " \
                                   f"{phase.name}"
                self.stop.set()
            if now > self.deadline + self.timeout + 10:
                break  # the requests still in flight are past their socket timeouts too
            if now - last_note >= 10:
                last_note = now
                print(f"soak: {phase.name}: {phase.done()}/{len(plan)} requests, "
                      f"{phase.failed()} failed, {now - phase.started:.0f} s",
                      file=sys.stderr, flush=True)
        phase.ended = time.monotonic()

    def run(self):
        a = self.args
        t_start = time.monotonic()
        self.deadline = t_start + a.max_seconds
        if a.bin:
            self.start_server()
        status, _, body = simple_request(self.port, "GET", "/v1/models")
        models = json.loads(body)["data"]
        self.model = models[0]["id"]
        max_len = int(models[0].get("max_model_len") or 1024)
        self.bad = bad_variants(self.model)
        # Long prompts fill 55-75 % of the context with room left for their 64 new tokens.
        sample = words(random.Random(0), 200)
        try:
            st, _, tb = simple_request(self.port, "POST", "/tokenize",
                                       json.dumps({"prompt": sample}).encode())
            per_word = json.loads(tb)["count"] / 200 if st == 200 else 1.5
        except (Fail, OSError, ValueError, KeyError):
            per_word = 1.5
        hi_tokens = min(int(0.75 * max_len), max_len - 64 - 24)
        lo_tokens = min(int(0.55 * max_len), hi_tokens)
        self.long_prompt_words = (max(1, int(lo_tokens / per_word)),
                                  max(1, int(hi_tokens / per_word)))
        self.cancel_max_tokens = max(16, min(200, max_len - 120))

        m0, text0 = self.metrics()
        warm = Phase("warm-up")
        n_warm = a.warmup if a.warmup is not None else 2 * a.clients
        n_warm = max(n_warm, len(KINDS) * len(self.bad))
        self.run_phase(warm, self.plan(n_warm, a.seed ^ 0x5EED, warmup=True))
        if self.alive():
            m1, text1, idle1 = self.wait_idle(a.settle_seconds)
            rss0 = self.rss_kb()
            m1, text1 = self.metrics()
            fds0 = self.settled_fds()  # once the metrics connection just used is gone again
        else:
            self.server_died = self.server_died or "the server is gone after the warm-up"
            self.stop.set()
            m1, text1, idle1, rss0, fds0 = m0, text0, False, None, None
        aborts1 = success_by_reason(text1).get("abort", 0)

        main = Phase("main phase")
        if not self.stop.is_set():
            self.run_phase(main, self.plan(a.requests, a.seed, warmup=False))
        else:
            main.started = main.ended = time.monotonic()
        alive = self.alive()
        m2, text2, idle2 = self.wait_idle(a.settle_seconds) if alive else (None, "", False)
        rss1 = self.rss_kb() if alive and rss0 else None
        fds1 = self.settled_fds(target=sum(fds0.values())) if alive and fds0 else None
        alive = alive and self.alive()

        exit_status = None
        sanitizer = []
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
                try:
                    exit_status = self.proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                    exit_status = "no exit within 60 s of SIGINT (killed)"
            else:
                exit_status = self.proc.returncode
        log = self.stderr()
        for mark in SANITIZER_MARKS:
            if mark in log:
                i = log.index(mark)
                sanitizer.append(log[max(0, i - 200):i + 1500])
        log_lines = [ln for ln in log.splitlines() if re.search(r"\b(ERROR|WARN|WARNING)\b", ln)
                     and "INFO" not in ln[:20]]

        kinds, good, statuses = main.summary()
        wkinds, wgood, _ = warm.summary()
        duration = main.ended - main.started
        total = main.done()
        report = {
            "config": {"clients": a.clients, "requests": a.requests, "warmup_requests": n_warm,
                       "seed": a.seed, "mix_percent": MIX, "serve_flags": a.serve_flags,
                       "server_cmd": getattr(self, "server_cmd", None), "server_pid": self.pid,
                       "port": self.port, "model": self.model, "max_model_len": max_len,
                       "long_prompt_words": self.long_prompt_words,
                       "tokens_per_word": round(per_word, 3),
                       "cancel_max_tokens": self.cancel_max_tokens,
                       "allow_503": a.allow_503, "rss_tolerance_pct": a.rss_tolerance,
                       "fd_slack": a.fd_slack, "server_log": self.log_path},
            "duration_s": round(duration, 2),
            "requests_total": total,
            "requests_per_s": round(total / duration, 1) if duration > 0 else None,
            "kinds": kinds,
            "good": good,
            "bad_statuses": statuses,
            "keepalive_reuses": self.keepalive_reuses,
            "preemptions": None if m2 is None else
            int(m2.get("vllm:num_preemptions_total", 0) - m1.get("vllm:num_preemptions_total", 0)),
            "preemptions_warmup": int(m1.get("vllm:num_preemptions_total", 0)
                                      - m0.get("vllm:num_preemptions_total", 0)),
            "aborted_by_server": None if m2 is None else
            int(success_by_reason(text2).get("abort", 0) - aborts1),
            "rss_baseline_mb": None if rss0 is None else round(rss0 / 1024, 1),
            "rss_after_mb": None if rss1 is None else round(rss1 / 1024, 1),
            "rss_change_pct": None if rss1 is None else round(100 * (rss1 - rss0) / rss0, 2),
            "fds_baseline": None if fds0 is None else sum(fds0.values()),
            "fds_after": None if fds1 is None else sum(fds1.values()),
            "fd_kinds_baseline": fds0, "fd_kinds_after": fds1,
            "idle_after": idle2,
            "kv_usage_after": None if m2 is None else m2.get("vllm:kv_cache_usage_perc"),
            "running_after": None if m2 is None else m2.get("vllm:num_requests_running"),
            "waiting_after": None if m2 is None else m2.get("vllm:num_requests_waiting"),
            "server_alive_after": alive,
            "server_exit_status": exit_status,
            "sanitizer_reports": sanitizer,
            "server_warn_error_lines": len(log_lines),
            "server_warn_error_examples": log_lines[:10],
            "warmup": {"duration_s": round(warm.ended - warm.started, 2), "kinds": wkinds,
                       "good": wgood, "idle_after": idle1},
            "failures": (warm.failures + main.failures)[:100],
            "failures_total": len(warm.failures) + len(main.failures),
        }

        reasons = []
        if self.server_died:
            reasons.append(self.server_died)
        if self.deadline_hit:
            reasons.append(f"the run passed --max-seconds {a.max_seconds}: "
                           f"{total} of {a.requests} main-phase requests were done")
        elif not self.server_died and total != a.requests:
            reasons.append(f"only {total} of {a.requests} main-phase requests finished")
        gfail = good["failed"] + wgood["failed"]
        if gfail:
            reasons.append(f"{gfail} good requests (stream, complete, long) failed")
        bfail = kinds["bad"]["failed"] + wkinds["bad"]["failed"]
        if bfail:
            reasons.append(f"{bfail} bad requests did not get a 4xx with an OpenAI error body")
        for k in ("disconnect", "cancel"):
            n = kinds[k]["failed"] + wkinds[k]["failed"]
            if n:
                reasons.append(f"{n} {k} requests failed before the client let go")
        if not alive:
            reasons.append("the server is not alive after the main phase")
        if not idle1 and not self.server_died:
            reasons.append(f"the server did not go idle within {a.settle_seconds} s of the warm-up")
        if alive and not idle2:
            reasons.append("the server did not go idle within "
                           f"{a.settle_seconds} s: running {report['running_after']}, waiting "
                           f"{report['waiting_after']}, KV usage {report['kv_usage_after']}")
        if rss1 is not None and report["rss_change_pct"] > a.rss_tolerance:
            reasons.append(f"RSS grew {report['rss_change_pct']} % ({report['rss_baseline_mb']} "
                           f"→ {report['rss_after_mb']} MB), over --rss-tolerance "
                           f"{a.rss_tolerance}")
        if fds1 is not None and report["fds_after"] > report["fds_baseline"] + a.fd_slack:
            reasons.append(f"open fds {report['fds_baseline']} → {report['fds_after']} "
                           f"(slack {a.fd_slack}): {fds0} → {fds1}")
        if self.proc is not None and exit_status != 0:
            when = "after SIGINT" if alive else "(it ended before the SIGINT)"
            reasons.append(f"the server's exit status {when}: {exit_status}")
        if sanitizer:
            reasons.append(f"{len(sanitizer)} sanitizer report(s) in the server's stderr "
                           f"({self.log_path})")
        report["failed_criteria"] = reasons
        report["ok"] = not reasons
        return report


def print_report(r, out=sys.stdout):
    def f(x, unit=""):
        return "-" if x is None else f"{x}{unit}"
    p = lambda *a: print(*a, file=out)  # noqa: E731
    c = r["config"]
    p(f"gptoss serve soak: {c['clients']} clients, {r['requests_total']} requests "
      f"(+{c['warmup_requests']} warm-up), seed {c['seed']}, model {c['model']} "
      f"(max_model_len {c['max_model_len']})")
    if c["serve_flags"]:
        p(f"  serve flags: {c['serve_flags']}")
    p(f"  duration {r['duration_s']} s, {f(r['requests_per_s'])} requests/s, "
      f"{r['keepalive_reuses']} requests on a reused keep-alive connection (with the warm-up)")
    p("")
    p(f"  {'kind':<11}{'issued':>7}{'ok':>7}{'failed':>7}{'4xx':>6}{'503':>5}"
      f"{'p50 ms':>9}{'p99 ms':>9}{'ttft p50':>10}{'ttft p99':>10}")
    for kind, k in r["kinds"].items():
        p(f"  {kind:<11}{k['issued']:>7}{k['ok']:>7}{k['failed']:>7}{k['expected_4xx']:>6}"
          f"{k['rejected_503']:>5}{f(k.get('latency_p50_ms')):>9}{f(k.get('latency_p99_ms')):>9}"
          f"{f(k.get('ttft_p50_ms')):>10}{f(k.get('ttft_p99_ms')):>10}")
    g = r["good"]
    p(f"  {'good (a,b,f)':<11}{'':>7}{g['completed']:>7}{g['failed']:>7}{'':>6}"
      f"{g['rejected_503']:>5}{f(g['latency_p50_ms']):>9}{f(g['latency_p99_ms']):>9}"
      f"{f(g['ttft_p50_ms']):>10}{f(g['ttft_p99_ms']):>10}")
    p("")
    for kind in ("disconnect", "cancel"):
        p(f"  {kind}: " + ", ".join(f"{v} {n}" for v, n in r["kinds"][kind]["variants"].items()))
    p("  bad requests: " + ", ".join(f"{v} {n}" for v, n in r["kinds"]["bad"]["variants"].items()))
    p("  bad statuses: " + ", ".join(f"{s}: {n}" for s, n in r["bad_statuses"].items()))
    p(f"  preemptions {f(r['preemptions'])} (warm-up {r['preemptions_warmup']}), "
      f"aborted by the server {f(r['aborted_by_server'])}")
    p(f"  RSS {f(r['rss_baseline_mb'])} MB → {f(r['rss_after_mb'])} MB "
      f"({f(r['rss_change_pct'])} %, tolerance {c['rss_tolerance_pct']} %)")
    p(f"  open fds {f(r['fds_baseline'])} → {f(r['fds_after'])} (slack {c['fd_slack']})")
    p(f"  after: KV usage {f(r['kv_usage_after'])}, running {f(r['running_after'])}, waiting "
      f"{f(r['waiting_after'])}; server alive {r['server_alive_after']}, exit status "
      f"{f(r['server_exit_status'])}, sanitizer reports {len(r['sanitizer_reports'])}, "
      f"WARN/ERROR log lines {r['server_warn_error_lines']}")
    if r["failures"]:
        p("")
        p(f"  failures ({r['failures_total']}, first {len(r['failures'])}):")
        for x in r["failures"][:20]:
            p(f"    [{x['phase']} +{x['t']} s] {x['kind']}: {x['reason']}")
    p("")
    if r["ok"]:
        p("PASS")
    else:
        for reason in r["failed_criteria"]:
            p(f"FAIL: {reason}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", help="gptoss binary: start `gptoss serve` on 127.0.0.1")
    ap.add_argument("--model", help="checkpoint directory for --bin")
    ap.add_argument("--serve-flags", default="", help="more flags for `gptoss serve`")
    ap.add_argument("--port", type=int, help="attach to a server on 127.0.0.1:PORT ...")
    ap.add_argument("--pid", type=int, help="... whose process id is PID")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--requests", type=int, default=3000, help="main-phase requests")
    ap.add_argument("--warmup", type=int, help="warm-up requests (default 2 x clients)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--allow-503", action="store_true",
                    help="a 503 with Retry-After is not a failure")
    ap.add_argument("--rss-tolerance", type=float, default=5.0,
                    help="allowed RSS growth over the baseline, percent")
    # The fd count is read once the server has closed the connections this script closed, so
    # the slack covers only a connection that another client (a browser, a scraper) opens
    # while the count is read. A server this script started has none: measured 0.
    ap.add_argument("--fd-slack", type=int, default=0,
                    help="allowed open fds over the baseline")
    ap.add_argument("--timeout", type=float, default=120, help="per-socket timeout, s")
    ap.add_argument("--max-seconds", type=float, default=900, help="deadline for the whole run")
    ap.add_argument("--settle-seconds", type=float, default=30,
                    help="how long the server may take to go idle after a phase")
    ap.add_argument("--start-timeout", type=float, default=120)
    ap.add_argument("--log-dir", help="where the started server's stderr goes")
    ap.add_argument("--json", help="write the report as JSON to this file")
    a = ap.parse_args(argv)
    if a.bin and not a.model:
        ap.error("--bin needs --model")
    if not a.bin and (a.port is None or a.pid is None):
        ap.error("give --bin and --model, or --port and --pid")
    if a.clients < 1 or a.requests < 1:
        ap.error("--clients and --requests must be positive")

    soak = Soak(a)
    try:
        report = soak.run()
    except BaseException:
        if soak.proc is not None and soak.proc.poll() is None:
            soak.proc.kill()
            soak.proc.wait()
        raise
    print_report(report)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(report, fh, indent=1)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

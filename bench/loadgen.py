#!/usr/bin/env python3
"""Closed-loop load generator for any OpenAI-compatible streaming server.

Works against `gptoss serve`, vLLM, llama.cpp's llama-server, SGLang, or anything else that speaks
POST /v1/chat/completions (or /v1/completions) with ``stream: true`` server-sent events. Python
3.11+ standard library only (asyncio streams, its own small HTTP/1.1 client), so it runs anywhere
without installing anything.

For each concurrency level C of a sweep it keeps exactly C streaming requests in flight until the
level's request count is done, then reports per level: requests ok / failed, time to first token
(TTFT) p50/p99, inter-token latency (ITL) p50/p99, end-to-end latency p50, aggregate output
tokens/s (all output tokens of the level / the level's wall time), the median per-stream decode
rate, and requests/s. A markdown table goes to stdout (progress to stderr); --json writes
everything, per-request records included.

Definitions
  TTFT       request sent -> first chunk that carries text. Reasoning deltas count as text
             (``delta.reasoning_content`` / ``delta.reasoning``, as vLLM and llama.cpp send them),
             since gpt-oss reasons before it answers; so do ``delta.content``, tool-call argument
             deltas, and ``choices[].text`` for /v1/completions. A leading role-only chunk does not.
  ITL        gaps between successive text-bearing chunks, pooled over all requests of the level.
             A server that packs several tokens into one chunk shows longer, fewer gaps.
  output     ``usage.completion_tokens`` when the server reports it (stream_options.include_usage
  tokens     is requested), else the number of text-bearing chunks.
  stream     per request (output tokens - 1) / (e2e - TTFT): the decode rate one client sees
  tok/s      (= 1 / TPOT); the table shows the median over the level's requests.
  out tok/s  sum of output tokens of the level's successful requests / wall time of the level.

Prompts are built from a fixed word list with a seeded generator, one different prompt per request
(so a prefix cache cannot make the run trivial); --shared-prefix N makes the first N words the same
for every request, to measure prefix caching on purpose. Common English words are about one token
each, so --prompt-tokens is approximate; the table shows the prompt tokens the server reported.

Examples
  # our server (gptoss.c)
  build/gptoss serve --model /path/to/gpt-oss-20b --port 8000 &
  python3 bench/loadgen.py --url http://127.0.0.1:8000/v1 --concurrency 1,2,4,8,16 \\
      --max-tokens 128 --json /tmp/gptoss-load.json

  # vLLM (ignore_eos is a vLLM extension: every request then produces exactly --max-tokens)
  vllm serve openai/gpt-oss-20b --port 8001 &
  python3 bench/loadgen.py --url http://127.0.0.1:8001/v1 --concurrency 1,2,4,8,16,32,64 \\
      --max-tokens 128 --ignore-eos --json /tmp/vllm-load.json

  # llama.cpp server, legacy completions endpoint, 1000-word prompts sharing a 900-word prefix
  python3 bench/loadgen.py --url http://127.0.0.1:8080/v1 --endpoint completions \\
      --prompt-tokens 1000 --shared-prefix 900

  # self-test against the fake server (20 ms per token, 16 tokens)
  python3 bench/fake_openai_server.py --port 8765 --delay-ms 20 --tokens 16 &
  python3 bench/loadgen.py --url http://127.0.0.1:8765/v1 --concurrency 1,4,16

The client is one Python thread: about 50-60 us of CPU per streamed chunk, so roughly 10-15k
chunks/s before it becomes the bottleneck; it prints a warning when a level used over 70% of a
core (client_cpu_frac in --json).

Ctrl-C stops the sweep: the requests in flight are abandoned, and the table (and --json) covers
what completed, the interrupted level marked. A second Ctrl-C quits at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import signal
import ssl
import statistics
import sys
import time
import urllib.parse

# ----------------------------------------------------------------------------------------------
# Prompts

WORDS = (
    "the of and to in is was for on that with as by at from his her an be this had not are but "
    "which have one were they you all their has been would there she more when will who no if out "
    "so said what up its about into than them can only other new some could time these two may "
    "first then do any like my now over such our man me even most made after also did many before "
    "must through back years where much your way well down should because each just those people "
    "how too little state good very make world still own see men work long get here between both "
    "life being under never day same another know while last might us great old year off come "
    "since against go came right used take three house use during without again place around "
    "however home small found thought went say part once general high upon school every don does "
    "got left number course war until always away something fact though water less public put "
    "think almost hand enough far took head yet government system better set told nothing night "
    "end why called didn eyes find going look asked later knew point next city business give group "
    "toward young let room president side social present given several order national possible "
    "rather second face per among form important often things looked early white case john become "
    "large big need four within felt along children saw best church ever least power development "
    "light thing seemed family interest want members mind country area others done turned although "
    "open problem sense river garden music winter window bridge market story paper letter"
).split()


class PromptMaker:
    """Deterministic prompts: a shared prefix (same for all requests) + a per-request part."""

    def __init__(self, seed: int, words: int, shared_prefix: int):
        self.seed = seed
        self.shared = min(max(shared_prefix, 0), max(words, 0))
        self.unique = max(words - self.shared, 0)
        rng = random.Random(f"{seed}/shared")
        self.prefix = [rng.choice(WORDS) for _ in range(self.shared)]

    def make(self, index: int) -> str:
        rng = random.Random(f"{self.seed}/request/{index}")
        words = self.prefix + [rng.choice(WORDS) for _ in range(self.unique)]
        # Long runs of words without punctuation are unusual text; break them into "sentences".
        out = []
        for i, w in enumerate(words):
            out.append(w)
            if i % 12 == 11:
                out[-1] += "."
        body = " ".join(out)
        return (body + "\n\nWrite a long story that uses the words above.").strip()


# ----------------------------------------------------------------------------------------------
# A small HTTP/1.1 client on asyncio streams (one connection per request, Connection: close)


class HTTPError(Exception):
    pass


class Endpoint:
    def __init__(self, base_url: str, api_key: str | None, insecure: bool):
        u = urllib.parse.urlsplit(base_url)
        if u.scheme not in ("http", "https"):
            raise ValueError(f"--url must be http:// or https://, got {base_url!r}")
        self.scheme = u.scheme
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.base_path = u.path.rstrip("/")
        self.api_key = api_key
        self.ssl = None
        if u.scheme == "https":
            self.ssl = ssl.create_default_context()
            if insecure:
                self.ssl.check_hostname = False
                self.ssl.verify_mode = ssl.CERT_NONE
        default_port = (u.scheme == "https" and self.port == 443) or (u.scheme == "http" and self.port == 80)
        h = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = h if default_port else f"{h}:{self.port}"

    async def open(self, method: str, path: str, body: bytes | None, accept: str):
        """Send a request; return (reader, writer, status, reason, headers)."""
        reader, writer = await asyncio.open_connection(
            self.host, self.port, ssl=self.ssl, limit=1 << 22,
            server_hostname=self.host if self.ssl else None)
        try:
            lines = [f"{method} {self.base_path}{path} HTTP/1.1",
                     f"Host: {self.host_header}",
                     "User-Agent: gptoss-loadgen/1",
                     f"Accept: {accept}",
                     "Connection: close"]
            if self.api_key:
                lines.append(f"Authorization: Bearer {self.api_key}")
            if body is not None:
                lines.append("Content-Type: application/json")
                lines.append(f"Content-Length: {len(body)}")
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))
            await writer.drain()
            while True:
                status_line = await reader.readline()
                if not status_line:
                    raise HTTPError("connection closed before the response")
                parts = status_line.decode("latin-1").rstrip("\r\n").split(" ", 2)
                if len(parts) < 2 or not parts[0].startswith("HTTP/"):
                    raise HTTPError(f"bad status line {status_line[:100]!r}")
                status = int(parts[1])
                reason = parts[2] if len(parts) > 2 else ""
                headers: dict[str, str] = {}
                while True:
                    line = await reader.readline()
                    if not line:
                        raise HTTPError("connection closed inside the response headers")
                    if line in (b"\r\n", b"\n"):
                        break
                    k, _, v = line.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                if status != 100:
                    return reader, writer, status, reason, headers
        except BaseException:
            writer.close()
            raise


async def iter_body(reader: asyncio.StreamReader, headers: dict[str, str]):
    """Yield the raw body bytes as they arrive (chunked, Content-Length or read-to-close)."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            line = await reader.readline()
            if not line:
                raise HTTPError("connection closed inside a chunked body")
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while True:  # trailers
                    line = await reader.readline()
                    if line in (b"\r\n", b"\n", b""):
                        return
            data = await reader.readexactly(size)
            await reader.readline()  # the CRLF after the chunk
            yield data
    elif "content-length" in headers:
        left = int(headers["content-length"])
        while left > 0:
            data = await reader.read(min(left, 1 << 16))
            if not data:
                raise HTTPError("connection closed before Content-Length bytes")
            left -= len(data)
            yield data
    else:
        while True:
            data = await reader.read(1 << 16)
            if not data:
                return
            yield data


async def read_all(reader, headers, limit=1 << 20) -> bytes:
    buf = bytearray()
    async for data in iter_body(reader, headers):
        buf += data
        if len(buf) > limit:
            break
    return bytes(buf)


async def get_json(ep: Endpoint, path: str, timeout: float):
    async def go():
        reader, writer, status, reason, headers = await ep.open("GET", path, None, "application/json")
        try:
            body = await read_all(reader, headers)
        finally:
            writer.close()
        if status != 200:
            raise HTTPError(f"GET {path}: HTTP {status} {reason}: {body[:300]!r}")
        return json.loads(body)
    return await asyncio.wait_for(go(), timeout)


# ----------------------------------------------------------------------------------------------
# One streaming request


def chunk_text(obj: dict) -> str:
    """The text a chunk carries: content, reasoning, tool-call arguments, or completions text."""
    out = []
    for choice in obj.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        text = choice.get("text")
        if isinstance(text, str):
            out.append(text)
        delta = choice.get("delta") or choice.get("message")
        if isinstance(delta, dict):
            for key in ("reasoning_content", "reasoning", "content"):
                v = delta.get(key)
                if isinstance(v, str):
                    out.append(v)
            for tc in delta.get("tool_calls") or ():
                fn = tc.get("function") if isinstance(tc, dict) else None
                if isinstance(fn, dict):
                    for key in ("name", "arguments"):
                        v = fn.get(key)
                        if isinstance(v, str):
                            out.append(v)
    return "".join(out)


class Result:
    __slots__ = ("index", "level", "ok", "status", "error", "start", "ttft", "e2e", "itls",
                 "chunks", "output_tokens", "tokens_from_usage", "prompt_tokens", "finish_reason",
                 "streamed")

    def __init__(self, index: int, level: int):
        self.index = index
        self.level = level
        self.ok = False
        self.status = None
        self.error = None
        self.start = 0.0
        self.ttft = None
        self.e2e = None
        self.itls: list[float] = []
        self.chunks = 0
        self.output_tokens = 0
        self.tokens_from_usage = False
        self.prompt_tokens = None
        self.finish_reason = None
        self.streamed = True

    def stream_tps(self):
        if (not self.ok or not self.streamed or self.ttft is None or self.e2e is None
                or self.output_tokens < 2):
            return None
        dt = self.e2e - self.ttft
        return (self.output_tokens - 1) / dt if dt > 0 else None

    def to_json(self, with_itls: bool) -> dict:
        d = {k: getattr(self, k) for k in self.__slots__ if k != "itls"}
        d["stream_tok_s"] = self.stream_tps()
        if with_itls:
            d["itls"] = self.itls
        return d


class StreamState:
    def __init__(self, res: Result):
        self.res = res
        self.last_text_t = None
        self.done = False

    def on_event(self, data: str, t: float):
        res = self.res
        if data.strip() == "[DONE]":
            self.done = True
            return
        try:
            obj = json.loads(data)
        except ValueError:
            raise HTTPError(f"bad SSE data: {data[:200]!r}")
        if not isinstance(obj, dict):
            return
        if obj.get("error"):
            raise HTTPError(f"error event: {json.dumps(obj['error'])[:300]}")
        usage = obj.get("usage")
        if isinstance(usage, dict):
            if isinstance(usage.get("completion_tokens"), int):
                res.output_tokens = usage["completion_tokens"]
                res.tokens_from_usage = True
            if isinstance(usage.get("prompt_tokens"), int):
                res.prompt_tokens = usage["prompt_tokens"]
        for choice in obj.get("choices") or ():
            if isinstance(choice, dict) and choice.get("finish_reason"):
                res.finish_reason = choice["finish_reason"]
        if chunk_text(obj):
            res.chunks += 1
            if self.last_text_t is None:
                res.ttft = t - res.start
            else:
                res.itls.append(t - self.last_text_t)
            self.last_text_t = t


async def stream_request(ep: Endpoint, path: str, payload: dict, res: Result):
    body = json.dumps(payload).encode()
    res.start = time.perf_counter()
    reader, writer, status, reason, headers = await ep.open("POST", path, body, "text/event-stream")
    try:
        res.status = status
        if status != 200:
            text = await read_all(reader, headers, limit=4096)
            raise HTTPError(f"HTTP {status} {reason}: {text[:300].decode('utf-8', 'replace')}")
        state = StreamState(res)
        ctype = headers.get("content-type", "")
        if "text/event-stream" not in ctype and "application/json" in ctype:
            # The server ignored stream=true and answered with one JSON object.
            res.streamed = False
            state.on_event((await read_all(reader, headers, limit=1 << 26)).decode("utf-8", "replace"),
                           time.perf_counter())
            state.done = True
        else:
            buf = b""
            data_lines: list[str] = []
            async for data in iter_body(reader, headers):
                t = time.perf_counter()
                buf += data
                while not state.done:
                    nl = buf.find(b"\n")
                    if nl < 0:
                        break
                    line = buf[:nl].rstrip(b"\r").decode("utf-8", "replace")
                    buf = buf[nl + 1:]
                    if not line:
                        if data_lines:
                            state.on_event("\n".join(data_lines), t)
                            data_lines = []
                    elif line.startswith("data:"):
                        v = line[5:]
                        data_lines.append(v[1:] if v.startswith(" ") else v)
                    # "event:", "id:", "retry:" and ":" comments are ignored
                if state.done:
                    break
            if not state.done:
                tail = buf.rstrip(b"\r\n").decode("utf-8", "replace")
                if tail.startswith("data:"):
                    data_lines.append(tail[5:].lstrip(" "))
                if data_lines:
                    state.on_event("\n".join(data_lines), time.perf_counter())
        res.e2e = time.perf_counter() - res.start
        if not res.tokens_from_usage:
            res.output_tokens = res.chunks
        if res.ttft is None:
            if res.output_tokens == 0:
                raise HTTPError("stream ended without any text")
            res.ttft = res.e2e  # e.g. a non-streamed JSON answer
        res.ok = True
    finally:
        writer.close()


# ----------------------------------------------------------------------------------------------
# Statistics


def pct(values, p):
    """Percentile with linear interpolation (numpy's default); None for no values."""
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    k = (len(v) - 1) * p / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def summarize(level: int, results: list[Result], wall: float, interrupted: bool) -> dict:
    ok = [r for r in results if r.ok]
    failed = [r for r in results if not r.ok]
    itls = [x for r in ok for x in r.itls]
    out_tokens = sum(r.output_tokens for r in ok)
    errors: dict[str, int] = {}
    for r in failed:
        key = (r.error or "?")[:200]
        errors[key] = errors.get(key, 0) + 1
    prompt = [r.prompt_tokens for r in ok if r.prompt_tokens is not None]
    tpots = [(r.e2e - r.ttft) / (r.output_tokens - 1) for r in ok if r.streamed and r.output_tokens > 1]
    return {
        "concurrency": level,
        "interrupted": interrupted,
        "requests_ok": len(ok),
        "requests_failed": len(failed),
        "wall_s": wall,
        "ttft_p50_s": pct([r.ttft for r in ok], 50),
        "ttft_p99_s": pct([r.ttft for r in ok], 99),
        "itl_p50_s": pct(itls, 50),
        "itl_p99_s": pct(itls, 99),
        "tpot_p50_s": pct(tpots, 50),
        "e2e_p50_s": pct([r.e2e for r in ok], 50),
        "e2e_p99_s": pct([r.e2e for r in ok], 99),
        "output_tokens": out_tokens,
        "output_tokens_per_request": out_tokens / len(ok) if ok else None,
        "output_tokens_from_usage": all(r.tokens_from_usage for r in ok) if ok else None,
        "prompt_tokens_mean": statistics.fmean(prompt) if prompt else None,
        "output_tok_s": out_tokens / wall if wall > 0 else None,
        "stream_tok_s_p50": pct([r.stream_tps() for r in ok], 50),
        "requests_per_s": len(ok) / wall if wall > 0 else None,
        "errors": errors,
    }


def fmt(v, scale=1.0, digits=1):
    return "-" if v is None else f"{v * scale:.{digits}f}"


def table(levels: list[dict]) -> str:
    head = ("| conc | ok | fail | prompt tok | out tok/req | TTFT p50 ms | TTFT p99 ms | ITL p50 ms "
            "| ITL p99 ms | e2e p50 s | out tok/s | stream tok/s p50 | req/s |")
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for s in levels:
        conc = f"{s['concurrency']}" + (" (interrupted)" if s["interrupted"] else "")
        rows.append("| " + " | ".join([
            conc, str(s["requests_ok"]), str(s["requests_failed"]),
            fmt(s["prompt_tokens_mean"], digits=0),
            fmt(s["output_tokens_per_request"], digits=1),
            fmt(s["ttft_p50_s"], 1e3), fmt(s["ttft_p99_s"], 1e3),
            fmt(s["itl_p50_s"], 1e3, 2), fmt(s["itl_p99_s"], 1e3, 2),
            fmt(s["e2e_p50_s"], 1, 3), fmt(s["output_tok_s"]), fmt(s["stream_tok_s_p50"]),
            fmt(s["requests_per_s"], 1, 2),
        ]) + " |")
    return "\n".join(rows)


# ----------------------------------------------------------------------------------------------
# The sweep


class LoadGen:
    def __init__(self, args, ep: Endpoint, model: str):
        self.args = args
        self.ep = ep
        self.model = model
        self.prompts = PromptMaker(args.seed, args.prompt_tokens, args.shared_prefix)
        self.path = "/chat/completions" if args.endpoint == "chat" else "/completions"
        self.next_index = 0  # global, so that no two requests of the run share a prompt
        self.stopping = False
        self.tasks: list[asyncio.Task] = []
        self.sigints = 0

    def payload(self, index: int) -> dict:
        a = self.args
        prompt = self.prompts.make(index)
        p: dict = {"model": self.model, "max_tokens": a.max_tokens, "temperature": a.temperature,
                   "stream": True}
        if a.endpoint == "chat":
            p["messages"] = [{"role": "user", "content": prompt}]
        else:
            p["prompt"] = prompt
        if not a.no_usage:
            p["stream_options"] = {"include_usage": True}
        if a.ignore_eos:
            p["ignore_eos"] = True
        if a.seed is not None and a.send_seed:
            p["seed"] = a.seed + index
        if a.extra_body:
            p.update(a.extra_body)
        return p

    async def one(self, level: int) -> Result:
        index = self.next_index
        self.next_index += 1
        res = Result(index, level)
        try:
            await asyncio.wait_for(stream_request(self.ep, self.path, self.payload(index), res),
                                   self.args.timeout)
        except asyncio.TimeoutError:
            res.error = f"timeout after {self.args.timeout:g} s"
        except (OSError, HTTPError, asyncio.IncompleteReadError, ValueError, UnicodeError) as e:
            res.error = f"{type(e).__name__}: {e}" if not isinstance(e, HTTPError) else str(e)
        if not res.ok and res.e2e is None and res.start:
            res.e2e = time.perf_counter() - res.start
        return res

    async def run_level(self, level: int, n_requests: int):
        results: list[Result] = []
        issued = 0

        async def worker():
            nonlocal issued
            while issued < n_requests and not self.stopping:
                issued += 1
                results.append(await self.one(level))

        t0 = time.perf_counter()
        cpu0 = time.process_time()
        self.tasks = [asyncio.create_task(worker()) for _ in range(level)]
        try:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        except asyncio.CancelledError:  # Ctrl-C seen by asyncio.run itself (no signal handler)
            self.stopping = True
            for t in self.tasks:
                t.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
        wall = time.perf_counter() - t0
        self.tasks = []
        s = summarize(level, results, wall, self.stopping)
        s["client_cpu_frac"] = (time.process_time() - cpu0) / wall if wall > 0 else None
        return s, results

    def on_sigint(self):
        self.sigints += 1
        if self.sigints > 1:
            print("\ninterrupted twice: quitting", file=sys.stderr)
            raise SystemExit(130)
        print("\ninterrupted: abandoning the requests in flight (Ctrl-C again to quit now)",
              file=sys.stderr)
        self.stopping = True
        for t in self.tasks:
            t.cancel()

    async def run(self):
        a = self.args
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, self.on_sigint)
        except (NotImplementedError, RuntimeError):
            pass  # e.g. Windows: asyncio.run turns the first Ctrl-C into a cancellation
        summaries, all_results = [], []
        try:
            for i in range(a.warmup):
                if self.stopping:
                    break
                r = await self.one(0)
                msg = (f"ok, {r.output_tokens} tokens in {r.e2e:.2f} s" if r.ok else f"FAILED: {r.error}")
                print(f"warmup {i + 1}/{a.warmup}: {msg}", file=sys.stderr)
            for level in a.concurrency:
                if self.stopping:
                    break
                n = a.requests_per_level or max(2 * level, 8)
                print(f"concurrency {level}: {n} requests ...", file=sys.stderr, flush=True)
                s, results = await self.run_level(level, n)
                summaries.append(s)
                all_results.extend(results)
                print(f"  ok {s['requests_ok']} fail {s['requests_failed']}  wall {s['wall_s']:.2f} s  "
                      f"out {fmt(s['output_tok_s'])} tok/s  TTFT p50 {fmt(s['ttft_p50_s'], 1e3)} ms  "
                      f"ITL p50 {fmt(s['itl_p50_s'], 1e3, 2)} ms", file=sys.stderr, flush=True)
                if (s["client_cpu_frac"] or 0) > 0.7:
                    print(f"  WARNING: this load generator used {s['client_cpu_frac']:.0%} of a core: "
                          "it may be the bottleneck (latencies then include its own queueing); "
                          "run several instances with lower concurrency instead", file=sys.stderr)
                errs = sorted(s["errors"].items(), key=lambda kv: -kv[1])
                for err, count in errs[:5]:
                    print(f"  {count}x {err}", file=sys.stderr)
                if len(errs) > 5:
                    print(f"  ... and {len(errs) - 5} other kinds of error", file=sys.stderr)
        except asyncio.CancelledError:
            self.stopping = True
        finally:
            try:
                loop.remove_signal_handler(signal.SIGINT)
            except (NotImplementedError, RuntimeError):
                pass
        return summaries, all_results


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description="Closed-loop streaming load generator for OpenAI-compatible servers.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8000/v1", help="base URL, including /v1")
    ap.add_argument("--model", help="model id (default: the first id of GET /models)")
    ap.add_argument("--api-key", help="sent as 'Authorization: Bearer KEY'")
    ap.add_argument("--endpoint", choices=("chat", "completions"), default="chat")
    ap.add_argument("--concurrency", default="1,2,4,8,16,32,64",
                    help="comma-separated concurrency levels of the sweep")
    ap.add_argument("--requests-per-level", type=int, default=0,
                    help="requests per level (default: max(2 x concurrency, 8))")
    ap.add_argument("--prompt-tokens", type=int, default=128,
                    help="approximate prompt length (words of a common-word list)")
    ap.add_argument("--shared-prefix", type=int, default=0,
                    help="the first N prompt words are the same for every request")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--temperature", type=float, default=0.0)
    ap.add_argument("--ignore-eos", action="store_true",
                    help='send "ignore_eos": true (vLLM extension) so every request runs to --max-tokens')
    ap.add_argument("--no-usage", action="store_true",
                    help="do not send stream_options.include_usage (for servers that reject it)")
    ap.add_argument("--extra-body", type=json.loads, default=None,
                    help='JSON object merged into every request, e.g. \'{"reasoning_effort": "low"}\'')
    ap.add_argument("--timeout", type=float, default=300.0, help="per-request timeout, seconds")
    ap.add_argument("--warmup", type=int, default=1, help="sequential requests before the sweep, not counted")
    ap.add_argument("--seed", type=int, default=0, help="seed of the prompt generator")
    ap.add_argument("--send-seed", action="store_true", help='also send "seed": SEED + request index')
    ap.add_argument("--json", metavar="FILE", help="write the configuration, summaries and per-request records")
    ap.add_argument("--json-itls", action="store_true", help="include every inter-token gap in --json")
    ap.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    a = ap.parse_args(argv)
    try:
        a.concurrency = [int(x) for x in a.concurrency.split(",") if x.strip()]
    except ValueError:
        ap.error("--concurrency must be a comma-separated list of integers")
    if not a.concurrency or min(a.concurrency) < 1:
        ap.error("--concurrency levels must be >= 1")
    if a.extra_body is not None and not isinstance(a.extra_body, dict):
        ap.error("--extra-body must be a JSON object")
    return a


async def amain(args) -> int:
    try:
        ep = Endpoint(args.url, args.api_key, args.insecure)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    model = args.model
    if not model:
        try:
            models = await get_json(ep, "/models", min(args.timeout, 30.0))
            model = models["data"][0]["id"]
        except Exception as e:  # noqa: BLE001 - any failure here means "say so and stop"
            print(f"could not get the model id from {args.url}/models ({e}); pass --model", file=sys.stderr)
            return 2
    print(f"{args.url} model={model} endpoint={args.endpoint} prompt~{args.prompt_tokens} words "
          f"(shared prefix {args.shared_prefix}) max_tokens={args.max_tokens}"
          f"{' ignore_eos' if args.ignore_eos else ''}", file=sys.stderr)
    gen = LoadGen(args, ep, model)
    t0 = time.time()
    summaries, results = await gen.run()
    print()
    print(f"model `{model}`, {args.endpoint} endpoint, prompt ~{args.prompt_tokens} words "
          f"(shared prefix {args.shared_prefix}), max_tokens {args.max_tokens}"
          f"{', ignore_eos' if args.ignore_eos else ''}, temperature {args.temperature:g}")
    print()
    print(table(summaries))
    if summaries and not all(s["output_tokens_from_usage"] in (True, None) for s in summaries):
        print("\n(output tokens counted as text-bearing chunks: the server reported no usage)")
    if args.json:
        cfg = {k: v for k, v in vars(args).items()}
        cfg["model"] = model
        doc = {"tool": "gptoss bench/loadgen.py", "started_unix": t0, "config": cfg,
               "interrupted": gen.stopping, "levels": summaries,
               "requests": [r.to_json(args.json_itls) for r in results]}
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
        print(f"\nwrote {args.json}", file=sys.stderr)
    failed = sum(s["requests_failed"] for s in summaries)
    return 130 if gen.stopping else (1 if failed and not any(s["requests_ok"] for s in summaries) else 0)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(amain(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

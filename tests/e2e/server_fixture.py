"""Helpers for the `gptoss serve` end-to-end tests: start and stop real server processes, talk
raw HTTP to them, and read their Prometheus metrics.

A server's stderr goes to a file (never a pipe, which a chatty server could fill and block on),
so that a test can show it when something fails and the teardown can look for sanitizer
reports. Stopping a server is part of the contract under test: SIGINT (or SIGTERM) must end it
with exit status 0, and under AddressSanitizer without an "ERROR: AddressSanitizer" or
LeakSanitizer report.
"""
import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time

# Generous: a server on the tiny checkpoint is ready in ~1 s in a release build, several
# seconds under AddressSanitizer on a loaded CI machine.
START_TIMEOUT_S = 120
STOP_TIMEOUT_S = 60

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "LeakSanitizer",
                   "runtime error:", "ERROR: ThreadSanitizer", "WARNING: ThreadSanitizer")


def free_port():
    """A TCP port nobody listens on right now (bind to port 0, read the port, let it go)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def size_bytes(text):
    """"64M" → 67108864, as --kv-cache-memory reads it."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1].upper()] if text[-1].upper() in units else int(text)


def with_suite_flags(flags):
    """flags plus GPTOSS_TEST_SERVE_FLAGS (the serving suite runs again with
    "--tensor-parallel-size 2"). Each rank holds 1/N of the KV cache in --kv-cache-memory, so
    with N ranks the budget is divided by N: the servers keep the token capacity the tests
    were written for (preemption, full caches)."""
    extra = os.environ.get("GPTOSS_TEST_SERVE_FLAGS", "").split()
    if not extra:
        return flags
    n = int(extra[extra.index("--tensor-parallel-size") + 1]) \
        if "--tensor-parallel-size" in extra else 1
    flags = list(flags)
    if n > 1 and "--kv-cache-memory" in flags:
        i = flags.index("--kv-cache-memory") + 1
        flags[i] = str(size_bytes(flags[i]) // n)
    return flags + extra


class ServerError(Exception):
    pass


class Server:
    """One `gptoss serve` process on 127.0.0.1:<free port>; model None serves the built-in
    demo model (no --model flag)."""

    def __init__(self, gptoss_bin, model, *flags, log_dir, name="server", env=None):
        self.model = None if model is None else str(model)
        self.port = free_port()
        self.log_path = os.path.join(str(log_dir), f"{name}-{self.port}.stderr")
        model_flags = [] if model is None else ["--model", self.model]
        flags = with_suite_flags([str(f) for f in flags])
        self.args = [gptoss_bin, "serve", *model_flags, "--host", "127.0.0.1",
                     "--port", str(self.port), *flags]
        self.env = dict(os.environ, **(env or {}))
        # With --public-endpoints, /health and /metrics may need the key: the fixture's own
        # readiness and metrics requests carry the first --api-key.
        self.own_headers = {"Authorization": f"Bearer {flags[flags.index('--api-key') + 1]}"} \
            if "--api-key" in flags else {}
        self.proc = None
        self.health_statuses = []  # what /health answered while the server was starting

    # ---- life ------------------------------------------------------------------------------

    def start(self, timeout=START_TIMEOUT_S):
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"gptoss serve exited with {self.proc.returncode} while "
                                  f"starting:\n{self.stderr()}")
            try:
                status, _, body = self.request("GET", "/health", headers=self.own_headers,
                                               timeout=5)
            except OSError:
                time.sleep(0.05)
                continue
            self.health_statuses.append((status, body))
            if status == 200:
                return self
            time.sleep(0.05)
        self.kill()
        raise ServerError(f"gptoss serve was not ready after {timeout} s:\n{self.stderr()}")

    def stop(self, sig=signal.SIGINT, timeout=STOP_TIMEOUT_S):
        """Sends `sig` and waits; returns the exit status (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        self._log.close()
        return self.proc.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self._log.closed:
            self._log.close()

    def stderr(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def check_clean_exit(self, sig=signal.SIGINT):
        """Stops the server and asserts a clean shutdown: status 0, no sanitizer report."""
        rc = self.stop(sig)
        text = self.stderr()
        assert rc == 0, f"gptoss serve exited with {rc} after {sig!r}:\n{text[-6000:]}"
        for mark in SANITIZER_MARKS:
            assert mark not in text, f"sanitizer report in the server's output:\n{text[-6000:]}"

    # ---- HTTP ------------------------------------------------------------------------------

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}/v1"

    def request(self, method, path, body=None, headers=None, timeout=120):
        """One raw request; returns (status, headers dict with lower-case names, body bytes).
        A dict or list body is sent as JSON."""
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def json(self, method, path, body=None, headers=None, timeout=120):
        """A request whose answer is JSON: (status, parsed body)."""
        status, _, data = self.request(method, path, body, headers, timeout)
        return status, json.loads(data)

    def metrics_text(self):
        status, _, data = self.request("GET", "/metrics", headers=self.own_headers, timeout=30)
        assert status == 200
        return data.decode()

    def metrics(self):
        return parse_metrics(self.metrics_text())

    def metric(self, name, **labels):
        """The value of one sample (labels other than model_name must match exactly)."""
        return metric_value(self.metrics(), name, **labels)


@contextlib.contextmanager
def serving(gptoss_bin, model, *flags, log_dir, name="server", stop_signal=signal.SIGINT):
    """A started server; on leaving, it must shut down cleanly (exit 0, no sanitizer report).
    When the body failed, the server is just stopped so that the first failure shows."""
    srv = Server(gptoss_bin, model, *flags, log_dir=log_dir, name=name).start()
    ok = False
    try:
        yield srv
        ok = True
    finally:
        if ok:
            srv.check_clean_exit(stop_signal)
        else:
            srv.stop(stop_signal)
            srv.kill()


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text format -> list of (name, {labels}, value)."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        labels = dict(_LABEL.findall(m.group(3) or ""))
        out.append((m.group(1), labels, float(m.group(4))))
    return out


def metric_value(samples, name, **labels):
    found = [v for n, lab, v in samples
             if n == name and all(lab.get(k) == str(w) for k, w in labels.items())]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
    return found[0]


def wait_until(predicate, timeout, interval=0.1):
    """Polls predicate() until it is truthy or timeout seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


class RawStream:
    """A streaming POST over a plain socket, so that a test can read a few Server-Sent Events
    and then drop the connection exactly when it wants to."""

    def __init__(self, port, path, body, headers=None, timeout=120):
        data = json.dumps(body).encode()
        head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}",
                "Content-Type: application/json", f"Content-Length: {len(data)}",
                "Accept: text/event-stream"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        self.buf = b""
        self.status = None
        self.closed_by_peer = False

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            self.closed_by_peer = True
            return False
        self.buf += chunk
        return True

    def read_status(self):
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise ServerError("connection closed before the response headers")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.status = int(head.split(b" ", 2)[1])
        return self.status

    def read_events(self, n):
        """Reads until n "data:" events have arrived (chunked framing is skipped over: the
        events are found by their "data: " prefix). Returns the event payloads seen."""
        if self.status is None:
            self.read_status()
        while self.buf.count(b"\ndata: ") + self.buf.startswith(b"data: ") < n:
            if not self._fill():
                break
        return re.findall(rb"data: ([^\r\n]*)", self.buf)

    def read_to_end(self):
        """Reads until the server closes the connection or ends the chunked body."""
        while not self.buf.endswith(b"0\r\n\r\n"):
            if not self._fill():
                break
        return self.buf

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

"""A short soak of `gptoss serve` in CI: tests/soak/soak.py (64 clients mixing streams,
completions, disconnects, cancellations, bad requests and long prompts) against a server whose
KV pool holds about 2.5 requests of --max-model-len, so that long prompts running together must
preempt. The script checks every answer and, afterwards, the server's RSS, open fds, idle KV
pool and clean SIGINT exit; this test runs it and checks from its JSON report that each hazard
really happened."""
import json
import os
import re
import subprocess
import sys

from conftest import ROOT

SOAK = os.path.join(ROOT, "tests", "soak", "soak.py")
MAX_MODEL_LEN = 512
MAX_NUM_SEQS = 16


def _needed_kv_bytes(gptoss_bin, model, max_model_len):
    """What --kv-cache-memory must be for one request of max_model_len, from the refusal the
    server gives when the KV cache is too small."""
    r = subprocess.run([gptoss_bin, "serve", "--model", str(model), "--port", "0",
                        "--max-model-len", str(max_model_len), "--max-num-seqs", str(MAX_NUM_SEQS),
                        "--kv-cache-memory", "1K"], capture_output=True, timeout=300)
    text = r.stderr.decode()
    assert r.returncode != 0, text
    m = re.search(r"needs (\d+) bytes", text)
    assert m, text
    return int(m.group(1))


def test_soak(gptoss_bin, tiny_model, tmp_path):
    # The refusal's figure is one full request plus what every sequence slot needs whatever its
    # length; two lengths give the bytes per token, and the pool gets 1.5 full requests more.
    need = _needed_kv_bytes(gptoss_bin, tiny_model, MAX_MODEL_LEN)
    per_token = (need - _needed_kv_bytes(gptoss_bin, tiny_model, MAX_MODEL_LEN // 2)) \
        // (MAX_MODEL_LEN // 2)
    assert per_token > 0
    kv = need + (3 * MAX_MODEL_LEN // 2) * per_token
    # CI runs tests/e2e a second time on an AddressSanitizer build (build-asan/gptoss), some 40
    # times slower (~1 request/s here): fewer clients and requests keep that run near a minute,
    # with every kind still occurring many times and answers well inside the socket timeout.
    # ASan also keeps freed memory in its quarantine (up to 256 MB) instead of reusing it, so
    # RSS grows whether or not anything leaks: there the RSS bound is only a sanity check, and
    # LeakSanitizer's report at exit (which soak.py looks for) is what catches leaks.
    # The ThreadSanitizer stage (build-tsan) runs at ~1 request/s here as well and its shadow
    # memory grows with the threads it has seen, so it gets the same treatment.
    path = os.path.abspath(gptoss_bin).lower()
    if "asan" in path or "tsan" in path:
        clients, requests, warmup, rss_tolerance = 32, 60, 36, 100
    else:
        clients, requests, warmup, rss_tolerance = 64, 800, 128, 5
    report_path = tmp_path / "soak.json"
    flags = (f"--max-model-len {MAX_MODEL_LEN} --max-num-seqs {MAX_NUM_SEQS} "
             f"--kv-cache-memory {kv} --max-queued-requests 4096")
    cmd = [sys.executable, SOAK, "--bin", gptoss_bin, "--model", str(tiny_model),
           "--clients", str(clients), "--requests", str(requests), "--seed", "7",
           "--warmup", str(warmup),
           "--serve-flags", flags, "--rss-tolerance", str(rss_tolerance), "--timeout", "300",
           "--max-seconds", "900", "--log-dir", str(tmp_path), "--json", str(report_path)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    shown = f"{' '.join(cmd)}\n{r.stdout}\n{r.stderr[-6000:]}"
    assert r.returncode == 0, shown

    rep = json.loads(report_path.read_text())
    kinds = rep["kinds"]
    assert rep["requests_total"] == requests, shown
    assert rep["preemptions"] > 0, shown
    assert rep["good"]["failed"] == 0 and rep["good"]["rejected_503"] == 0, shown
    assert rep["good"]["completed"] == sum(kinds[k]["issued"] for k in ("stream", "complete",
                                                                         "long")), shown
    assert kinds["disconnect"]["ok"] > 0, shown
    assert sum(n for v, n in kinds["cancel"]["variants"].items()
               if v.startswith("cancelled")) > 0, shown
    assert kinds["bad"]["expected_4xx"] == kinds["bad"]["issued"] > 0, shown
    assert rep["aborted_by_server"] > 0, shown
    assert rep["kv_usage_after"] == 0 and rep["server_exit_status"] == 0, shown

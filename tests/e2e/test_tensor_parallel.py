"""Tensor parallelism end to end: a model split over 2 or 4 ranks, as threads of one process
(--tensor-parallel-size) or as the processes of an MPI job (mpirun + --distributed-backend mpi),
computes the logits and greedy generations of the unsplit model.

The tiny checkpoint has 4 query heads, 2 KV heads and 2 MXFP4 blocks of expert hidden units, so
TP=4 also covers the uneven cases: KV heads shared by two ranks each, and ranks left without
hidden units.
"""
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from conftest import VOCAB

IDS = "200006,1428,200008,13225,1395,8126,3162,200007,12,99,1000,200005"


@pytest.fixture(scope="module")
def tiny(gptoss_bin, tmp_path_factory):
    path = tmp_path_factory.mktemp("tp") / "tiny"
    subprocess.run([gptoss_bin, "random-model", "--preset", "tiny", "--seed", "7",
                    "--tokenizer", VOCAB, "--out", str(path)], check=True, timeout=300)
    return path


@pytest.fixture(scope="module")
def tiny_bf16(gptoss_bin, tmp_path_factory):
    path = tmp_path_factory.mktemp("tp") / "tiny-bf16"
    subprocess.run([gptoss_bin, "random-model", "--preset", "tiny", "--seed", "8", "--experts",
                    "bf16", "--shards", "2", "--tokenizer", VOCAB, "--out", str(path)],
                   check=True, timeout=300)
    return path


def gptoss(gptoss_bin, *args, timeout=300):
    return subprocess.run([gptoss_bin, *map(str, args)], capture_output=True, timeout=timeout)


def mpirun(n, *cmd, timeout=300):
    """cmd under `mpirun -np n` on this machine (as root too, more ranks than cores allowed)."""
    launcher = shutil.which("mpirun")
    assert launcher, "mpirun not found: scripts/setup.sh installs openmpi-bin"
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    if "ASAN_OPTIONS" in env:
        # Open MPI's own allocations outlive MPI_Finalize (in components it has already
        # unloaded, so no suppression can name them); our code's leaks are checked by the
        # thread-rank tests, which run the same model code without MPI.
        env["ASAN_OPTIONS"] += ":detect_leaks=0"
    return subprocess.run([launcher, "-np", str(n), *map(str, cmd)], capture_output=True,
                          timeout=timeout, env=env)


def logits(gptoss_bin, model, tmp_path, name, *extra, mpi=0):
    out = tmp_path / f"{name}.npy"
    args = ["logits", "--model", model, "--tokens", IDS, "--out", out, *extra]
    r = mpirun(mpi, gptoss_bin, *args, "--distributed-backend", "mpi") if mpi else \
        gptoss(gptoss_bin, *args)
    assert r.returncode == 0, r.stderr.decode()
    return np.load(out)


def rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("dtype", ["float32", "auto"])
def test_threads_logits_equal_one_rank(gptoss_bin, tiny, tmp_path, dtype):
    one = logits(gptoss_bin, tiny, tmp_path, "tp1", "--dtype", dtype)
    for n in (2, 4):
        split = logits(gptoss_bin, tiny, tmp_path, f"tp{n}", "--dtype", dtype,
                       "--tensor-parallel-size", n)
        assert split.shape == one.shape
        assert rel(split, one) < 1e-4, (n, rel(split, one))
        assert (split.argmax(axis=1) == one.argmax(axis=1)).all()


def test_threads_logits_bf16_experts_and_int8(gptoss_bin, tiny_bf16, tmp_path):
    for extra in (["--dtype", "float32"], ["--weights", "int8"]):
        one = logits(gptoss_bin, tiny_bf16, tmp_path, "b1", *extra)
        two = logits(gptoss_bin, tiny_bf16, tmp_path, "b2", *extra, "--tensor-parallel-size", 2)
        assert rel(two, one) < 1e-4, (extra, rel(two, one))


def test_mpi_logits_equal_one_rank(gptoss_bin, tiny, tmp_path):
    one = logits(gptoss_bin, tiny, tmp_path, "tp1", "--dtype", "float32")
    two = logits(gptoss_bin, tiny, tmp_path, "mpi2", "--dtype", "float32", mpi=2)
    assert rel(two, one) < 1e-4, rel(two, one)


def generate(gptoss_bin, model, *extra, mpi=0):
    args = ["generate", "--model", model, "--prompt", "Count to ten.", "--temperature", "0",
            "--max-tokens", "40", "--raw", *extra]
    r = mpirun(mpi, gptoss_bin, *args, "--distributed-backend", "mpi") if mpi else \
        gptoss(gptoss_bin, *args)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout


def test_greedy_generations_identical(gptoss_bin, tiny):
    one = generate(gptoss_bin, tiny)
    assert len(one) > 0
    assert generate(gptoss_bin, tiny, "--tensor-parallel-size", 2) == one
    assert generate(gptoss_bin, tiny, "--tensor-parallel-size", 4) == one
    assert generate(gptoss_bin, tiny, mpi=2) == one


def test_info_prints_every_rank(gptoss_bin, tiny):
    r = gptoss(gptoss_bin, "info", "--model", tiny, "--tensor-parallel-size", 2)
    assert r.returncode == 0, r.stderr.decode()
    text = r.stdout.decode()
    assert "memory plan      2 ranks (tensor parallel)" in text
    assert "rank 0         query heads 0-1, kv heads 0-0, expert units 0-31, vocabulary 0-100543" \
        in text
    assert "rank 1         query heads 2-3, kv heads 1-1, expert units 32-63, " \
        "vocabulary 100544-201087" in text
    one = gptoss(gptoss_bin, "info", "--model", tiny).stdout.decode()
    assert "weights 0." in one and "(100% of all)" in one


@pytest.mark.parametrize("args,message", [
    (["--tensor-parallel-size", "3"], "--tensor-parallel-size 3: the model's 4 query heads"),
    (["--tensor-parallel-size", "0"], "--tensor-parallel-size must be"),
    (["--distributed-backend", "nccl"], "--distributed-backend must be threads or mpi"),
    (["--distributed-backend", "mpi"], "start it with mpirun -np N"),
])
def test_bad_parallel_flags(gptoss_bin, tiny, tmp_path, args, message):
    r = gptoss(gptoss_bin, "logits", "--model", tiny, "--tokens", "1,2", "--out",
               tmp_path / "x.npy", *args)
    assert r.returncode != 0
    err = r.stderr.decode()
    assert message in err, err
    assert len([l for l in err.splitlines() if l.startswith("gptoss:")]) == 1, err


def test_server_reports_memory_per_rank(gptoss_bin, tiny, tmp_path):
    from server_fixture import serving
    with serving(gptoss_bin, tiny, "--tensor-parallel-size", "2", "--kv-cache-memory", "64M", "--max-model-len", "1024",
                 log_dir=tmp_path, name="tp2") as srv:
        status, _, body = srv.request("GET", "/status")
        assert status == 200
        devices = json.loads(body)["devices"]
        assert [d["rank"] for d in devices] == [0, 1]
        assert [d["name"].split(",")[0] for d in devices] == ["CPU rank 0", "CPU rank 1"]
        for d in devices:
            assert 0 < d["weights_bytes"] and 0 < d["kv_cache_bytes"] <= 64 << 20
            assert d["memory_used"] >= d["kv_cache_bytes"]
        status, _, text = srv.request("GET", "/metrics")
        metrics = text.decode()
        for r in ("0", "1"):
            assert f'gptoss:rank_weight_bytes{{model_name="tiny",rank="{r}"}}' in metrics
            assert f'gptoss:rank_kv_cache_bytes{{model_name="tiny",rank="{r}"}}' in metrics
            assert f'gptoss:rank_weight_resident_bytes{{model_name="tiny",rank="{r}"}}' in metrics
        # Greedy chat through the split model answers as the unsplit one does (same weights).
        req = {"model": "tiny", "messages": [{"role": "user", "content": "Hi"}],
               "max_tokens": 12, "temperature": 0}
        status, _, a = srv.request("POST", "/v1/chat/completions", req)
        assert status == 200, a
    with serving(gptoss_bin, tiny, "--kv-cache-memory", "64M", "--max-model-len", "1024",
                 log_dir=tmp_path,
                 name="tp1") as one:
        status, _, b = one.request("POST", "/v1/chat/completions", req)
        assert status == 200, b
    msg = lambda body: json.loads(body)["choices"][0]["message"]
    assert msg(a)["content"] == msg(b)["content"]
    assert msg(a).get("reasoning_content") == msg(b).get("reasoning_content")


def test_threads_logits_full_width_layer(gptoss_bin, tmp_path_factory, tmp_path):
    """One layer and 4 experts at gpt-oss-20b's width: every slice a rank copies spans many
    pages, so giving the mapped pages back (model_shard.c) must not touch what the ranks use.
    Exact mode: the split sums differ from one rank's only by f32 rounding. (With bf16 or int8
    activations a value that lands on the other side of a bf16 rounding step can move a row by
    up to ~1e-3.)"""
    model = tmp_path_factory.mktemp("tp-wide") / "wide"
    subprocess.run([gptoss_bin, "random-model", "--preset", "20b", "--layers", "1",
                    "--num-experts", "4", "--seed", "3", "--tokenizer", VOCAB,
                    "--out", str(model)], check=True, timeout=300)
    ids = "200006,1428,200008,13225,1395"
    # --weights int8 too: each rank scales its o_proj columns by the whole row's max, then
    # gives its bf16 copy of them back (model_shard_release_o).
    for weights in ("exact", "int8"):
        out = {}
        for n in (1, 2, 4):
            path = tmp_path / f"w{weights}{n}.npy"
            r = gptoss(gptoss_bin, "logits", "--model", model, "--tokens", ids, "--out", path,
                       "--dtype", "float32", "--weights", weights, "--tensor-parallel-size", n)
            assert r.returncode == 0, r.stderr.decode()
            out[n] = np.load(path)
        for n in (2, 4):
            assert rel(out[n], out[1]) < 1e-4, (weights, n, rel(out[n], out[1]))
    shutil.rmtree(model)


def rank_pids(port):
    """{rank: pid} of the gptoss processes of an MPI job serving on port."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if not cmd[0].endswith(b"gptoss") or str(port).encode() not in cmd:
            continue
        for v in environ:
            if v.startswith(b"OMPI_COMM_WORLD_RANK="):
                out[int(v.split(b"=")[1])] = int(pid)
    return out


def start_mpi_server(gptoss_bin, tiny, tmp_path, *mpirun_flags, env=None):
    from server_fixture import free_port
    port = free_port()
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1", **(env or {}))
    if "ASAN_OPTIONS" in env:
        env["ASAN_OPTIONS"] += ":detect_leaks=0"  # as mpirun() above
    log = open(tmp_path / f"mpi-serve-{port}.log", "wb")
    job = subprocess.Popen([shutil.which("mpirun"), *mpirun_flags, "-np", "2", gptoss_bin,
                            "serve", "--model", str(tiny), "--port", str(port),
                            "--max-model-len", "1024", "--kv-cache-memory", "64M",
                            "--distributed-backend", "mpi"],
                           stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if health(port) == 200:
            return job, port, log
        time.sleep(0.2)
    job.kill()
    pytest.fail("the MPI server did not become ready:\n" + open(log.name).read())


def health(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def test_mpi_server_goes_down_with_a_dead_rank(gptoss_bin, tiny, tmp_path):
    """A rank killed under a serving MPI job takes the job down promptly (mpirun stops the
    others): the server neither hangs nor keeps answering on a model it no longer has."""
    job, port, log = start_mpi_server(gptoss_bin, tiny, tmp_path)
    try:
        os.kill(rank_pids(port)[1], signal.SIGKILL)
        job.wait(timeout=60)  # raises if the job hangs
        assert job.returncode != 0
        assert health(port) is None
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
        log.close()


def test_mpi_server_reports_a_lost_rank_and_exits(gptoss_bin, tiny, tmp_path):
    """With mpirun told to keep the job going when a process dies, rank 0 finds out itself: the
    step waiting on the dead rank fails after GPTOSS_TP_TIMEOUT_S, the request ends, /health
    stops saying 200, and rank 0 exits with a one-line reason instead of hanging."""
    job, port, log = start_mpi_server(gptoss_bin, tiny, tmp_path, "--mca",
                                      "orte_abort_on_non_zero_status", "0", "-x",
                                      "GPTOSS_TP_TIMEOUT_S", env={"GPTOSS_TP_TIMEOUT_S": "3"})
    try:
        ranks = rank_pids(port)
        os.kill(ranks[1], signal.SIGKILL)
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/completions",
            data=json.dumps({"prompt": "hi", "max_tokens": 4}).encode(),
            headers={"Content-Type": "application/json"})
        t0 = time.monotonic()
        with urllib.request.urlopen(req, timeout=60) as r:
            body = json.loads(r.read())
        assert body["choices"][0]["finish_reason"] == "abort"
        assert time.monotonic() - t0 < 30
        deadline = time.monotonic() + 30
        while os.path.exists(f"/proc/{ranks[0]}") and time.monotonic() < deadline:
            assert health(port) != 200 or time.monotonic() - t0 < 10
            time.sleep(0.2)
        text = open(log.name).read()
        assert not os.path.exists(f"/proc/{ranks[0]}") or \
            open(f"/proc/{ranks[0]}/stat").read().split()[2] == "Z", text
        assert "gptoss: serve: a tensor-parallel rank was lost" in text, text
        assert "no answer from the other ranks in 3 s" in text, text
    finally:
        job.kill()  # mpirun itself may linger in this mode
        job.wait()
        log.close()

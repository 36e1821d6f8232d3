#!/usr/bin/env python3
"""Single-thread encoding throughput of our tokenizer against tiktoken on the tokenizer corpus.

Both sides encode every file of tests/data/tokenizer/corpus once per repeat, with load time
excluded. Repeats alternate between the two (ours, tiktoken, ours, ...) so that machine noise
hits both alike; the report gives the median MB/s (1 MB = 10^6 bytes) of each and their ratio.

Our side is <build-dir>/bench/bench_tokenize, which prints one JSON line {"bytes": N,
"seconds": S} per repeat. Each round runs it with --repeat 2 and keeps the second line, so that
its first, cold pass (page faults, cold caches) is not timed, as tiktoken's is not either.
When the executable is missing, only tiktoken's numbers are reported.

    python3 bench/bench_tokenizer.py [--build-dir build] [--repeat 7] [--json]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from make_tokenizer_goldens import load_encoding  # noqa: E402  (the Encoding the goldens use)

DEFAULT_VOCAB = os.path.join("tests", "data", "tokenizer", "o200k_base.tiktoken")
DEFAULT_CORPUS = os.path.join("tests", "data", "tokenizer", "corpus")


def corpus_files(folder):
    names = sorted(n for n in os.listdir(folder) if n.endswith(".txt"))
    if not names:
        sys.exit(f"error: no .txt files in {folder}; run tools/make_tokenizer_corpus.py")
    return [os.path.join(folder, n) for n in names]


def tiktoken_pass(enc, texts):
    """Encodes each text once; returns the seconds each took."""
    times = []
    for text in texts:
        t0 = time.perf_counter()
        enc.encode_ordinary(text)
        times.append(time.perf_counter() - t0)
    return times


def ours_pass(cmd, expect_bytes):
    """Runs our benchmark once; returns (seconds of its warm pass, error message or None)."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return None, f"exit status {proc.returncode}: {proc.stderr.strip()[-2000:]}"
    rows = []
    for line in proc.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            rows.append(json.loads(line))
    if not rows:
        return None, f"no JSON lines in its output: {proc.stdout.strip()[-2000:]!r}"
    last = rows[-1]
    if last.get("bytes") != expect_bytes:
        return None, f"it encoded {last.get('bytes')} bytes, the corpus holds {expect_bytes}"
    return float(last["seconds"]), None


def mb_per_s(n_bytes, seconds):
    return n_bytes / seconds / 1e6 if seconds > 0 else float("inf")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default="build", help="CMake build folder (default: %(default)s)")
    ap.add_argument("--repeat", type=int, default=7, help="timed passes per side (default: %(default)s)")
    ap.add_argument("--json", action="store_true", help="print one machine-readable JSON object")
    ap.add_argument("--vocab", default=DEFAULT_VOCAB, help="o200k_base.tiktoken (default: %(default)s)")
    ap.add_argument("--corpus", default=DEFAULT_CORPUS, help="corpus folder (default: %(default)s)")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")

    files = corpus_files(args.corpus)
    blobs = []
    for path in files:
        with open(path, "rb") as f:
            blobs.append(f.read())
    texts = [b.decode("utf-8") for b in blobs]
    sizes = [len(b) for b in blobs]
    total = sum(sizes)

    enc = load_encoding(args.vocab)
    exe = os.path.join(args.build_dir, "bench", "bench_tokenize")
    have_ours = os.access(exe, os.X_OK)
    cmd = [exe, "--tokenizer", args.vocab, "--repeat", "2", *files]
    log = (lambda *a: None) if args.json else print

    log(f"corpus: {len(files)} files, {total} bytes ({total / 1e3:.1f} kB) in {args.corpus}")
    if not have_ours:
        log(f"note: {exe} does not exist; build it (cmake --build {args.build_dir} --target "
            f"bench_tokenize) to compare. Reporting tiktoken only.")

    tiktoken_pass(enc, texts)  # warm-up: first-touch costs of the Rust side
    ours_s, tik_s, tik_files = [], [], []
    ours_error = None
    for i in range(args.repeat):
        if have_ours and ours_error is None:
            sec, ours_error = ours_pass(cmd, total)
            if sec is not None:
                ours_s.append(sec)
        per_file = tiktoken_pass(enc, texts)
        tik_s.append(sum(per_file))
        tik_files.append(per_file)
        log(f"  repeat {i + 1}/{args.repeat}: "
            + (f"ours {mb_per_s(total, ours_s[-1]):8.2f} MB/s  " if ours_s and len(ours_s) == i + 1 else "")
            + f"tiktoken {mb_per_s(total, tik_s[-1]):8.2f} MB/s")

    tik_mbs = mb_per_s(total, statistics.median(tik_s))
    ours_mbs = mb_per_s(total, statistics.median(ours_s)) if ours_s and ours_error is None else None
    per_file = {
        os.path.basename(path): mb_per_s(sizes[j], statistics.median(t[j] for t in tik_files))
        for j, path in enumerate(files)
    }
    result = {
        "corpus_bytes": total,
        "files": len(files),
        "repeat": args.repeat,
        "tiktoken_mb_s": tik_mbs,
        "ours_mb_s": ours_mbs,
        "ratio_ours_over_tiktoken": ours_mbs / tik_mbs if ours_mbs is not None else None,
        "ours_status": "ok" if ours_mbs is not None else (ours_error or f"{exe} not found"),
        "tiktoken_mb_s_per_file": per_file,
        "tiktoken_version": getattr(sys.modules.get("tiktoken"), "__version__", None),
    }

    if args.json:
        print(json.dumps(result))
    else:
        print("tiktoken per file (median MB/s):")
        for name, v in per_file.items():
            print(f"  {name:22s} {v:8.2f}")
        print(f"tiktoken {result['tiktoken_version']}: {tik_mbs:.2f} MB/s (median of {args.repeat}, one thread)")
        if ours_mbs is not None:
            print(f"ours:          {ours_mbs:.2f} MB/s (median of {args.repeat}, one thread)")
            print(f"ratio ours/tiktoken: {result['ratio_ours_over_tiktoken']:.2f}x")
        elif ours_error:
            print(f"ours: failed: {ours_error}")
        else:
            print(f"ours: not measured ({exe} not found)")
    return 1 if ours_error else 0


if __name__ == "__main__":
    sys.exit(main())

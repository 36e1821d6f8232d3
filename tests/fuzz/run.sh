#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS] — the fuzz targets, bounded: builds them (clang, libFuzzer, ASan +
# UBSan, into build-fuzz/), replays every input under tests/fuzz/regressions/<target>/ (inputs
# that once crashed a target), then fuzzes each target for SECONDS (default 20) from a scratch
# copy of its committed corpus, tests/fuzz/corpus/<target>/. Fails on the first crash, leak,
# undefined behaviour, timeout or out-of-memory; the input is then under build-fuzz/crashes/:
# fix the bug and add the input to tests/fuzz/regressions/<target>/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
secs="${1:-20}"
targets=(fuzz_openai_request fuzz_safetensors fuzz_config fuzz_tokenizer_file fuzz_tokenize
         fuzz_detokenize fuzz_harmony)

CC=clang cmake -S "$root" -B "$root/build-fuzz" -DCMAKE_BUILD_TYPE=Debug -DGPTOSS_FUZZ=ON \
    -DGPTOSS_BUILD_TESTS=OFF >/dev/null
cmake --build "$root/build-fuzz" -j"$(nproc)" >/dev/null
mkdir -p "$root/build-fuzz/crashes"
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in "${targets[@]}"; do
    bin="$root/build-fuzz/tests/fuzz/$t"
    if [ -d "$root/tests/fuzz/regressions/$t" ]; then
        n=$(find "$root/tests/fuzz/regressions/$t" -type f | wc -l)
        if ! "$bin" -runs=1 "$root/tests/fuzz/regressions/$t"/* >"$root/build-fuzz/replay.log" 2>&1
        then
            echo "fuzz: $t fails on a regression input again:" >&2
            tail -n 40 "$root/build-fuzz/replay.log" >&2
            exit 1
        fi
        echo "fuzz: $t replays its $n regression input(s) cleanly"
    fi
    work="$(mktemp -d)"
    cp -r "$root/tests/fuzz/corpus/$t/." "$work/"
    echo "fuzz: $t for ${secs} s"
    status=0
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 -print_final_stats=0 \
        -artifact_prefix="$root/build-fuzz/crashes/$t-" "$work" >"$work.log" 2>&1 || status=$?
    tail -n 1 "$work.log"
    if [ "$status" -ne 0 ]; then
        echo "fuzz: $t failed; its report:" >&2
        grep -v '^#' "$work.log" | tail -n 60 >&2
        exit 1
    fi
    rm -rf "$work" "$work.log"
done
echo "fuzz: all targets clean"

#!/usr/bin/env bash
# scripts/setup.sh — installs what gptoss.c needs on a Debian machine and builds it.
#
# Sourced by scripts/serve.sh and scripts/test.sh (so a fresh clone needs nothing else), or run
# alone: `scripts/setup.sh` leaves the gptoss binary at build/gptoss.
set -euo pipefail

GPTOSS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# C toolchain, the C libraries the runtime links (Open MPI: tensor parallelism across
# processes), and the JavaScript libraries the web UI embeds at build time (design.md,
# "Dependencies").
GPTOSS_APT_PACKAGES=(build-essential cmake pkg-config libpcre2-dev libjansson-dev libmicrohttpd-dev libxxhash-dev
                     libopenmpi-dev openmpi-bin
                     libjs-marked node-dompurify libjs-highlight.js)
# Extra for the test suite: unit tests, clang's libFuzzer for the fuzz targets, formatting check,
# Python for the end-to-end tests, and the browser the web UI tests drive.
GPTOSS_APT_TEST_PACKAGES=(libcmocka-dev clang clang-format python3 python3-venv python3-pip chromium
                          fonts-liberation)

gptoss_apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "setup: apt-get not found; install these yourself: $*" >&2
        return 0
    fi
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo="sudo"
        else
            echo "setup: not root and no sudo; assuming these are installed: $*" >&2
            return 0
        fi
    fi
    echo "setup: apt-get install $*" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# gptoss_build DIR BUILD_TYPE [CMAKE_ARGS...] — configures and builds into DIR.
gptoss_build() {
    local dir="$1" type="$2"
    shift 2
    # CMake options, then optionally "--target T..." to build only those targets.
    local opts=() targets=()
    while [ $# -gt 0 ] && [ "$1" != "--target" ]; do opts+=("$1"); shift; done
    [ $# -gt 0 ] && { shift; targets=(--target "$@"); }
    cmake -S "$GPTOSS_ROOT" -B "$GPTOSS_ROOT/$dir" -DCMAKE_BUILD_TYPE="$type" "${opts[@]}" >/dev/null
    cmake --build "$GPTOSS_ROOT/$dir" -j"$(nproc)" "${targets[@]}"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    gptoss_apt_install "${GPTOSS_APT_PACKAGES[@]}"
    gptoss_build build Release
fi

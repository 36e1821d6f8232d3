#!/usr/bin/env bash
# scripts/serve.sh — sets up, builds and starts gptoss on a model.
#
# Until the HTTP server lands this starts the interactive terminal chat (`gptoss chat`). With no
# --model it first writes a tiny random-weight checkpoint to build/tiny-model (the trained demo
# model replaces it later), so it works on a fresh machine; such a model only babbles. Other
# flags go to `gptoss chat` (e.g. --temperature 0 --max-tokens 64).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
gptoss_apt_install "${GPTOSS_APT_PACKAGES[@]}"
gptoss_build build Release
cd "$GPTOSS_ROOT"
for arg in "$@"; do
    if [[ "$arg" == --model || "$arg" == --model=* ]]; then
        exec build/gptoss chat "$@"
    fi
done
if [[ ! -f build/tiny-model/config.json ]]; then
    build/gptoss random-model --preset tiny --seed 0 \
        --tokenizer tests/data/tokenizer/o200k_base.tiktoken --out build/tiny-model
fi
exec build/gptoss chat --model build/tiny-model "$@"

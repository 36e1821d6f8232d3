#!/usr/bin/env bash
# scripts/serve.sh — sets up, builds and starts `gptoss serve`: the OpenAI API and the web chat UI
# on http://127.0.0.1:8000/.
#
# With no --model it serves the built-in demo model (models/demo, expanded by the build into
# build/demo-model), a tiny gpt-oss trained by tools/demo. Until models/demo is in the
# repository, it writes a tiny random-weight checkpoint to build/tiny-model instead, so the
# command works on a fresh machine; such a model only babbles. Every flag goes to
# `gptoss serve` (e.g. --model /path/to/gpt-oss-20b --port 8080 --api-key KEY).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
gptoss_apt_install "${GPTOSS_APT_PACKAGES[@]}"
gptoss_build build Release
cd "$GPTOSS_ROOT"
for arg in "$@"; do
    if [[ "$arg" == --model || "$arg" == --model=* ]]; then
        exec build/gptoss serve "$@"
    fi
done
if [[ -f build/demo-model/model.safetensors ]]; then
    exec build/gptoss serve "$@"
fi
if [[ ! -f build/tiny-model/config.json ]]; then
    build/gptoss random-model --preset tiny --seed 0 \
        --tokenizer tests/data/tokenizer/o200k_base.tiktoken --out build/tiny-model
fi
exec build/gptoss serve --model build/tiny-model "$@"

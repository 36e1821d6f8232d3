#!/usr/bin/env bash
# scripts/serve.sh — sets up, builds and starts `gptoss serve`: the OpenAI API and the web chat UI
# on http://127.0.0.1:8000/.
#
# With no --model it serves the built-in demo model (models/demo, expanded by the build into
# build/demo-model), a tiny gpt-oss trained by tools/demo. Every flag goes to `gptoss serve`
# (e.g. --model /path/to/gpt-oss-20b --port 8080 --api-key KEY).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
gptoss_apt_install "${GPTOSS_APT_PACKAGES[@]}"
gptoss_build build Release
cd "$GPTOSS_ROOT"
exec build/gptoss serve "$@"

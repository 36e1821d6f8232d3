#!/usr/bin/env bash
# scripts/serve.sh — sets up, builds and starts `gptoss serve` with the given flags
# (no --model: the built-in demo model).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
gptoss_apt_install "${GPTOSS_APT_PACKAGES[@]}"
gptoss_build build Release
exec "$GPTOSS_ROOT/build/gptoss" serve "$@"

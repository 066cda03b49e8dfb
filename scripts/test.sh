#!/usr/bin/env bash
# Set up (see setup.sh; the browser test's Chromium from install_browser.sh) and run the whole test suite on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/install_browser.sh
exec .venv/bin/python -m pytest "$@"

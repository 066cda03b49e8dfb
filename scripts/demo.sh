#!/usr/bin/env bash
# Set up (see setup.sh) and run a noise search headless on the CPU: prints the candidates, writes the best image.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m headless.demo "$@"

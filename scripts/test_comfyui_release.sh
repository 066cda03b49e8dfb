#!/usr/bin/env bash
# Run the test suite on a ComfyUI release's source tree beside the pinned one:
#   bash scripts/test_comfyui_release.sh path/to/ComfyUI-<version>.tar.gz [pytest arguments]
# The archive's sha256 must be pinned in scripts/install_comfyui.py. The tree goes to .comfyui/<version>/,
# its venv to .venv-comfyui-<version>, with the torch family that release imports.
set -euo pipefail
archive=$(realpath "$1")
shift
cd "$(dirname "$0")/.."

version=$(basename "$archive" | sed -E 's/^ComfyUI-(.*)\.tar\.gz$/\1/')
"${PYTHON:-python3}" scripts/install_comfyui.py --release-archive "$archive"
tree=$PWD/.comfyui/$version/ComfyUI
venv=.venv-comfyui-$version

# From 0.33, comfy.sd imports torchaudio at import time; no torchaudio build matches torch 2.14.1.
case "$version" in
  0.3.*) torch_family="" ;;
  *) torch_family="torch==2.11.0 torchvision==0.26.0 torchaudio==2.11.0" ;;
esac
NOISE_SEARCH_VENV=$venv COMFYUI_PATH=$tree TORCH_PACKAGES=${torch_family} bash scripts/setup.sh
bash scripts/install_browser.sh
COMFYUI_PATH=$tree exec "$venv/bin/python" -m pytest "$@"

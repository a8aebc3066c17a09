#!/usr/bin/env bash
# Install what the suite needs on a fresh machine: espeak-ng (offline corpus), PyTorch, the package.
#   bash scripts/setup.sh          # runtime
#   bash scripts/setup.sh --dev    # runtime + test tools
# PyTorch: a machine without a GPU gets a CPU build. Where the pip configuration offers a local CPU wheel of
# torch 2.13.0 it is used; elsewhere set TORCH_INDEX_URL to PyTorch's CPU wheel index to avoid the multi-GB
# CUDA build that plain PyPI serves on Linux. An installed torch is kept as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[[ "${1:-}" == "--dev" ]] && extras="[dev]"
PYTHON=${PYTHON:-python3}

if ! command -v espeak-ng >/dev/null 2>&1; then
  echo "setup: installing espeak-ng (offline speech corpus)"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq espeak-ng >/dev/null
fi

if ! "$PYTHON" -c "import torch" >/dev/null 2>&1; then
  TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "setup: GPU found: installing $TORCH_SPEC (CUDA build)"
    "$PYTHON" -m pip install -q "$TORCH_SPEC"
  else
    echo "setup: no GPU: installing $TORCH_SPEC (CPU build)"
    "$PYTHON" -m pip install -q "$TORCH_SPEC" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
  fi
fi

"$PYTHON" -m pip install -q -e ".$extras"
"$PYTHON" - <<'PY'
import torch
print(f"setup: torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
PY

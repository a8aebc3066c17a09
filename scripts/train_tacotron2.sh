#!/usr/bin/env bash
# Tacotron 2 on LJSpeech with the reference recipe (AMP, all visible GPUs). Run scripts/prepare_dataset.sh
# and scripts/prepare_mels.sh first. Extra flags pass through to run.py.
set -euo pipefail
cd "$(dirname "$0")/.."
ngpus=$(python -c "import torch; print(max(torch.cuda.device_count(), 1))")
exec bash scripts/platform/launch.sh tacotron2 AMP A100 "$ngpus" "$@"

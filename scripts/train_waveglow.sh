#!/usr/bin/env bash
# WaveGlow on LJSpeech with the reference recipe (AMP, all visible GPUs). Extra flags pass through.
set -euo pipefail
cd "$(dirname "$0")/.."
ngpus=$(python -c "import torch; print(max(torch.cuda.device_count(), 1))")
exec bash scripts/platform/launch.sh waveglow AMP A100 "$ngpus" "$@"

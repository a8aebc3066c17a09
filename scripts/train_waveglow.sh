#!/usr/bin/env bash
# WaveGlow on LJSpeech: the reference's scripts/train_waveglow.sh command (FP32, batch 4 per GPU, all
# visible GPUs). Run scripts/prepare_dataset.sh first. DATASET [data] is the folder holding LJSpeech-1.1;
# extra flags pass through (e.g. --amp -bs 10 --grad-clip-thresh 65504: the AMP recipe).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p output
python -m multiproc train.py -m WaveGlow -o ./output/ -lr 1e-4 --epochs 1001 -bs 4 --segment-length 8000 --weight-decay 0 --grad-clip-thresh 3.4028234663852886e+38 --cudnn-enabled --cudnn-benchmark --log-file nvlog.json \
  -d "${DATASET:-data}" "$@"

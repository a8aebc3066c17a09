#!/usr/bin/env bash
# Tacotron 2 on LJSpeech: the reference's scripts/train_tacotron2.sh command (FP32, batch 48 per GPU, all
# visible GPUs). Run scripts/prepare_dataset.sh and scripts/prepare_mels.sh first. DATASET [data] is the
# folder holding LJSpeech-1.1; extra flags pass through (e.g. --amp -bs 104 --anneal-factor 0.3: the AMP
# recipe; scripts/platform/ has every published one).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p output
python -m multiproc train.py -m Tacotron2 -o ./output/ -lr 1e-3 --epochs 1501 -bs 48 --weight-decay 1e-6 --grad-clip-thresh 1.0 --cudnn-enabled --log-file nvlog.json --anneal-steps 500 1000 1500 --anneal-factor 0.1 \
  --load-mel-from-disk --training-files filelists/ljs_mel_text_train_filelist.txt \
  --validation-files filelists/ljs_mel_text_val_filelist.txt -d "${DATASET:-data}" "$@"

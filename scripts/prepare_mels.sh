#!/usr/bin/env bash
# Precompute LJSpeech mels for training with --load-mel-from-disk (run scripts/prepare_dataset.sh first):
#   data/LJSpeech-1.1/mels/<id>.pt and filelists/ljs_mel_text_*_filelist.txt (paths LJSpeech-1.1/mels/<id>.pt,
#   the reference's). The subsets are part of train, so their mels come with it.
# Environment: DATA_DIR [data] (the folder holding LJSpeech-1.1), JOBS [number of CPU cores]. Extra flags
# pass through to python -m common.prepare_mels (e.g. --skip-bad, --overwrite).
# After SPLIT=shuffle bash scripts/prepare_dataset.sh use DATASET=data/LJSpeech-1.1 MELS=mels instead.
set -euo pipefail
cd "$(dirname "$0")/.."

DATASET=${DATASET:-${DATA_DIR:-data}}
MELS=${MELS:-LJSpeech-1.1/mels}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

python -m common.prepare_mels -d "$DATASET" --output-dir "$MELS" --jobs "$JOBS" \
  --filelists filelists/ljs_audio_text_train_filelist.txt filelists/ljs_audio_text_val_filelist.txt \
  filelists/ljs_audio_text_test_filelist.txt "$@"

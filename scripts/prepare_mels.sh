#!/usr/bin/env bash
# Precompute LJSpeech mels for training with --load-mel-from-disk (run scripts/prepare_dataset.sh first):
#   DATASET/mels/<id>.pt and filelists/ljs_mel_text_{train,val,test}_filelist.txt (paths mels/<id>.pt).
# Environment: DATASET [data/LJSpeech-1.1], JOBS [number of CPU cores]. Extra flags pass through to
# python -m common.prepare_mels (e.g. --skip-bad, --overwrite).
set -euo pipefail
cd "$(dirname "$0")/.."

DATASET=${DATASET:-data/LJSpeech-1.1}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

python -m common.prepare_mels -d "$DATASET" --output-dir mels --jobs "$JOBS" \
  --filelists filelists/ljs_audio_text_train_filelist.txt filelists/ljs_audio_text_val_filelist.txt \
  filelists/ljs_audio_text_test_filelist.txt "$@"

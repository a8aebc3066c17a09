#!/usr/bin/env bash
# Small WaveGlow on the offline corpus (every speaker), on CPU (scripts/configs/waveglow_cpu_small.json).
#   DATA=data/offline OUTPUT=output/waveglow_cpu MINUTES=60 bash scripts/train_waveglow_cpu.sh [flags]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-data/offline}
OUTPUT=${OUTPUT:-output/waveglow_cpu}
[[ -f "$DATA/filelists/audio_text_train.txt" ]] || UTTERANCES=${UTTERANCES:-480} bash scripts/make_offline_corpus.sh "$DATA"
exec python run.py --config-file scripts/configs/waveglow_cpu_small.json -o "$OUTPUT" -d "$DATA" \
  --training-files "$DATA/filelists/audio_text_train.txt" --validation-files "$DATA/filelists/audio_text_val.txt" \
  --epochs 100000 --epochs-per-checkpoint 25 --time-budget "${MINUTES:-60}" --resume-from-last "$@"

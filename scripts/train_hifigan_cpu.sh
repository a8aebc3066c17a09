#!/usr/bin/env bash
# Small HiFi-GAN (V2, discriminators at 1/4 width) on the offline corpus (every speaker), on CPU
# (scripts/configs/hifigan_cpu.json).
#   DATA=data/offline OUTPUT=output/hifigan_cpu MINUTES=60 bash scripts/train_hifigan_cpu.sh [flags]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-data/offline}
OUTPUT=${OUTPUT:-output/hifigan_cpu}
# a missing corpus is built with the quickstart's settings (its English voice), so the two share data/offline
[[ -f "$DATA/filelists/audio_text_train.txt" ]] || python -m common.corpus -o "$DATA" \
  --utterances "${UTTERANCES:-1000}" --speakers 1 --languages en --seed 1234 --jobs 2
exec python run.py --config-file scripts/configs/hifigan_cpu.json -o "$OUTPUT" -d "$DATA" \
  --training-files "$DATA/filelists/audio_text_train.txt" --validation-files "$DATA/filelists/audio_text_val.txt" \
  --epochs 100000 --epochs-per-checkpoint 25 --time-budget "${MINUTES:-60}" --resume-from-last "$@"

#!/usr/bin/env bash
# Small Tacotron 2 on the offline corpus, on CPU (scripts/configs/tacotron2_cpu_small.json: r = 4, guided
# attention, batch 32, one thread). Builds the corpus and its mels first when they are missing.
#   DATA=data/offline OUTPUT=output/tacotron2_cpu MINUTES=60 bash scripts/train_tacotron2_cpu.sh [flags]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-data/offline}
OUTPUT=${OUTPUT:-output/tacotron2_cpu}
[[ -f "$DATA/filelists/mel_text_speaker_language_train.txt" ]] || UTTERANCES=${UTTERANCES:-480} bash scripts/make_offline_corpus.sh "$DATA"
for split in train val; do
  python -m common.filelist filter "$DATA/filelists/mel_text_speaker_language_$split.txt" \
    "$DATA/en_mel_$split.txt" --language en --single
done
exec python run.py --config-file scripts/configs/tacotron2_cpu_small.json -o "$OUTPUT" -d "$DATA" \
  --load-mel-from-disk --training-files "$DATA/en_mel_train.txt" --validation-files "$DATA/en_mel_val.txt" \
  --epochs 100000 --epochs-per-checkpoint 25 --time-budget "${MINUTES:-60}" --resume-from-last "$@"

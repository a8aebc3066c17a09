#!/usr/bin/env bash
# Build the offline speech corpus with espeak-ng (no download needed), then precompute its mels.
#   bash scripts/make_offline_corpus.sh [OUT]            # OUT defaults to data/offline
# Settings through the environment (defaults in brackets): UTTERANCES [240], SPEAKERS [4],
# LANGUAGES [en,fr,de,es], SPEAKER_LANGUAGES [one: speaker k records language k mod L; or all],
# SEED [1234], JOBS [2]. Re-running resumes: finished wavs and mels are kept.
# Train on it with -d OUT and the filelists in OUT/filelists/ (audio_text_*, or mel_text_* with
# --load-mel-from-disk; the *_speaker_language_* variants carry speaker and language columns).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-data/offline}
UTTERANCES=${UTTERANCES:-240}
SPEAKERS=${SPEAKERS:-4}
LANGUAGES=${LANGUAGES:-en,fr,de,es}
SPEAKER_LANGUAGES=${SPEAKER_LANGUAGES:-one}
SEED=${SEED:-1234}
JOBS=${JOBS:-2}

python -m common.corpus -o "$OUT" --utterances "$UTTERANCES" --speakers "$SPEAKERS" \
  --languages "$LANGUAGES" --speaker-languages "$SPEAKER_LANGUAGES" --seed "$SEED" --jobs "$JOBS"

lists=()
for kind in audio_text audio_text_speaker_language; do
  for split in train val test; do
    lists+=("$OUT/filelists/${kind}_${split}.txt")
  done
done
python -m common.prepare_mels -d "$OUT" --filelists "${lists[@]}" --output-dir mels --jobs "$JOBS"

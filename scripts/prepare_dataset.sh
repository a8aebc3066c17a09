#!/usr/bin/env bash
# Download LJSpeech-1.1 into data/ and write the reference's filelists from its split (common/splits/ljspeech):
#   filelists/ljs_audio_text_{train,val,test}_filelist.txt   (12,500 / 100 / 500 lines)
#   filelists/ljs_audio_text_train_subset_{64,300,625,1250,2500}_filelist.txt, and all of them as ljs_mel_text_*
# Lines are the reference's (LJSpeech-1.1/wavs/<id>.wav|text), relative to the folder holding LJSpeech-1.1;
# a link ./LJSpeech-1.1 -> data/LJSpeech-1.1 makes the reference's default -d ./ work, so its commands paste.
# Environment: DATA_DIR [data], FILELISTS [filelists], LJSPEECH_URL [the public keithito.com archive],
# SPLIT [reference; shuffle: a seeded split, wavs/<id>.wav relative to data/LJSpeech-1.1], LINK [1; 0: no link].
# Without internet access, build the offline corpus instead: bash scripts/make_offline_corpus.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DATA_DIR=${DATA_DIR:-data}
FILELISTS=${FILELISTS:-filelists}
URL=${LJSPEECH_URL:-https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2}
ARCHIVE="$DATA_DIR/LJSpeech-1.1.tar.bz2"
DATASET="$DATA_DIR/LJSpeech-1.1"
mkdir -p "$DATA_DIR"

offline() {
  echo "prepare_dataset: cannot download $URL: $1" >&2
  echo "prepare_dataset: this machine looks offline (or the server is unreachable)." >&2
  echo "prepare_dataset: build the offline espeak-ng corpus instead: bash scripts/make_offline_corpus.sh" >&2
  rm -f "$ARCHIVE.part"
  exit 1
}

if [[ ! -f "$DATASET/metadata.csv" ]]; then
  if [[ ! -f "$ARCHIVE" ]]; then
    echo "prepare_dataset: downloading $URL (2.6 GB)"
    if command -v wget >/dev/null 2>&1; then
      wget --tries=2 --timeout=30 -O "$ARCHIVE.part" "$URL" || offline "wget failed"
    elif command -v curl >/dev/null 2>&1; then
      curl -fL --retry 1 --connect-timeout 30 -o "$ARCHIVE.part" "$URL" || offline "curl failed"
    else
      offline "neither wget nor curl is installed"
    fi
    mv "$ARCHIVE.part" "$ARCHIVE"
  fi
  echo "prepare_dataset: unpacking $ARCHIVE"
  tar -xjf "$ARCHIVE" -C "$DATA_DIR"
fi

SPLIT=${SPLIT:-reference}
python -m common.dataset_split "$DATASET/metadata.csv" -o "$FILELISTS" --split "$SPLIT"
if [[ "$SPLIT" == reference ]]; then
  if [[ "${LINK:-1}" == 1 && ! -e LJSpeech-1.1 && "$(cd "$DATA_DIR" && pwd)" != "$(pwd)" ]]; then
    ln -s "$DATASET" LJSpeech-1.1
  fi
  echo "prepare_dataset: done; train with -d ./ (the reference's default) or -d $DATA_DIR" \
       "(mels: bash scripts/prepare_mels.sh)"
else
  echo "prepare_dataset: done; train with -d $DATASET (mels: bash scripts/prepare_mels.sh)"
fi

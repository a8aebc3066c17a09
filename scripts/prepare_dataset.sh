#!/usr/bin/env bash
# Download LJSpeech-1.1 into data/ and split it into the reference's filelists:
#   filelists/ljs_audio_text_{train,val,test}_filelist.txt   (12,500 / 100 / 500 lines)
# Their paths are relative to data/LJSpeech-1.1, so train with -d data/LJSpeech-1.1.
# Environment: DATA_DIR [data], FILELISTS [filelists], LJSPEECH_URL [the public keithito.com archive].
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

python -m common.dataset_split "$DATASET/metadata.csv" -o "$FILELISTS" --prefix ljs_audio_text
echo "prepare_dataset: done; train with -d $DATASET (mels: bash scripts/prepare_mels.sh)"

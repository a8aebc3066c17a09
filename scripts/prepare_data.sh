#!/usr/bin/env bash
# Prepare or validate a dataset; every argument passes through to scripts/prepare_data.py:
#   bash scripts/prepare_data.sh ljspeech --input data/LJSpeech-1.1 --output data/LJSpeech-1.1
#   bash scripts/prepare_data.sh common-voice --input data/cv-corpus/en --output data/cv_en --trim-silence
#   bash scripts/prepare_data.sh custom --audio-dir rec --transcript rec/transcript.txt --output data/mine
#   bash scripts/prepare_data.sh validate --filelist data/mine/filelists/train.txt -d data/mine
# Environment: JOBS [number of CPU cores] is passed as --jobs to the preparation subcommands.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# -eq 0 || "$1" == "-h" || "$1" == "--help" ]]; then
  exec python scripts/prepare_data.py --help
fi

command=$1
shift
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 1)}
case "$command" in
  ljspeech|common-voice|custom|validate)
    exec python scripts/prepare_data.py "$command" --jobs "$JOBS" "$@" ;;
  *)
    exec python scripts/prepare_data.py "$command" "$@" ;;
esac

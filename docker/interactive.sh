#!/usr/bin/env bash
# Start a shell in the image with the GPUs, the code, the dataset and the output folder mounted:
#   DATA=/path/to/folder/holding/LJSpeech-1.1 OUTPUT=/path/to/output bash docker/interactive.sh [TAG]
# Inside: /workspace/tts is this checkout, /workspace/tts/data the data folder (LJSpeech-1.1 inside, as
# scripts/prepare_dataset.sh makes it; its ./LJSpeech-1.1 link lets the reference's commands run as they are),
# /workspace/tts/output the results.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-$PWD/data}
OUTPUT=${OUTPUT:-$PWD/output}
mkdir -p "$DATA" "$OUTPUT"
docker run -it --rm --gpus all --ipc=host --shm-size=1g \
  -v "$PWD":/workspace/tts -v "$DATA":/workspace/tts/data -v "$OUTPUT":/workspace/tts/output \
  "${1:-tts-suite:latest}" bash

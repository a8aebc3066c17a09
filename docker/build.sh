#!/usr/bin/env bash
# Build the image: bash docker/build.sh [TAG] (default tts-suite:latest). Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
docker build . --rm -t "${1:-tts-suite:latest}"

#!/usr/bin/env bash
# The main job, from a fresh machine to speech: set up, build the offline corpus and its mels, train a small
# Tacotron 2 and WaveGlow within a time budget, synthesise phrases/phrase.txt, and write a summary.
#   bash scripts/quickstart.sh [--budget-min 15] [--output output/quickstart] [--data data/offline]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec python3 -m common.quickstart "$@"

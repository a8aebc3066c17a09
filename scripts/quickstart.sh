#!/usr/bin/env bash
# The main job, from a fresh machine to speech: set up, build the offline English corpus and its mels, train a
# small Tacotron 2 on its IPA within a time budget, synthesise phrases/phrase.txt, measure intelligibility,
# and write a summary.
#   bash scripts/quickstart.sh [--budget-min 15] [--output output/quickstart] [--data data/offline]
#                              [--vocoder griffin-lim|waveglow]
set -euo pipefail
cd "$(dirname "$0")/.."
# --budget-min counts from here, set-up included
QUICKSTART_STARTED=$(date +%s.%N)
export QUICKSTART_STARTED
bash scripts/setup.sh
exec python3 -m common.quickstart "$@"

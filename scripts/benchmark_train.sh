#!/usr/bin/env bash
# Training throughput on a fixed synthetic batch. Defaults: Tacotron 2, batch 4, text 150, mel 600.
#   bash scripts/benchmark_train.sh [-m Tacotron2|WaveGlow] [--amp] [--cpu] [--batch-size N] ...
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m common.benchmark_train "$@"

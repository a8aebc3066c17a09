#!/usr/bin/env bash
# Exercise every CUDA path once and write a report (OUT/gpu_check.md and .json), in under 8 minutes on one
# GPU: AMP / TF32 / FP32 training steps and throughput of both models, DDP over nccl, fp16 and fp32 latency
# at small repeat counts, inference.py --fp16, fast against eager, fp16 TorchScript / ONNX exports.
#   bash scripts/gpu_check.sh [OUT]        (OUT defaults to gpu_check/)
# Exit status: 0 all passed or skipped, 1 a section failed (see the report), 2 no CUDA device.
# Extra flags after OUT pass through to python -m common.gpu_check (e.g. --budget-min 5).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gpu_check}
shift || true
exec python -m common.gpu_check -o "$OUT" "$@"

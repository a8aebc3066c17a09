#!/usr/bin/env bash
# Export trained checkpoints for deployment (see common/export/onnx_export.py for the graphs and their inputs):
#   scripts/export_models.sh torchscript --tacotron2 T2.pt --waveglow WG.pt -o exported/
#     -> tacotron2_torchscript.pt, waveglow_torchscript.pt (torch.jit.load)
#   scripts/export_models.sh onnx --tacotron2 T2.pt --waveglow WG.pt -o exported/ [--opset 17]
#     -> encoder.onnx, decoder_iter.onnx, postnet.onnx, waveglow.onnx
# Add --fp16 for half-precision weights. Paths are taken relative to the current directory.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

if [[ $# -lt 1 || ( "$1" != "torchscript" && "$1" != "onnx" ) ]]; then
  echo "usage: $0 torchscript|onnx [--tacotron2 CKPT] [--waveglow CKPT] -o DIR [--fp16] [--opset N]" >&2
  exit 2
fi

PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" exec python -m common.export "$@"

#!/usr/bin/env bash
# GPU inference latency matrix, as the reference: batch 1, 4, 8 x 128 characters x fp16, fp32, WN 256.
#   bash scripts/run_latency_tests.sh                       # random weights, decoder fixed at 602 steps
#   TACOTRON2=t2.pt WAVEGLOW=wg.pt bash scripts/run_latency_tests.sh   # trained checkpoints (gate stops)
# Environment: ITERATIONS (default 100), WARMUP (10), DECODER_STEPS (602 for random weights, the frames a
# trained model makes for 128 characters; ignored with checkpoints unless set), OUT (latency_results),
# CSV (OUT/latency_gpu.csv). Extra flags pass through to common.benchmark_infer.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "run_latency_tests.sh: no CUDA GPU; use scripts/run_latency_tests_cpu.sh" >&2
    exit 1
fi

OUT=${OUT:-latency_results}
CSV=${CSV:-$OUT/latency_gpu.csv}
models=()
[[ -n "${TACOTRON2:-}" ]] && models+=(--tacotron2 "$TACOTRON2")
[[ -n "${WAVEGLOW:-}" ]] && models+=(--waveglow "$WAVEGLOW")
steps=()
if [[ -n "${DECODER_STEPS:-}" ]]; then
    steps=(--decoder-steps "$DECODER_STEPS")
elif [[ -z "${TACOTRON2:-}" ]]; then
    steps=(--decoder-steps 602)
fi

for precision in fp16 fp32; do
    for batch in 1 4 8; do
        python -m common.benchmark_infer --batch-size "$batch" --input-length 128 --precision "$precision" \
            --iterations "${ITERATIONS:-100}" --warmup "${WARMUP:-10}" --wn-channels 256 \
            -o "$OUT" --log-file "nvlog_gpu_${precision}_bs${batch}.json" --csv "$CSV" \
            ${models[@]+"${models[@]}"} ${steps[@]+"${steps[@]}"} "$@"
    done
done
echo "results: $CSV"

#!/usr/bin/env bash
# CPU inference latency: batch 1 and 4 x 128 characters, fp32, full-size models (WaveGlow WN 256).
#   bash scripts/run_latency_tests_cpu.sh                   # random weights, decoder fixed at 40 steps
#   TACOTRON2=t2.pt WAVEGLOW=wg.pt bash scripts/run_latency_tests_cpu.sh
# Random weights need a fixed decoder length; 40 steps (0.46 s of audio per phrase) keeps the whole run at
# a few minutes on a 2-core machine (WaveGlow-256 makes roughly 1,500 samples/s per core).
# Environment: ITERATIONS (default 3), WARMUP (1), DECODER_STEPS (40), THREADS (torch CPU threads, default
# 1: reproducible, and far faster than 2 threads on a shared machine), OUT (latency_results),
# CSV (OUT/latency_cpu.csv). Extra flags pass through to common.benchmark_infer.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-latency_results}
CSV=${CSV:-$OUT/latency_cpu.csv}
models=()
[[ -n "${TACOTRON2:-}" ]] && models+=(--tacotron2 "$TACOTRON2")
[[ -n "${WAVEGLOW:-}" ]] && models+=(--waveglow "$WAVEGLOW")

start=$(date +%s)
for batch in 1 4; do
    python -m common.benchmark_infer --cpu --batch-size "$batch" --input-length 128 --precision fp32 \
        --iterations "${ITERATIONS:-3}" --warmup "${WARMUP:-1}" --decoder-steps "${DECODER_STEPS:-40}" \
        --wn-channels 256 --threads "${THREADS:-1}" \
        -o "$OUT" --log-file "nvlog_cpu_fp32_bs${batch}.json" --csv "$CSV" \
        ${models[@]+"${models[@]}"} "$@"
done
echo "results: $CSV (total $(( $(date +%s) - start )) s)"

#!/usr/bin/env bash
# waveglow, FP32 on 8 x V100 (reference recipe); extra flags pass through.
exec bash "$(dirname "$0")/launch.sh" waveglow FP32 V100 8 "$@"

#!/usr/bin/env bash
# waveglow, TF32 on 8 x A100 (reference recipe); extra flags pass through.
exec bash "$(dirname "$0")/launch.sh" waveglow TF32 A100 8 "$@"

#!/usr/bin/env bash
# tacotron2, TF32 on 4 x A100 (reference recipe); extra flags pass through.
exec bash "$(dirname "$0")/launch.sh" tacotron2 TF32 A100 4 "$@"

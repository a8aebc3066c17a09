#!/usr/bin/env bash
# tacotron2, AMP on 4 x A100 (reference recipe); extra flags pass through.
exec bash "$(dirname "$0")/launch.sh" tacotron2 AMP A100 4 "$@"

#!/usr/bin/env bash
# waveglow, AMP on 1 x A100 (reference recipe); extra flags pass through.
exec bash "$(dirname "$0")/launch.sh" waveglow AMP A100 1 "$@"

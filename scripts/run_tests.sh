#!/usr/bin/env bash
# Set up (with test tools) and run the whole test suite: `bash scripts/run_tests.sh [pytest args]`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
python3 -m ruff check .
python3 -m pytest -q "$@"

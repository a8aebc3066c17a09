"""`python -m common.benchmark_train`: the training throughput benchmark, which lives in
common/benchmarks/train.py (the README's command keeps its name)."""

import sys

from common.benchmarks.train import *  # noqa: F403  (the module's public names, for code written against this one)
from common.benchmarks.train import main

if __name__ == "__main__":
    sys.exit(main())

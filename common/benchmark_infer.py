"""`python -m common.benchmark_infer`: the inference latency benchmark, which lives in
common/benchmarks/infer.py (the README's command keeps its name)."""

import sys

from common.benchmarks.infer import *  # noqa: F403  (the module's public names, for code written against this one)
from common.benchmarks.infer import main

if __name__ == "__main__":
    sys.exit(main())

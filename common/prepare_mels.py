"""`python -m common.prepare_mels`: mel precomputation, which lives in
common/data_tools/prepare_mels.py (the README's command keeps its name)."""

import sys

from common.data_tools.prepare_mels import *  # noqa: F403  (the module's public names, for code written against this one)
from common.data_tools.prepare_mels import main

if __name__ == "__main__":
    sys.exit(main())

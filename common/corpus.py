"""`python -m common.corpus`: the offline speech corpus, which lives in
common/data_tools/corpus.py (the README's command keeps its name)."""

import sys

from common.data_tools.corpus import *  # noqa: F403  (the module's public names, for code written against this one)
from common.data_tools.corpus import main

if __name__ == "__main__":
    sys.exit(main())

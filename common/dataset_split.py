"""`python -m common.dataset_split`: LJSpeech filelists from the reference's split, which lives in
common/data_tools/dataset_split.py (the README's command keeps its name)."""

import sys

from common.data_tools.dataset_split import *  # noqa: F403  (the module's public names, for code written against this one)
from common.data_tools.dataset_split import main

if __name__ == "__main__":
    sys.exit(main())

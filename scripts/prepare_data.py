#!/usr/bin/env python
"""Prepare a TTS dataset (LJSpeech, Common Voice, your own recordings) or validate filelists.

    python scripts/prepare_data.py ljspeech --input data/LJSpeech-1.1 --output data/ljs_prepared
    python scripts/prepare_data.py common-voice --input cv-corpus/en --output data/cv_en --jobs 4
    python scripts/prepare_data.py custom --audio-dir rec/ --transcript rec/list.txt --output data/mine
    python scripts/prepare_data.py validate --filelist data/mine/filelists/train.txt -d data/mine

The work is done by :mod:`common.datasets.cli`; this file only makes the repository importable.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common.datasets.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())

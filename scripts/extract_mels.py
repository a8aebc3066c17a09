#!/usr/bin/env python
"""Teacher-forced Tacotron 2 mels for HiFi-GAN fine-tuning (``--fine-tuning --input-mels-dir DIR``).

    python scripts/extract_mels.py --tacotron2 CKPT -d DATASET --filelist FILELIST -o DIR

The work is done by :mod:`common.data_tools.extract_mels`; this file only makes the repository importable.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common.data_tools.extract_mels import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())

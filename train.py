#!/usr/bin/env python3
"""Train Tacotron 2 or WaveGlow under the reference's entry-point name: the same program as `run.py`.

The reference's commands paste unchanged, e.g. `python -m multiproc train.py -m Tacotron2 -o out/ ...`.
"""

from __future__ import annotations

import sys

from run import main

if __name__ == "__main__":
    sys.exit(main(prog="train.py"))

"""Shared pytest fixtures (audio)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import torch

SPEECH_TEXT = "The quick brown fox jumps over the lazy dog."


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short real speech recording (espeak-ng: 22050 Hz, mono, int16, about 2.5 s).

    Skips the test when espeak-ng is not installed.
    """
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng is not installed")
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run([exe, "-w", str(path), SPEECH_TEXT], check=True, capture_output=True, timeout=60)
    return path


# One thread: on a 2-core machine tiny models run many times faster without intra-op threading, and
# test timings do not depend on what else the machine is doing.
torch.set_num_threads(1)

pytest_plugins = ["corpus_fixtures"]

"""Session fixtures: a tiny offline corpus (espeak-ng) shared by the end-to-end tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from common.filelist import read_filelist, write_filelist


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An English two-speaker corpus of 16 utterances, plus `short_train.txt` / `short_val.txt` filelists
    of its shortest utterances (fast decoder loops) in `path|text` form."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    from common.corpus import build_corpus

    root = tmp_path_factory.mktemp("corpus")
    build_corpus(root, n_utterances=16, n_speakers=2, languages=["en"], seed=11, jobs=2, progress=False)
    entries = []
    for split in ("train", "val", "test"):
        entries += read_filelist(root / "filelists" / f"audio_text_{split}.txt")
    entries.sort(key=lambda e: (len(e.text), e.audio_path))
    write_filelist(root / "short_train.txt", entries[:6], multi_speaker=False)
    write_filelist(root / "short_val.txt", entries[6:8], multi_speaker=False)
    return root

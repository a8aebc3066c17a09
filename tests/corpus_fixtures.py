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
    from common.data_tools.corpus import build_corpus

    root = tmp_path_factory.mktemp("corpus")
    build_corpus(root, n_utterances=16, n_speakers=2, languages=["en"], seed=11, jobs=2, progress=False)
    entries = []
    for split in ("train", "val", "test"):
        entries += read_filelist(root / "filelists" / f"audio_text_{split}.txt")
    entries.sort(key=lambda e: (len(e.text), e.audio_path))
    write_filelist(root / "short_train.txt", entries[:6], multi_speaker=False)
    write_filelist(root / "short_val.txt", entries[6:8], multi_speaker=False)
    return root


@pytest.fixture(scope="session")
def en_ko_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An English + Korean corpus of 24 utterances (speaker spk00 speaks English, spk01 Korean), with
    filelists of each language's shortest utterances: `{en,ko}_{train,val}.txt` (`path|text`, 6 train and
    2 val each) and the same as `path|text|speaker|language` in `{en,ko}_{train,val}_spk.txt`."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    from common.data_tools.corpus import build_corpus

    root = tmp_path_factory.mktemp("corpus_en_ko")
    build_corpus(root, n_utterances=24, n_speakers=2, languages=["en", "ko"], seed=11, jobs=2, progress=False)
    entries = []
    for split in ("train", "val", "test"):
        entries += read_filelist(root / "filelists" / f"audio_text_speaker_language_{split}.txt")
    for language in ("en", "ko"):
        chosen = sorted((e for e in entries if e.language == language),
                        key=lambda e: (len(e.text), e.audio_path))
        for split, part in (("train", chosen[:6]), ("val", chosen[6:8])):
            write_filelist(root / f"{language}_{split}.txt", part, multi_speaker=False)
            write_filelist(root / f"{language}_{split}_spk.txt", part, multi_speaker=True)
    return root


@pytest.fixture(scope="session")
def multilingual_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """English + French, 3 speakers, each recording one language (spk00 en, spk01 fr, spk02 en), 18
    utterances; `ml_train.txt` (each speaker's 3 shortest) and `ml_val.txt` (each speaker's next one) in
    `path|text|speaker|language` form."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    from common.data_tools.corpus import build_corpus

    root = tmp_path_factory.mktemp("corpus_multilingual")
    build_corpus(root, n_utterances=18, n_speakers=3, languages=["en", "fr"], seed=3, jobs=2, progress=False,
                 speaker_languages="one")
    entries = []
    for split in ("train", "val", "test"):
        entries += read_filelist(root / "filelists" / f"audio_text_speaker_language_{split}.txt")
    by_speaker: dict[str, list] = {}
    for entry in sorted(entries, key=lambda e: (len(e.text), e.audio_path)):
        by_speaker.setdefault(entry.speaker, []).append(entry)
    speakers = sorted(by_speaker)
    train = [e for s in speakers for e in by_speaker[s][:3]]
    write_filelist(root / "ml_train.txt", train, multi_speaker=True)
    write_filelist(root / "ml_val.txt", [by_speaker[s][3] for s in speakers], multi_speaker=True)
    return root

"""Checks of the phrase files used for demos and latency benchmarks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PHRASES = Path(__file__).resolve().parent.parent / "phrases"
BENCH = [(batch, length) for batch in (1, 4, 8) for length in (64, 128, 256)]
# letters and punctuation the English cleaners keep unchanged (no digits: they would be expanded)
ALLOWED = re.compile(r"[A-Za-z ,.;:!?'\-]+")


def _lines(name: str) -> list[str]:
    text = (PHRASES / name).read_text(encoding="utf-8")
    assert text.endswith("\n") and "\r" not in text, f"{name}: expected LF line endings"
    return text[:-1].split("\n")


def _check_phrase(name: str, number: int, line: str) -> None:
    where = f"{name}:{number}"
    assert line == line.strip() and "  " not in line, f"{where}: stray whitespace"
    assert ALLOWED.fullmatch(line), f"{where}: unexpected character in {line!r}"
    assert line[0].isupper() and line[-1] in ".!?", f"{where}: not a full sentence: {line!r}"


@pytest.mark.parametrize(("batch", "length"), BENCH)
def test_benchmark_phrase_files(batch: int, length: int) -> None:
    name = f"phrase_{batch}_{length}.txt"
    lines = _lines(name)
    assert len(lines) == batch, f"{name}: {len(lines)} lines, expected {batch}"
    for number, line in enumerate(lines, start=1):
        _check_phrase(name, number, line)
        assert abs(len(line) - length) <= 3, f"{name}:{number}: {len(line)} characters, expected {length}+-3"
    assert len(set(lines)) == batch, f"{name}: repeated phrase"


def test_demo_phrases() -> None:
    lines = _lines("phrase.txt")
    assert len(lines) == 4
    for number, line in enumerate(lines, start=1):
        _check_phrase("phrase.txt", number, line)
        assert 20 <= len(line) <= 256


def test_no_sentence_repeats_across_files() -> None:
    names = ["phrase.txt"] + [f"phrase_{b}_{n}.txt" for b, n in BENCH]
    all_lines = [line for name in names for line in _lines(name)]
    assert len(all_lines) == 4 + 3 * (1 + 4 + 8)
    assert len(set(all_lines)) == len(all_lines)


def test_heldout_sentences_are_not_in_the_corpus_text() -> None:
    """The quickstart's intelligibility test set: 20 English sentences the offline corpus never says
    (its generator, seed 1234, for up to 5000 English utterances)."""
    from common.data_tools.corpus_text import generate_sentences

    lines = _lines("heldout_en.txt")
    assert len(lines) == len(set(lines)) == 20
    assert not set(lines) & set(generate_sentences("en", 5000, seed=1234))


def test_readme_names_every_file() -> None:
    readme = (PHRASES / "README.md").read_text(encoding="utf-8")
    assert "phrase.txt" in readme and "phrase_B_L.txt" in readme and "heldout_en.txt" in readme
    assert sorted(p.name for p in PHRASES.glob("*.txt")) == sorted(
        ["phrase.txt", "heldout_en.txt"] + [f"phrase_{b}_{n}.txt" for b, n in BENCH]
    )

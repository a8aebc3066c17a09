"""Input text for synthesis: phrases (one per line, optional speaker/language), sentence splitting,
joining audio chunks (common.synthesis)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from common.synthesis.checkpoints import (
    SynthesisError,
)

# ------------------------------------------------------------------------------------------------- text

@dataclass(frozen=True)
class Phrase:
    """One input phrase and where it came from (for messages): ``source`` line ``line`` (1-based)."""

    text: str
    line: int
    source: str = "input"
    speaker: str | None = None  # per-line speaker and language (`text|speaker|language` lines)
    language: str | None = None

    @property
    def where(self) -> str:
        return f"{self.source} line {self.line}"


def describe_lines(phrases: Sequence[Phrase]) -> str:
    """"in.txt lines 1, 3" (grouped by source) for messages about several phrases."""
    by_source: dict[str, list[int]] = {}
    for phrase in phrases:
        by_source.setdefault(phrase.source, []).append(phrase.line)
    return "; ".join(f"{source} line{'s' if len(lines) > 1 else ''} {', '.join(map(str, lines))}"
                     for source, lines in by_source.items())


def read_phrases(lines: Iterable[str], source: str = "input") -> tuple[list[Phrase], list[int]]:
    """Non-blank lines as phrases, and the (1-based) numbers of the blank lines that were skipped.

    A line may name its speaker and language: `text|speaker|language` (or `text|speaker`); empty fields
    fall back to the run's `--speaker` / `--language`.
    """
    phrases, skipped = [], []
    for number, line in enumerate(lines, start=1):
        fields = line.strip().split("|")
        if len(fields) > 3:
            raise SynthesisError(f"{source} line {number}: expected text, text|speaker or "
                                 f"text|speaker|language, got {len(fields)} '|'-separated fields")
        text = fields[0].strip()
        speaker = (fields[1].strip() or None) if len(fields) > 1 else None
        language = (fields[2].strip() or None) if len(fields) > 2 else None
        if text:
            phrases.append(Phrase(text, number, source, speaker, language))
        elif len(fields) > 1:
            raise SynthesisError(f"{source} line {number}: empty text before '|'")
        else:
            skipped.append(number)
    return phrases, skipped


_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")
_COMMA = re.compile(r"(?<=,)\s+")
_SPACE_OUTSIDE_BRACES = re.compile(r"\s+(?![^{}]*\})")  # keeps "{HH AH0 L OW1}" in one piece


def _pack(pieces: Iterable[str], limit: int) -> list[str]:
    """Greedily join consecutive pieces with spaces up to ``limit`` characters; break longer pieces at
    word boundaries, and cut single words longer than ``limit``."""
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if not piece:
            continue
        if len(piece) > limit:
            if current:
                chunks.append(current)
                current = ""
            words = _SPACE_OUTSIDE_BRACES.split(piece)
            if len(words) > 1:
                chunks.extend(_pack(words, limit))
            else:
                chunks.extend(piece[i:i + limit] for i in range(0, len(piece), limit))
            continue
        candidate = f"{current} {piece}" if current else piece
        if len(candidate) <= limit:
            current = candidate
        else:
            chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return chunks


def split_sentences(text: str, max_chars: int = 200) -> list[str]:
    """Split text longer than ``max_chars`` characters into chunks the model can say in one go.

    Text that fits is returned whole (whitespace collapsed). Otherwise it is split after ``. ! ? ;``
    (each sentence its own chunk); a sentence still too long is split after commas, and the comma pieces
    are packed back together up to ``max_chars``; a piece still too long is split between words (ARPAbet
    in braces stays whole), and a single word longer than ``max_chars`` is cut. The limit applies to the
    raw text, before cleaning (number expansion can lengthen it).
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be >= 1, got {max_chars}")
    text = " ".join(text.split())
    if not text:
        return []
    if len(text) <= max_chars:
        return [text]
    chunks: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        if len(sentence) <= max_chars:
            chunks.append(sentence)
        else:
            chunks.extend(_pack(_COMMA.split(sentence), max_chars))
    return [c for c in chunks if c]


def join_audio(chunks: Sequence[Tensor], sampling_rate: int, pause_seconds: float = 0.15) -> Tensor:
    """Concatenate 1-D audio chunks with ``round(pause_seconds * sampling_rate)`` zeros between them."""
    if not chunks:
        return torch.zeros(0)
    if len(chunks) == 1:
        return chunks[0]
    pause = torch.zeros(int(round(pause_seconds * sampling_rate)), dtype=chunks[0].dtype)
    parts: list[Tensor] = []
    for i, chunk in enumerate(chunks):
        if i:
            parts.append(pause)
        parts.append(chunk)
    return torch.cat(parts)



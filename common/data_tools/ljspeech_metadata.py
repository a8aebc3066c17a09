"""LJSpeech's ``metadata.csv``, read in one place for the dataset split and the dataset adapter.

Lines are ``id|text|normalized text``, split on ``|`` only (LJSpeech texts hold quotes, so a CSV reader
would mangle them); fields are stripped, blank lines skipped, every malformed line listed in one error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common.filelist import malformed_lines_message, read_numbered_lines

__all__ = ["MetadataRow", "read_ljspeech_metadata_rows"]


@dataclass(frozen=True)
class MetadataRow:
    """One ``metadata.csv`` line; ``where`` is ``file:line``."""

    id: str
    text: str
    normalized: str
    where: str


def read_ljspeech_metadata_rows(path: str | Path, error: type[Exception], not_found: str, unreadable: str,
                                require_normalized: bool = True) -> list[MetadataRow]:
    """The rows of ``path``; a malformed line (wrong field count, empty id, an id used twice) raises one
    ``error`` listing them all, a missing or unreadable file ``error(not_found)`` / ``error(unreadable)``
    (format strings, as `read_numbered_lines` takes them).

    With ``require_normalized`` every line needs its three fields and a normalized text; without, a line
    may stop after the text (``id|text``; ``normalized`` is then empty).
    """
    path = Path(path)
    lines = read_numbered_lines(path, error, not_found=not_found, unreadable=unreadable)
    rows: list[MetadataRow] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for number, line in lines:
        where = f"{path}:{number}"
        fields = [f.strip() for f in line.split("|")]
        if require_normalized and len(fields) != 3:
            problems.append(f"{where}: expected 3 fields id|text|normalized text, got {len(fields)}: "
                            f"{line.strip()[:80]!r}")
            continue
        if len(fields) not in (2, 3):
            problems.append(f"{where}: expected id|text|normalized text, got {len(fields)} fields: "
                            f"{line.strip()[:80]!r}")
            continue
        utt_id, text = fields[0], fields[1]
        normalized = fields[2] if len(fields) == 3 else ""
        if not utt_id:
            problems.append(f"{where}: empty id")
        elif require_normalized and not normalized:
            problems.append(f"{where}: empty normalized text")
        elif utt_id in seen:
            problems.append(f"{where}: id {utt_id} already used on line {seen[utt_id]}")
        else:
            seen[utt_id] = number
            rows.append(MetadataRow(utt_id, text, normalized, where))
    if problems:
        raise error(malformed_lines_message(problems, "metadata"))
    if not rows:
        raise error(f"{path}: no utterances")
    return rows

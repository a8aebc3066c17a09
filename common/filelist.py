"""Filelists: the suite's index of utterances, one per line, fields separated by `|`.

Two layouts are read:
- `path|text` (the reference's format; `path` is a wav or a precomputed mel `.pt`),
- `path|text|speaker|language` (multi-speaker, multilingual).
Paths are relative to the dataset folder (`-d/--dataset-path`) unless absolute.
Errors name the file and line, so a bad corpus is fixed in one look.
"""

from __future__ import annotations

import argparse
import codecs
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from common.io_errors import atomic_write_text

FIELD_COUNTS = (2, 4)


class FilelistError(ValueError):
    """A filelist that cannot be read or has a malformed line."""


@dataclass(frozen=True)
class FilelistEntry:
    """One utterance of a filelist: where its audio (or mel) is and what is said."""

    audio_path: str
    text: str
    speaker: str | None = None
    language: str | None = None
    source: str = ""
    line: int = 0

    @property
    def where(self) -> str:
        """`file:line` of this entry, for error messages."""
        return f"{self.source}:{self.line}" if self.source else f"line {self.line}"

    def to_line(self, multi_speaker: bool) -> str:
        """The entry as a filelist line (without newline)."""
        if not multi_speaker:
            return f"{self.audio_path}|{self.text}"
        if self.speaker is None or self.language is None:
            raise FilelistError(f"{self.where}: multi-speaker line needs a speaker and a language")
        return f"{self.audio_path}|{self.text}|{self.speaker}|{self.language}"


def parse_line(line: str, source: str = "", line_no: int = 0) -> FilelistEntry:
    """Parse one filelist line; raise FilelistError naming `source:line_no` when malformed."""
    where = f"{source}:{line_no}" if source else f"line {line_no}"
    fields = line.rstrip("\r\n").split("|")
    if len(fields) not in FIELD_COUNTS:
        raise FilelistError(
            f"{where}: expected 2 fields (path|text) or 4 fields (path|text|speaker|language), "
            f"got {len(fields)}: {line.strip()[:80]!r}"
        )
    path, text = fields[0].strip(), fields[1].strip()
    if not path:
        raise FilelistError(f"{where}: empty audio path")
    if not text:
        raise FilelistError(f"{where}: empty transcript for {path}")
    speaker = language = None
    if len(fields) == 4:
        speaker, language = fields[2].strip(), fields[3].strip()
        if not speaker or not language:
            raise FilelistError(f"{where}: empty speaker or language field for {path}")
    return FilelistEntry(path, text, speaker, language, source, line_no)


def undecodable_line(data: bytes, err: UnicodeDecodeError) -> str:
    """Where and what the undecodable bytes of ``data`` are, by line and column (1-based) rather than by
    byte offset: ``line 3 is not valid utf-8 (byte 0xff at column 7: invalid start byte)``."""
    line_start = data.rfind(b"\n", 0, err.start) + 1
    line = data.count(b"\n", 0, err.start) + 1
    column = len(data[line_start:err.start].decode(err.encoding, errors="replace")) + 1
    return (f"line {line} is not valid {err.encoding} (byte 0x{data[err.start]:02x} at column {column}: "
            f"{err.reason})")


def decode_text(data: bytes, encoding: str = "utf-8-sig") -> str:
    """``data`` decoded (with the default, a UTF-8 byte order mark is dropped); undecodable bytes raise
    ValueError naming their line (``undecodable_line``)."""
    if encoding.replace("-", "").lower() == "utf8sig":  # decoded as utf-8 so error offsets index `data`
        data, encoding = data.removeprefix(codecs.BOM_UTF8), "utf-8"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        raise ValueError(undecodable_line(data, err)) from None


def read_numbered_lines(
    path: str | Path,
    error: type[Exception],
    not_found: str,
    unreadable: str,
    encoding: str = "utf-8-sig",
    comments: bool = False,
) -> list[tuple[int, str]]:
    """``(line number from 1, line)`` for the non-blank lines of a text file (with ``comments``, lines
    starting with ``#`` are skipped too). A UTF-8 byte order mark before line 1 is dropped.

    A missing file raises ``error(not_found)``, an unreadable or undecodable one ``error(unreadable)``;
    both are format strings given ``{path}`` (and ``{err}``, the OS error or the undecodable line, for
    ``unreadable``).
    """
    path = Path(path)
    try:
        lines = decode_text(path.read_bytes(), encoding).splitlines()
    except FileNotFoundError:
        raise error(not_found.format(path=path)) from None
    except (OSError, ValueError) as err:
        raise error(unreadable.format(path=path, err=err)) from None
    return [
        (number, line)
        for number, line in enumerate(lines, start=1)
        if line.strip() and not (comments and line.lstrip().startswith("#"))
    ]


def malformed_lines_message(problems: Sequence[str], what: str, limit: int = 20) -> str:
    """One message for many bad lines: ``N malformed WHAT line(s):`` and the first ``limit`` problems,
    one an indented line, the rest counted."""
    more = f"\n  ... and {len(problems) - limit} more" if len(problems) > limit else ""
    return f"{len(problems)} malformed {what} line(s):\n  " + "\n  ".join(problems[:limit]) + more


def read_filelist(path: str | Path) -> list[FilelistEntry]:
    """Read every non-blank line of a filelist. Lines starting with `#` are comments."""
    path = Path(path)
    numbered = read_numbered_lines(path, FilelistError, not_found="filelist not found: {path}",
                                   unreadable="cannot read filelist {path}: {err}", comments=True)
    entries = [parse_line(line, str(path), i) for i, line in numbered]
    if not entries:
        raise FilelistError(f"filelist {path} has no entries")
    return entries


def entries_and_source(filelist: str | Path | Iterable[FilelistEntry]) -> tuple[list[FilelistEntry], str]:
    """A dataset's entries, from a filelist path or given entries, and the name its errors cite."""
    if isinstance(filelist, str | Path):
        return read_filelist(filelist), str(filelist)
    entries = list(filelist)
    return entries, entries[0].source if entries else "<entries>"


def write_filelist(path: str | Path, entries: Iterable[FilelistEntry], multi_speaker: bool) -> None:
    """Write entries as `path|text` or `path|text|speaker|language` lines (atomically: a failure leaves
    the previous file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(e.to_line(multi_speaker) + "\n" for e in entries))


def resolve_path(dataset_path: str | Path, audio_path: str | Path) -> Path:
    """Absolute paths stay as they are; relative ones are joined to the dataset folder."""
    audio_path = Path(audio_path)
    return audio_path if audio_path.is_absolute() else Path(dataset_path) / audio_path


def select(entries: Iterable[FilelistEntry], languages: Iterable[str] | None = None,
           speakers: Iterable[str] | None = None) -> list[FilelistEntry]:
    """Entries whose language and speaker are among those given (None keeps all)."""
    languages = set(languages) if languages else None
    speakers = set(speakers) if speakers else None
    return [e for e in entries
            if (languages is None or e.language in languages) and (speakers is None or e.speaker in speakers)]


def main(argv: list[str] | None = None) -> int:
    """`python -m common.filelist filter IN OUT [--language en] [--speaker s0] [--single]`."""
    parser = argparse.ArgumentParser(prog="python -m common.filelist", description="Filter a filelist.")
    sub = parser.add_subparsers(dest="command", required=True)
    flt = sub.add_parser("filter", help="keep the lines of some languages and/or speakers")
    flt.add_argument("input")
    flt.add_argument("output")
    flt.add_argument("--language", nargs="*", default=None)
    flt.add_argument("--speaker", nargs="*", default=None)
    flt.add_argument("--single", action="store_true", help="write path|text lines (drop speaker, language)")
    args = parser.parse_args(argv)
    try:
        entries = read_filelist(args.input)
        if (args.language or args.speaker) and any(e.language is None for e in entries):
            raise FilelistError(f"{args.input}: --language/--speaker need path|text|speaker|language lines")
        kept = select(entries, args.language, args.speaker)
        if not kept:
            raise FilelistError(f"{args.input}: no line matches --language {args.language} "
                                f"--speaker {args.speaker}")
        write_filelist(args.output, kept, multi_speaker=not args.single)
    except FilelistError as err:
        parser.error(str(err))
    print(f"{args.output}: {len(kept)} of {len(entries)} lines")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

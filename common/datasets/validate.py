"""Check filelists and their audio before training, and say exactly what is wrong and where.

Errors (the check fails): malformed lines, empty transcripts, missing files, unreadable audio, a sampling
rate other than ``--sampling-rate``, more than one channel, clips shorter than ``--min-duration``, letters
or digits (or braced ARPAbet phonemes) outside the symbol set after cleaning, and a path listed twice (also
across filelists, which catches train/val leakage). Warnings (fail only with ``--strict``): clips longer than
``--max-duration``, punctuation that the cleaners leave and the symbol set lacks (it is dropped silently),
silent audio, a filelist that mixes the 2- and 4-field layouts.

Every issue carries ``file:line``. The report also counts utterances and hours per speaker and language.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from common.audio_config import DEFAULT_AUDIO
from common.datasets.manifest import DatasetError, run_parallel
from common.filelist import read_numbered_lines
from common.text import (  # slow (inflect): import late
    SymbolTable,
    UnknownCleanerError,
    clean_text,
    get_cleaner,
)

__all__ = [
    "AudioFacts",
    "Issue",
    "ValidationReport",
    "inspect_audio",
    "unknown_symbols",
    "validate_filelists",
]

ERROR = "error"
WARNING = "warning"
SILENCE_PEAK = 1e-4
NO_SPEAKER = "-"
_ARPABET_RE = re.compile(r"\{([^{}]*)\}")
_ARPABET_PREFIX = "@"


@dataclass(frozen=True)
class Issue:
    """One problem: ``severity`` is ``error`` or ``warning``; ``where`` is ``file:line``."""

    severity: str
    kind: str
    where: str
    message: str
    path: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def format(self) -> str:
        return f"{self.severity.upper():7s} {self.where}: [{self.kind}] {self.message}"


@dataclass(frozen=True)
class AudioFacts:
    """What one audio file holds; ``peak`` is None when only the header was read."""

    sampling_rate: int
    channels: int
    frames: int
    duration: float
    peak: float | None = None


@dataclass(frozen=True)
class _Entry:
    path: str
    text: str
    speaker: str | None
    language: str | None
    where: str
    resolved: str


@dataclass
class ValidationReport:
    """The outcome of :func:`validate_filelists`; ``ok`` decides the exit status."""

    filelists: list[str]
    dataset_path: str
    settings: dict[str, Any]
    strict: bool = False
    n_lines: int = 0
    n_entries: int = 0
    issues: list[Issue] = field(default_factory=list)
    per_speaker: dict[str, dict[str, float]] = field(default_factory=dict)
    per_language: dict[str, dict[str, float]] = field(default_factory=dict)
    total_seconds: float = 0.0

    def add(self, severity: str, kind: str, where: str, message: str, path: str = "",
            **details: Any) -> None:
        self.issues.append(Issue(severity, kind, where, message, path, details))

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == ERROR]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == WARNING]

    @property
    def ok(self) -> bool:
        """No errors (and, with ``strict``, no warnings either)."""
        return not self.errors and not (self.strict and self.warnings)

    def counts(self, severity: str) -> dict[str, int]:
        return dict(sorted(Counter(i.kind for i in self.issues if i.severity == severity).items()))

    @property
    def hours(self) -> float:
        return self.total_seconds / 3600.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(ok=self.ok, hours=self.hours, n_errors=len(self.errors), n_warnings=len(self.warnings),
                    errors_by_kind=self.counts(ERROR), warnings_by_kind=self.counts(WARNING))
        return data

    def _position(self, issue: Issue) -> tuple[int, int]:
        """(filelist index, line) of an issue, to list issues in file order."""
        file, _, line = issue.where.rpartition(":")
        index = self.filelists.index(file) if file in self.filelists else len(self.filelists)
        return index, int(line) if line.isdigit() else 0

    def format(self, max_issues: int = 50) -> str:
        """A readable report: totals, per-speaker and per-language tables, then the issues."""
        lines = [f"validated {len(self.filelists)} filelist(s): {self.n_entries} entries on {self.n_lines} "
                 f"lines, {self.hours:.3f} h of audio ({self.total_seconds:.1f} s); paths relative to "
                 f"{self.dataset_path}"]
        for title, table in (("speaker", self.per_speaker), ("language", self.per_language)):
            if not table:
                continue
            width = max(len(title), *(len(k) for k in table))
            lines.append(f"  {title:<{width}s}  utterances      hours")
            for name, row in table.items():
                hours = row["seconds"] / 3600
                lines.append(f"  {name:<{width}s}  {int(row['utterances']):10d}  {hours:9.4f}")
        for severity in (ERROR, WARNING):
            counts = self.counts(severity)
            summary = ", ".join(f"{k} {v}" for k, v in counts.items()) if counts else "none"
            lines.append(f"  {severity}s: {sum(counts.values())} ({summary})")
        ordered = sorted(self.errors, key=self._position) + sorted(self.warnings, key=self._position)
        lines += ["  " + issue.format() for issue in ordered[:max_issues]]
        if len(ordered) > max_issues:
            lines.append(f"  ... {len(ordered) - max_issues} more issues (write them all with --report)")
        if self.ok:
            lines.append("result: OK" + (f" ({len(self.warnings)} warnings)" if self.warnings else ""))
        else:
            why = (f"{len(self.errors)} errors" if self.errors
                   else f"{len(self.warnings)} warnings with --strict")
            lines.append(f"result: FAILED ({why})")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------
# Pieces


def inspect_audio(path: str, decode: bool = True) -> AudioFacts:
    """Header facts of an audio file, and with ``decode`` its peak after reading every sample (a worker).

    A ``.pt`` file is taken as a precomputed mel: it must hold a 2-D tensor (its frames are reported, with
    a zero rate and duration, since the hop length is not known here).
    """
    if path.endswith(".pt"):
        return _inspect_mel(path)
    try:
        info = sf.info(path)
    except (sf.SoundFileError, RuntimeError) as exc:
        raise DatasetError(f"cannot read audio header ({_libsndfile_detail(exc)})") from None
    peak = None
    if decode:
        try:
            data, _ = sf.read(path, dtype="float32", always_2d=True)
        except (sf.SoundFileError, RuntimeError) as exc:
            raise DatasetError(f"cannot decode audio ({_libsndfile_detail(exc)})") from None
        if data.shape[0] != info.frames:
            raise DatasetError(f"truncated audio: header says {info.frames} frames, {data.shape[0]} decoded")
        if not np.all(np.isfinite(data)):
            raise DatasetError("audio contains NaN or infinite samples")
        peak = float(np.max(np.abs(data))) if data.size else 0.0
    duration = info.frames / info.samplerate if info.samplerate else 0.0
    return AudioFacts(int(info.samplerate), int(info.channels), int(info.frames), duration, peak)


def _libsndfile_detail(exc: BaseException) -> str:
    text = str(exc)
    detail = text.split(": ", 1)[-1] if text.startswith("Error opening") else text
    return "not a recognised or intact audio file" if "does not exist" in detail else detail


def _inspect_mel(path: str) -> AudioFacts:
    # deferred: torch takes seconds to import; only .pt mels need it
    import torch

    try:
        mel = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise DatasetError(f"cannot load mel ({type(exc).__name__}: {exc})") from None
    if not isinstance(mel, torch.Tensor) or mel.dim() != 2:
        shape = tuple(mel.shape) if isinstance(mel, torch.Tensor) else type(mel).__name__
        raise DatasetError(f"a mel file must hold a 2-D tensor (n_mel_channels, frames), got {shape}")
    return AudioFacts(0, 1, int(mel.shape[1]), 0.0, None)


def unknown_symbols(text: str, cleaner_names: Sequence[str], table: Any) -> tuple[list[str], int]:
    """(symbols of ``text`` missing from ``table`` after cleaning, number of symbols kept).

    Plain text is cleaned and checked per character; ``{...}`` parts are ARPAbet phonemes, reported in
    braces (``{XX1}``) when the table lacks them.
    """
    unknown: list[str] = []
    kept = 0
    for i, part in enumerate(_ARPABET_RE.split(text)):
        if i % 2:
            for phone in part.split():
                if _ARPABET_PREFIX + phone.upper() in table:
                    kept += 1
                else:
                    unknown.append("{" + phone + "}")
        elif part:
            for ch in clean_text(part, cleaner_names):
                if ch in table:
                    kept += ch != " "
                else:
                    unknown.append(ch)
    return unknown, kept


def _describe(symbols: list[str]) -> str:
    counts = Counter(symbols)
    parts = []
    for sym, n in counts.most_common():
        code = f" U+{ord(sym):04X}" if len(sym) == 1 else ""
        parts.append(f"{sym!r}{code} x{n}")
    return ", ".join(parts)


def _parse_filelist(path: Path, dataset_path: Path, report: ValidationReport) -> list[_Entry]:
    numbered = read_numbered_lines(path, DatasetError, not_found="--filelist {path}: file not found",
                                   unreadable="--filelist {path}: cannot read ({err})", comments=True)
    entries: list[_Entry] = []
    layouts: dict[int, int] = {}
    for number, line in numbered:
        report.n_lines += 1
        where = f"{path}:{number}"
        fields = [f.strip() for f in line.split("|")]
        if len(fields) not in (2, 4):
            report.add(ERROR, "malformed_line", where, f"expected 2 fields (path|text) or 4 "
                       f"(path|text|speaker|language), got {len(fields)}: {line.strip()[:80]!r}")
            continue
        if not fields[0]:
            report.add(ERROR, "malformed_line", where, "empty audio path")
            continue
        speaker = language = None
        if len(fields) == 4:
            speaker, language = fields[2], fields[3]
            if not speaker or not language:
                report.add(ERROR, "malformed_line", where, "empty speaker or language field", fields[0])
                continue
        layouts.setdefault(len(fields), number)
        resolved = os.path.normpath(os.path.abspath(dataset_path / fields[0]))
        entries.append(_Entry(fields[0], fields[1], speaker, language, where, resolved))
    if len(layouts) > 1:
        report.add(WARNING, "mixed_layout", f"{path}:{layouts[4]}", "this filelist mixes path|text lines "
                   f"(first at line {layouts[2]}) with path|text|speaker|language lines")
    if not entries and not any(i.where.startswith(f"{path}:") for i in report.issues):
        report.add(ERROR, "empty_filelist", f"{path}:0", "the filelist has no entries")
    return entries


def _check_text(entry: _Entry, cleaners: Sequence[str], cleaner_label: str, table: Any,
                report: ValidationReport) -> None:
    if not entry.text:
        report.add(ERROR, "empty_transcript", entry.where, f"empty transcript for {entry.path}", entry.path)
        return
    unknown, kept = unknown_symbols(entry.text, cleaners, table)
    if unknown:
        serious = any(len(s) > 1 or s.isalnum() for s in unknown)
        report.add(ERROR if serious else WARNING, "unknown_characters", entry.where,
                   f"outside the symbol set after {cleaner_label} (dropped in training): "
                   f"{_describe(unknown)}",
                   entry.path, characters=sorted(set(unknown)))
    if kept == 0:
        report.add(ERROR, "empty_transcript", entry.where,
                   f"nothing but spaces is left of {entry.text[:60]!r} after {cleaner_label}", entry.path)


def _check_audio(entry: _Entry, facts: AudioFacts, sampling_rate: int, min_duration: float,
                 max_duration: float, report: ValidationReport) -> None:
    where, path = entry.where, entry.path
    if facts.sampling_rate == 0:  # a mel file: nothing else to check here
        return
    if facts.sampling_rate != sampling_rate:
        report.add(ERROR, "sampling_rate", where, f"{path}: {facts.sampling_rate} Hz, expected "
                   f"--sampling-rate {sampling_rate}", path, sampling_rate=facts.sampling_rate)
    if facts.channels != 1:
        report.add(ERROR, "channels", where, f"{path}: {facts.channels} channels, expected mono", path,
                   channels=facts.channels)
    if facts.duration < min_duration:
        report.add(ERROR, "too_short", where, f"{path}: {facts.duration:.3f} s < --min-duration "
                   f"{min_duration:g} s", path, duration=facts.duration)
    elif facts.duration > max_duration:
        report.add(WARNING, "too_long", where, f"{path}: {facts.duration:.3f} s > --max-duration "
                   f"{max_duration:g} s", path, duration=facts.duration)
    if facts.peak is not None and facts.peak < SILENCE_PEAK:
        report.add(WARNING, "silent_audio", where, f"{path}: silent (peak {facts.peak:.2g})", path)


def _tally(table: dict[str, dict[str, float]], name: str, seconds: float) -> None:
    row = table.setdefault(name, {"utterances": 0, "seconds": 0.0})
    row["utterances"] += 1
    row["seconds"] += seconds


# ---------------------------------------------------------------------------------------------------------
# Entry point


def validate_filelists(filelists: Sequence[str | Path], dataset_path: str | Path = ".",
                       sampling_rate: int = DEFAULT_AUDIO.sampling_rate, min_duration: float = 0.3,
                       max_duration: float = 20.0,
                       text_cleaners: Sequence[str] = ("english_cleaners",), decode: bool = True,
                       strict: bool = False, jobs: int = 1, progress: bool = True,
                       table: Any = None) -> ValidationReport:
    """Check every line of ``filelists`` (paths relative to ``dataset_path``) and their audio files.

    ``table`` is the symbol set (default: the 148-symbol table). Raises DatasetError for unusable
    arguments (a missing filelist, an unknown cleaner); problems in the data are issues in the report.
    """
    if not filelists:
        raise DatasetError("--filelist needs at least one file")
    for filelist in filelists:
        if not Path(filelist).is_file():
            raise DatasetError(f"--filelist {filelist}: file not found")
    if sampling_rate <= 0:
        raise DatasetError(f"--sampling-rate must be positive, got {sampling_rate}")
    if min_duration < 0 or max_duration <= min_duration:
        raise DatasetError(f"need 0 <= --min-duration < --max-duration, got {min_duration} and "
                           f"{max_duration}")

    cleaners = list(text_cleaners)
    try:
        for name in cleaners:
            get_cleaner(name)
    except UnknownCleanerError as err:
        raise DatasetError(f"--text-cleaners: {err}") from None
    table = table if table is not None else SymbolTable.default()
    dataset = Path(dataset_path)
    if not dataset.is_dir():
        raise DatasetError(f"--dataset-path {dataset}: not a folder")

    report = ValidationReport([str(f) for f in filelists], str(dataset), {
        "sampling_rate": sampling_rate, "min_duration": min_duration, "max_duration": max_duration,
        "text_cleaners": cleaners, "decode": decode,
    }, strict=strict)
    entries: list[_Entry] = []
    for filelist in filelists:
        entries += _parse_filelist(Path(filelist), dataset, report)
    report.n_entries = len(entries)

    cleaner_label = "+".join(cleaners) if cleaners else "no cleaners"
    first_at: dict[str, _Entry] = {}
    for entry in entries:
        _check_text(entry, cleaners, cleaner_label, table, report)
        if entry.resolved in first_at:
            report.add(ERROR, "duplicate_path", entry.where, f"{entry.path} is already listed at "
                       f"{first_at[entry.resolved].where}", entry.path)
        else:
            first_at[entry.resolved] = entry

    present = []
    for resolved, entry in first_at.items():
        if not os.path.isfile(resolved):
            report.add(ERROR, "missing_file", entry.where, f"{entry.path}: file not found "
                       f"(looked for {resolved})", entry.path)
        else:
            present.append(resolved)
    results = run_parallel(_inspect_task, [(p, decode) for p in present], jobs=jobs, desc="checking audio",
                           progress=progress)
    facts: dict[str, AudioFacts] = {}
    for resolved, result in zip(present, results):
        entry = first_at[resolved]
        if result.error is not None:
            report.add(ERROR, "unreadable_audio", entry.where, f"{entry.path}: {result.error}", entry.path)
        else:
            assert result.value is not None
            facts[resolved] = result.value
            _check_audio(entry, result.value, sampling_rate, min_duration, max_duration, report)

    for entry in entries:
        seconds = facts[entry.resolved].duration if entry.resolved in facts else 0.0
        _tally(report.per_speaker, entry.speaker or NO_SPEAKER, seconds)
        _tally(report.per_language, entry.language or NO_SPEAKER, seconds)
        report.total_seconds += seconds
    report.per_speaker = dict(sorted(report.per_speaker.items()))
    report.per_language = dict(sorted(report.per_language.items()))
    return report


def _inspect_task(task: tuple[str, bool]) -> AudioFacts:
    return inspect_audio(*task)

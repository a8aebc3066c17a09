"""Your own recordings -> wavs, filelists and manifest.

The transcript has one utterance per line, ``file|text`` or ``file|speaker|text`` (both may be mixed;
``file|text`` lines get ``--speaker``). ``file`` is relative to ``--audio-dir`` (or absolute); without an
extension, ``.wav``, ``.flac``, ``.ogg`` and ``.mp3`` are tried. Blank lines and lines starting with ``#``
are ignored. Any format soundfile or librosa reads is converted like Common Voice clips; the wav of
``sub/name.flac`` is ``OUT/wavs/sub_name.wav``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from common.datasets.convert import (
    Candidate,
    ConversionSettings,
    check_previous_settings,
    convert_candidates,
)
from common.datasets.manifest import (
    DatasetError,
    PrepareReport,
    check_fractions,
    clean_field,
    write_dataset,
)
from common.filelist import malformed_lines_message, read_numbered_lines

__all__ = ["TranscriptLine", "prepare_custom", "read_transcript", "utterance_id"]

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
DEFAULT_SPEAKER = "speaker0"
_UNSAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class TranscriptLine:
    """One transcript line (``where`` is ``file:line``); ``speaker`` is None on ``file|text`` lines."""

    file: str
    speaker: str | None
    text: str
    where: str


def read_transcript(path: str | Path) -> list[TranscriptLine]:
    """Parse the transcript; all malformed lines are listed in one DatasetError (``file:line: problem``)."""
    path = Path(path)
    lines = read_numbered_lines(
        path, DatasetError, not_found="--transcript {path}: file not found",
        unreadable="--transcript {path}: cannot read ({err})", encoding="utf-8-sig", comments=True,
    )
    entries: list[TranscriptLine] = []
    problems: list[str] = []
    for number, line in lines:
        where = f"{path}:{number}"
        fields = [f.strip() for f in line.split("|")]
        if len(fields) not in (2, 3):
            problems.append(f"{where}: expected file|text or file|speaker|text, got {len(fields)} fields: "
                            f"{line.strip()[:80]!r}")
            continue
        file, text = fields[0], fields[-1]
        speaker = fields[1] if len(fields) == 3 else None
        if not file:
            problems.append(f"{where}: empty file name")
        elif not clean_field(text):
            problems.append(f"{where}: empty transcript for {file}")
        elif speaker is not None and not speaker:
            problems.append(f"{where}: empty speaker field for {file}")
        else:
            entries.append(TranscriptLine(file, speaker, clean_field(text), where))
    if problems:
        raise DatasetError(malformed_lines_message(problems, "transcript"))
    if not entries:
        raise DatasetError(f"--transcript {path}: no utterances")
    return entries


def utterance_id(file: str) -> str:
    """A file-name-safe id from a transcript path: extension dropped, other characters to ``_``."""
    name = Path(file)
    stem = name.with_suffix("") if name.suffix.lower() in AUDIO_EXTENSIONS else name
    return _UNSAFE_RE.sub("_", stem.as_posix().lstrip("/")).strip("_") or "utt"


def _find_audio(audio_dir: Path, file: str) -> Path:
    path = Path(file) if Path(file).is_absolute() else audio_dir / file
    if path.exists() or path.suffix.lower() in AUDIO_EXTENSIONS:
        return path
    for ext in AUDIO_EXTENSIONS:
        candidate = path.with_name(path.name + ext)
        if candidate.exists():
            return candidate
    return path


def _speaker_name(name: str) -> str:
    return re.sub(r"\s+", "_", clean_field(name))


def prepare_custom(audio_dir: str | Path, transcript: str | Path, output_dir: str | Path,
                   language: str = "en", speaker: str | None = None,
                   settings: ConversionSettings | None = None, seed: int = 1234, val_fraction: float = 0.05,
                   test_fraction: float = 0.05, jobs: int = 1, progress: bool = True) -> PrepareReport:
    """Convert the transcript's recordings and write the dataset into ``output_dir``."""
    settings = settings or ConversionSettings()
    check_fractions(val_fraction, test_fraction)
    audio_dir, out = Path(audio_dir), Path(output_dir)
    if not audio_dir.is_dir():
        raise DatasetError(f"--audio-dir {audio_dir}: not a folder")
    language = clean_field(language)
    if not language:
        raise DatasetError("--language must not be empty")
    default_speaker = _speaker_name(speaker) if speaker is not None else DEFAULT_SPEAKER
    if not default_speaker:
        raise DatasetError("--speaker must not be empty")
    lines = read_transcript(transcript)
    check_previous_settings(out, settings)
    report = PrepareReport("custom", str(audio_dir), str(out), str(out), {
        "transcript": str(transcript), "language": language, "speaker": default_speaker, "seed": seed,
        "val_fraction": val_fraction, "test_fraction": test_fraction, "conversion": settings.content_key(),
        "min_duration": settings.min_duration, "max_duration": settings.max_duration,
    })
    report.n_candidates = len(lines)

    candidates: list[Candidate] = []
    seen: dict[str, str] = {}
    for line in lines:
        source = _find_audio(audio_dir, line.file)
        utt_id = utterance_id(line.file)
        if utt_id in seen:
            report.skip(line.where, "duplicate",
                        f"{line.file} gives utterance id {utt_id!r}, already used at {seen[utt_id]}")
            continue
        seen[utt_id] = line.where
        if not source.is_file():
            report.skip(line.where, "missing_file", f"audio file not found: {source}")
            continue
        spk = _speaker_name(line.speaker) if line.speaker is not None else default_speaker
        candidates.append(Candidate(utt_id, str(source), line.text, spk, language))

    utterances = convert_candidates(candidates, out, settings, report, jobs=jobs, progress=progress)
    write_dataset(out, utterances, report, seed, val_fraction, test_fraction)
    return report

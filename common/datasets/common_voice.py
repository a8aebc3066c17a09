"""Mozilla Common Voice release folder -> wavs, filelists and manifest.

A release language folder holds ``{split}.tsv`` files (tab-separated, header with at least ``path`` and
``sentence``; ``client_id`` names the speaker and ``locale`` the language where present) and ``clips/*.mp3``.
Every clip is decoded, mixed to mono, resampled and written as ``OUT/wavs/<stem>.wav``. Speakers get short
stable ids: the first 8 hex digits of sha1(client_id) (more digits if two speakers would collide);
``OUT/speakers.json`` maps them back to the client ids.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterable, Sequence
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
    write_json_atomic,
)

__all__ = ["CVRow", "prepare_common_voice", "read_cv_tsv", "speaker_ids"]

REQUIRED_COLUMNS = ("path", "sentence")
UNKNOWN_SPEAKER = "unknown"
_LOCALE_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")


@dataclass(frozen=True)
class CVRow:
    """One row of a Common Voice tsv (``where`` is ``file:line``)."""

    path: str
    sentence: str
    client_id: str
    locale: str
    where: str


def read_cv_tsv(path: str | Path, report: PrepareReport | None = None) -> list[CVRow]:
    """Rows of a Common Voice tsv. A missing column raises; a row lacking fields is skipped (reported)."""
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8", newline="")
    except FileNotFoundError:
        raise DatasetError(f"{path}: Common Voice split file not found (check --splits)") from None
    except OSError as err:
        raise DatasetError(f"cannot read {path}: {err}") from None
    rows: list[CVRow] = []
    with handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        try:
            header = next(reader)
        except StopIteration:
            raise DatasetError(f"{path}: empty file (expected a header line)") from None
        except (UnicodeDecodeError, csv.Error) as err:
            raise DatasetError(f"{path}:1: cannot parse header: {err}") from None
        header = [h.strip().lstrip("\ufeff") for h in header]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise DatasetError(f"{path}:1: header lacks column(s) {', '.join(missing)}; it has {header}")
        col = {name: i for i, name in enumerate(header)}
        try:
            for fields in reader:
                where = f"{path}:{reader.line_num}"
                if not any(f.strip() for f in fields):
                    continue
                if len(fields) < len(header):
                    if report is not None:
                        report.skip(where, "malformed_row", f"expected {len(header)} tab-separated fields, "
                                                            f"got {len(fields)}")
                    continue

                def get(name: str, fields: list[str] = fields) -> str:
                    return fields[col[name]].strip() if name in col else ""

                rows.append(CVRow(get("path"), get("sentence"), get("client_id"), get("locale"), where))
        except (UnicodeDecodeError, csv.Error) as err:
            raise DatasetError(f"{path}:{reader.line_num}: cannot parse row: {err}") from None
    return rows


def speaker_ids(client_ids: Iterable[str], length: int = 8) -> dict[str, str]:
    """Short stable ids for client ids: leading hex digits of sha1(client_id), lengthened until unique."""
    unique = sorted({c for c in client_ids if c})
    digests = {c: hashlib.sha1(c.encode()).hexdigest() for c in unique}
    while length < 40:
        short = {c: d[:length] for c, d in digests.items()}
        if len(set(short.values())) == len(short):
            return short
        length += 2
    return digests


def _language_of(row: CVRow, language: str | None, input_dir: Path) -> str:
    if language:
        return language
    if row.locale:
        return row.locale
    if _LOCALE_RE.match(input_dir.name):
        return input_dir.name
    raise DatasetError(f"{row.where}: no locale column and the folder name {input_dir.name!r} is not a "
                       f"language code; pass --language")


def _clip_path(clips: Path, name: str) -> Path:
    path = clips / name
    if not path.exists() and not Path(name).suffix:
        return clips / f"{name}.mp3"
    return path


def prepare_common_voice(input_dir: str | Path, output_dir: str | Path,
                         splits: Sequence[str] = ("train", "dev", "test"), language: str | None = None,
                         settings: ConversionSettings | None = None, seed: int = 1234,
                         val_fraction: float = 0.05, test_fraction: float = 0.05, jobs: int = 1,
                         progress: bool = True) -> PrepareReport:
    """Convert the clips of the given Common Voice ``splits`` and write the dataset into ``output_dir``."""
    settings = settings or ConversionSettings()
    check_fractions(val_fraction, test_fraction)
    input_dir, out = Path(input_dir), Path(output_dir)
    if not input_dir.is_dir():
        raise DatasetError(f"--input {input_dir}: not a folder")
    clips = input_dir / "clips"
    if not clips.is_dir():
        raise DatasetError(f"--input {input_dir}: no clips/ folder (is this a Common Voice language folder?)")
    if not splits:
        raise DatasetError("--splits needs at least one split name (e.g. train dev test)")
    check_previous_settings(out, settings)
    report = PrepareReport("common-voice", str(input_dir), str(out), str(out), {
        "splits": list(splits), "language": language, "seed": seed, "val_fraction": val_fraction,
        "test_fraction": test_fraction, "conversion": settings.content_key(),
        "min_duration": settings.min_duration, "max_duration": settings.max_duration,
    })

    rows: list[CVRow] = []
    for split in splits:
        rows += read_cv_tsv(input_dir / f"{split}.tsv", report)
    short = speaker_ids(r.client_id for r in rows)

    candidates: list[Candidate] = []
    seen: dict[str, str] = {}
    for row in rows:
        if not row.path:
            report.skip(row.where, "malformed_row", "empty path field")
            continue
        stem = Path(row.path).stem
        if stem in seen:
            report.skip(row.where, "duplicate", f"clip {row.path} already listed at {seen[stem]}")
            continue
        seen[stem] = row.where
        text = clean_field(row.sentence)
        if not text:
            report.skip(row.where, "empty_transcript", f"clip {row.path} has an empty sentence")
            continue
        speaker = short.get(row.client_id, UNKNOWN_SPEAKER)
        lang = clean_field(_language_of(row, language, input_dir))
        candidates.append(Candidate(stem, str(_clip_path(clips, row.path)), text, speaker, lang))
    report.n_candidates = len(rows)

    utterances = convert_candidates(candidates, out, settings, report, jobs=jobs, progress=progress)
    if utterances:
        used = {u.speaker for u in utterances}
        mapping = {s: c for c, s in sorted(short.items(), key=lambda kv: kv[1]) if s in used}
        write_json_atomic(out / "speakers.json", mapping)
        report.files["speakers"] = str(out / "speakers.json")
    write_dataset(out, utterances, report, seed, val_fraction, test_fraction)
    return report

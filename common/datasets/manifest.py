"""What every dataset adapter shares: utterance records, the deterministic split, filelist and manifest
writing, the preparation report, and parallel work with progress bars.

The split is a pure function of (seed, utterance id): ``u = int(sha256(f"{seed}:{id}")[:8 bytes]) / 2**64``
puts an utterance in ``val`` when ``u < val_fraction``, in ``test`` when ``u < val_fraction + test_fraction``
and in ``train`` otherwise. Adding utterances to a dataset therefore never moves the existing ones.

Output layout (``OUT``)::

    OUT/filelists/{train,val,test}.txt          path|text
    OUT/filelists/{train,val,test}_multi.txt    path|text|speaker|language
    OUT/manifest.json                           [{id, audio_path, text, speaker, language, duration, split}]
    OUT/prepare_report.json                     settings, counts, every skipped item and why
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from tqdm import tqdm

from common.filelist import FilelistEntry, write_filelist

__all__ = [
    "SPLITS",
    "DatasetError",
    "PrepareReport",
    "Skipped",
    "TaskResult",
    "Utterance",
    "assign_split",
    "check_fractions",
    "clean_field",
    "format_error",
    "run_parallel",
    "split_point",
    "split_utterances",
    "write_dataset",
    "write_json_atomic",
]

SPLITS = ("train", "val", "test")
REPORT_NAME = "prepare_report.json"
MANIFEST_NAME = "manifest.json"

T = TypeVar("T")
R = TypeVar("R")


class DatasetError(ValueError):
    """Bad dataset input or flags; the message names the file (and line) or the flag at fault."""


@dataclass(frozen=True)
class Utterance:
    """One prepared utterance; ``audio_path`` is relative to the folder the filelists are meant for."""

    id: str
    audio_path: str
    text: str
    speaker: str
    language: str
    duration: float


@dataclass(frozen=True)
class Skipped:
    """An input item left out of the dataset: where it came from, the kind of problem, and details."""

    source: str
    kind: str
    reason: str


# ---------------------------------------------------------------------------------------------------------
# Text fields


_WHITESPACE_RE = re.compile(r"\s+")


def clean_field(text: str) -> str:
    """Make ``text`` safe as a filelist field: no ``|`` (the separator), whitespace runs collapsed."""
    return _WHITESPACE_RE.sub(" ", text.replace("|", " ")).strip()


# ---------------------------------------------------------------------------------------------------------
# Deterministic split


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    """Raise DatasetError naming the flag when split fractions are out of range or leave no training data."""
    for flag, value in (("--val-fraction", val_fraction), ("--test-fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise DatasetError(f"{flag} must lie in [0, 1), got {value}")
    if val_fraction + test_fraction >= 1.0:
        raise DatasetError(
            f"--val-fraction {val_fraction} + --test-fraction {test_fraction} >= 1 leaves nothing for "
            f"training"
        )


def split_point(utt_id: str, seed: int) -> float:
    """The utterance's position in [0, 1): the first 8 bytes of sha256(f"{seed}:{id}") over 2**64."""
    digest = hashlib.sha256(f"{seed}:{utt_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_split(utt_id: str, seed: int, val_fraction: float, test_fraction: float) -> str:
    """``"val"``, ``"test"`` or ``"train"`` for one utterance id (independent of every other utterance)."""
    u = split_point(utt_id, seed)
    if u < val_fraction:
        return "val"
    if u < val_fraction + test_fraction:
        return "test"
    return "train"


def split_utterances(utterances: Iterable[Utterance], seed: int, val_fraction: float,
                     test_fraction: float,
                     split_of: Mapping[str, str] | None = None) -> dict[str, list[Utterance]]:
    """Group utterances by :func:`assign_split` (or by ``split_of``, id -> split, when given: a fixed
    split such as the reference's LJSpeech one); each list is sorted by id."""
    check_fractions(val_fraction, test_fraction)
    parts: dict[str, list[Utterance]] = {name: [] for name in SPLITS}
    for utt in utterances:
        name = split_of[utt.id] if split_of is not None else assign_split(utt.id, seed, val_fraction,
                                                                           test_fraction)
        parts[name].append(utt)
    return {name: sorted(items, key=lambda u: u.id) for name, items in parts.items()}


# ---------------------------------------------------------------------------------------------------------
# Report


@dataclass
class PrepareReport:
    """What a preparation run did; written to ``OUT/prepare_report.json`` and printed."""

    dataset: str
    input: str
    output: str
    dataset_path: str
    settings: dict[str, Any]
    n_candidates: int = 0
    n_reused: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    per_split: dict[str, int] = field(default_factory=dict)
    per_speaker: dict[str, int] = field(default_factory=dict)
    per_language: dict[str, int] = field(default_factory=dict)
    n_utterances: int = 0
    total_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)

    def skip(self, source: str | Path, kind: str, reason: str) -> None:
        source = str(source)
        if reason.startswith(f"{source}: "):  # worker messages name the file; the source says it already
            reason = reason[len(source) + 2:]
        self.skipped.append(Skipped(source, kind, reason))

    @property
    def skipped_by_kind(self) -> dict[str, int]:
        return dict(sorted(Counter(s.kind for s in self.skipped).items()))

    @property
    def hours(self) -> float:
        return self.total_seconds / 3600.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["skipped_by_kind"] = self.skipped_by_kind
        data["n_skipped"] = len(self.skipped)
        data["hours"] = self.hours
        return data

    def format(self, max_skipped: int = 20) -> str:
        """A human-readable summary (at most ``max_skipped`` skipped items listed)."""
        languages = ", ".join(f"{k} {v}" for k, v in self.per_language.items()) or "none"
        lines = [
            f"{self.dataset} {self.input} -> {self.output}: {self.n_utterances} utterances, "
            f"{self.hours:.3f} h ({self.total_seconds:.1f} s), {len(self.per_speaker)} speakers, "
            f"languages: {languages}",
            "  splits: " + ", ".join(f"{k} {v}" for k, v in self.per_split.items()),
        ]
        if self.n_reused:
            lines.append(f"  reused {self.n_reused} wavs converted by an earlier run")
        if self.skipped:
            kinds = ", ".join(f"{k} {v}" for k, v in self.skipped_by_kind.items())
            lines.append(f"  skipped {len(self.skipped)} of {self.n_candidates}: {kinds}")
            for item in self.skipped[:max_skipped]:
                lines.append(f"    {item.source}: [{item.kind}] {item.reason}")
            if len(self.skipped) > max_skipped:
                more = len(self.skipped) - max_skipped
                lines.append(f"    ... {more} more in {self.files.get('report', '')}")
        lines += [f"  warning: {w}" for w in self.warnings]
        for name, path in self.files.items():
            lines.append(f"  {name}: {path}")
        where = self.dataset_path
        lines.append(f"  filelist paths are relative to {where} (train with -d {where})")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------
# Writing


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write JSON through a temporary file so a crash never leaves a half-written file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_dataset(output_dir: str | Path, utterances: Sequence[Utterance], report: PrepareReport, seed: int,
                  val_fraction: float, test_fraction: float,
                  split_of: Mapping[str, str] | None = None) -> dict[str, list[Utterance]]:
    """Split ``utterances`` (by the seeded hash, or by ``split_of``: id -> split) and write filelists,
    ``manifest.json`` and ``prepare_report.json``.

    Fills the counts of ``report``; raises DatasetError when no utterance is left.
    """
    out = Path(output_dir)
    if not utterances:
        kinds = ", ".join(f"{k} {v}" for k, v in report.skipped_by_kind.items()) or "no input items"
        raise DatasetError(f"{report.input}: no usable utterances ({kinds}); nothing written to {out}")
    ids = Counter(u.id for u in utterances)
    repeated = [i for i, n in ids.items() if n > 1]
    if repeated:
        raise DatasetError(f"utterance ids are not unique: {', '.join(sorted(repeated)[:10])}")
    parts = split_utterances(utterances, seed, val_fraction, test_fraction, split_of)
    split_of = {u.id: name for name, items in parts.items() for u in items}

    filelists = out / "filelists"
    for name, items in parts.items():
        single = [FilelistEntry(u.audio_path, u.text) for u in items]
        multi = [FilelistEntry(u.audio_path, u.text, u.speaker, u.language) for u in items]
        write_filelist(filelists / f"{name}.txt", single, multi_speaker=False)
        write_filelist(filelists / f"{name}_multi.txt", multi, multi_speaker=True)
        if not items and (name == "train" or (name == "val" and val_fraction > 0)):
            flag = "--val-fraction" if name == "val" else "--val-fraction/--test-fraction"
            report.warnings.append(f"the {name} split is empty; adjust {flag}")

    ordered = sorted(utterances, key=lambda u: u.id)
    manifest = [{"id": u.id, "audio_path": u.audio_path, "text": u.text, "speaker": u.speaker,
                 "language": u.language, "duration": round(u.duration, 6), "split": split_of[u.id]}
                for u in ordered]
    write_json_atomic(out / MANIFEST_NAME, manifest)

    report.n_utterances = len(utterances)
    report.total_seconds = float(sum(u.duration for u in utterances))
    report.per_split = {name: len(items) for name, items in parts.items()}
    report.per_speaker = dict(sorted(Counter(u.speaker for u in utterances).items()))
    report.per_language = dict(sorted(Counter(u.language for u in utterances).items()))
    report.files.update({
        "filelists": str(filelists / "{train,val,test}{,_multi}.txt"),
        "manifest": str(out / MANIFEST_NAME),
        "report": str(out / REPORT_NAME),
    })
    write_json_atomic(out / REPORT_NAME, report.to_json())
    return parts


def read_previous_settings(output_dir: str | Path) -> dict[str, Any] | None:
    """The ``settings`` of an earlier run's report in ``output_dir``, or None when there is none."""
    path = Path(output_dir) / REPORT_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    settings = data.get("settings") if isinstance(data, dict) else None
    return settings if isinstance(settings, dict) else None


# ---------------------------------------------------------------------------------------------------------
# Parallel work


@dataclass(frozen=True)
class TaskResult(Generic[R]):
    """The outcome of one task: its index in the input, and either a value or an error message."""

    index: int
    value: R | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def format_error(exc: BaseException) -> str:
    """A one-line message for an exception (no traceback); our own error classes speak for themselves."""
    message = str(exc).strip().replace("\n", " ")
    if isinstance(exc, DatasetError | OSError) and message:
        return message
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _run_batch(fn: Callable[[T], R], batch: list[tuple[int, T]]) -> list[TaskResult[R]]:
    """Run ``fn`` on every item of a batch, turning exceptions into messages (runs inside workers)."""
    results: list[TaskResult[R]] = []
    for index, item in batch:
        try:
            results.append(TaskResult(index, fn(item)))
        except Exception as exc:  # every failure becomes a per-item message
            results.append(TaskResult(index, None, format_error(exc)))
    return results


def run_parallel(fn: Callable[[T], R], items: Sequence[T], jobs: int = 1, desc: str = "",
                 progress: bool = True) -> list[TaskResult[R]]:
    """Apply ``fn`` to every item, in ``jobs`` worker processes when ``jobs > 1``; results in input order.

    ``fn`` must be a module-level function (it is pickled). An exception raised for an item comes back as
    that item's ``error`` string; a worker that dies takes its batch with it, reported the same way.
    """
    if jobs < 1:
        raise DatasetError(f"--jobs must be at least 1, got {jobs}")
    indexed = list(enumerate(items))
    results: list[TaskResult[R]] = []
    bar = tqdm(total=len(indexed), desc=desc, unit="file", disable=not progress or not indexed, leave=False)
    try:
        if jobs == 1 or len(indexed) < 2:
            for pair in indexed:
                results.extend(_run_batch(fn, [pair]))
                bar.update(1)
        else:
            workers = min(jobs, len(indexed))
            size = max(1, min(32, len(indexed) // (workers * 8)))
            batches = [indexed[i:i + size] for i in range(0, len(indexed), size)]
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = {pool.submit(_run_batch, fn, batch): batch for batch in batches}
                for future in as_completed(futures):
                    batch = futures[future]
                    try:
                        results.extend(future.result())
                    except Exception as exc:  # a broken pool or an unpicklable result
                        message = f"worker failed: {format_error(exc)}"
                        results.extend(TaskResult(index, None, message) for index, _ in batch)
                    bar.update(len(batch))
    finally:
        bar.close()
    results.sort(key=lambda r: r.index)
    return results

"""The skip report of a training run: every utterance left out under `--skip-bad-files` or a
model's length limit, counted by kind and named in `skipped.txt` (`file:line: reason`) beside the run log.

An utterance is listed once however many epochs skip it; the counts are of distinct utterances.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from common.data import BadItem
from common.io_errors import atomic_write_text

SKIP_FILE = "skipped.txt"


def _file_line(item: BadItem) -> tuple[str, int, str]:
    """Sort key: filelist, then line number (numerically), then reason."""
    source, _, line = item.where.rpartition(":")
    return (source, int(line), item.reason) if line.isdigit() else (item.where, 0, item.reason)


class SkipReport:
    """Distinct skipped utterances (skipped.txt lists them by filelist and line)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], BadItem] = {}

    def add(self, items: Iterable[BadItem]) -> None:
        """Record skipped items (an item seen before is not counted twice)."""
        for item in items:
            self.items.setdefault((item.where, item.reason), item)

    def __len__(self) -> int:
        return len(self.items)

    def counts(self) -> dict[str, int]:
        """Number of skipped utterances per kind, e.g. {"unreadable": 2, "too_long": 1}."""
        return dict(sorted(Counter(item.kind for item in self.items.values()).items()))

    def summary(self) -> dict[str, int]:
        """Run-log summary fields: `skipped_utterances` and one `skipped_<kind>` per kind."""
        return {"skipped_utterances": len(self), **{f"skipped_{k}": n for k, n in self.counts().items()}}

    def write(self, folder: str | Path) -> Path | None:
        """Write `folder/skipped.txt` (one `file:line: reason` line per utterance, the kind in brackets,
        in filelist and line order);
        None when nothing was skipped (a stale report of an earlier run is removed)."""
        path = Path(folder) / SKIP_FILE
        if not self.items:
            path.unlink(missing_ok=True)
            return None
        lines = [f"{item.message} [{item.kind}]\n" for item in sorted(self.items.values(), key=_file_line)]
        atomic_write_text(path, "".join(lines))
        return path

"""What a run finds in its output folder before it writes anything: which checkpoint to resume from, whether
starting afresh would overwrite an earlier run, and the temporary files a killed run left behind.

Rules (`run.py`; the output folder's lock is held, see common/run_lock.py):
- `--checkpoint-path P` resumes from P (an unreadable P is an error: it was named explicitly).
- `--resume-from-last` resumes from `checkpoint_<Model>_last.pt`. A dangling or unreadable `_last` falls
  back to the newest readable `checkpoint_<Model>_<N>.pt`, with a line saying which; none readable is an
  error; a folder without checkpoints starts afresh (the reference's behaviour, which restart scripts use).
- Otherwise a folder that holds this model's checkpoints is an error unless `--overwrite` is given, which
  deletes them first (so that no checkpoint of the earlier run is later mistaken for one of this run).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from common.checkpoint import CheckpointError, checkpoint_name, load_checkpoint


def checkpoint_files(folder: str | Path, model_name: str) -> list[Path]:
    """This model's numbered checkpoints in `folder`, newest first (by epoch, then modification time)."""
    pattern = re.compile(rf"checkpoint_{re.escape(model_name)}_(\d+)\.pt")
    found = []
    for path in Path(folder).glob(f"checkpoint_{model_name}_*.pt"):
        match = pattern.fullmatch(path.name)
        if match and path.is_file():
            found.append((int(match.group(1)), path.stat().st_mtime, path))
    return [path for *_, path in sorted(found, reverse=True)]


def remove_orphan_temps(folder: str | Path) -> tuple[int, int]:
    """Delete the `checkpoint_*.tmp` files that a killed run's atomic writes left; (count, bytes) removed.

    Only safe while this run holds the folder's lock: no other writer can be mid-write.
    """
    count = size = 0
    for path in Path(folder).glob("checkpoint_*.tmp"):
        if path.is_file() or path.is_symlink():
            size += path.lstat().st_size
            path.unlink(missing_ok=True)
            count += 1
    return count, size


def _last_link(folder: Path, model_name: str) -> Path:
    return folder / checkpoint_name(model_name, "last")


def existing_checkpoints(folder: str | Path, model_name: str) -> list[Path]:
    """Every checkpoint file of this model in `folder`, the `_last` link included (even when dangling)."""
    folder = Path(folder)
    last = _last_link(folder, model_name)
    return checkpoint_files(folder, model_name) + ([last] if last.is_symlink() or last.exists() else [])


def newest_readable(folder: Path, model_name: str, reasons: list[str]) -> tuple[Path, dict] | None:
    """The newest numbered checkpoint that loads, with its contents; failures are appended to `reasons`."""
    for path in checkpoint_files(folder, model_name):
        try:
            return path, load_checkpoint(path)
        except CheckpointError as err:
            reasons.append(str(err))
    return None


def choose_resume(args: argparse.Namespace, model_name: str, announce: bool = True
                  ) -> tuple[Path | None, dict | None]:
    """The checkpoint this run resumes from and its contents, or (None, None) to start afresh.

    Raises CheckpointError (one line) for contradictory flags, for a folder holding checkpoints without
    `--resume-from-last` / `--overwrite`, and when `--resume-from-last` finds no readable checkpoint.
    `--overwrite` deletes this model's checkpoints in the folder. `announce`: print what was decided
    (the main rank only, so that multi-process runs say it once).
    """
    folder = Path(args.output)
    overwrite = getattr(args, "overwrite", False)
    if overwrite and (args.resume_from_last or args.checkpoint_path):
        raise CheckpointError("--overwrite starts afresh; it cannot be combined with --resume-from-last or "
                              "--checkpoint-path")
    if args.checkpoint_path:
        path = Path(args.checkpoint_path)
        return path, load_checkpoint(path)
    existing = existing_checkpoints(folder, model_name)
    if args.resume_from_last:
        last = _last_link(folder, model_name)
        reasons: list[str] = []
        if last.is_symlink() or last.exists():
            try:
                return last, load_checkpoint(last)
            except CheckpointError as err:
                reasons.append(str(err) if last.exists() else f"{last} points at a missing file")
        else:  # e.g. killed between writing the first checkpoint and linking it
            reasons.append(f"{last} does not exist")
        found = newest_readable(folder, model_name, reasons)
        if found is not None:
            if announce and reasons:
                print(f"warning: {reasons[0]}; resuming from {found[0]}, the newest readable checkpoint",
                      file=sys.stderr)
            return found
        if existing:
            raise CheckpointError(f"--resume-from-last: no readable {model_name} checkpoint in {folder} "
                                  f"({'; '.join(reasons)}); remove them or pass --overwrite to start again")
        return None, None
    if existing and not overwrite:
        names = ", ".join(path.name for path in existing[:3]) + (" ..." if len(existing) > 3 else "")
        raise CheckpointError(f"-o {folder} already holds {model_name} checkpoints ({names}); pass "
                              "--resume-from-last to continue that run or --overwrite to start again")
    if existing:
        for path in existing:
            path.unlink(missing_ok=True)
        if announce:
            print(f"--overwrite: deleted {len(existing)} {model_name} checkpoint file(s) of the earlier run "
                  f"in {folder}")
    return None, None

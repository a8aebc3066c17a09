"""Precompute log-mel spectrograms into ``.pt`` files, for training with ``--load-mel-from-disk``.

For every entry of the given filelists the wav is loaded, its mel (``MelSTFT``) is saved as a float32
``(n_mel_channels, frames)`` tensor to ``DATASET/<output-dir>/<wav stem>.pt`` (atomically: a temporary file
renamed into place), and a matching mel filelist is written beside each input filelist:
``X_audio_text_Y.txt`` -> ``X_mel_text_Y.txt`` (names without ``audio`` get ``_mel`` before the extension).
Mel filelists keep the text and any speaker/language fields; their path column is the ``.pt`` path relative
to DATASET. Files already computed are skipped unless ``overwrite``.

A wav that is missing, unreadable, stereo, at the wrong rate or too short stops the run with an error
naming the filelist and line; with ``skip_bad`` such entries are left out of the mel filelists and counted.

CLI: ``python -m common.prepare_mels -d DATASET --filelists F1 F2 ... [--output-dir mels] [--jobs 2]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from tqdm import tqdm

from common.audio import AudioError, load_wav
from common.audio_config import DEFAULT_AUDIO, AudioConfig
from common.filelist import FilelistEntry, FilelistError, read_filelist, resolve_path, write_filelist
from common.io_errors import OutputError, atomic_output, output_errors
from common.stft import MelSTFT

__all__ = [
    "MelParams",
    "PrepareMelsError",
    "PrepareSummary",
    "compute_mel",
    "main",
    "mel_filelist_path",
    "prepare_mels",
]


class PrepareMelsError(ValueError):
    """Bad input to mel precomputation: a filelist, a wav (named by filelist line), or a setting."""


MelParams = AudioConfig  # the name this module has always exported


@dataclass
class PrepareSummary:
    """What :func:`prepare_mels` did."""

    n_entries: int
    n_files: int
    n_computed: int
    n_existing: int
    n_bad: int
    bad: list[str] = field(default_factory=list)
    mel_filelists: list[Path] = field(default_factory=list)
    frames: int = 0
    elapsed_seconds: float = 0.0

    def format(self) -> str:
        lines = [
            f"mels: {self.n_entries} filelist entries, {self.n_files} distinct wavs: "
            f"{self.n_computed} computed ({self.frames} frames), {self.n_existing} already done, "
            f"{self.n_bad} bad skipped, in {self.elapsed_seconds:.1f} s",
        ]
        lines += [f"  skipped {item}" for item in self.bad[:20]]
        if len(self.bad) > 20:
            lines.append(f"  ... and {len(self.bad) - 20} more")
        lines += [f"  wrote {path}" for path in self.mel_filelists]
        return "\n".join(lines)


def mel_filelist_path(filelist: str | Path) -> Path:
    """Where the mel filelist of ``filelist`` goes: ``audio`` -> ``mel`` in the name, else ``_mel`` added."""
    path = Path(filelist)
    if "audio" in path.name:
        return path.with_name(path.name.replace("audio", "mel", 1))
    return path.with_name(f"{path.stem}_mel{path.suffix}")


def compute_mel(stft: MelSTFT, params: MelParams, wav_path: str | Path) -> torch.Tensor:
    """The mel of one wav: float32, contiguous, shape (n_mel_channels, frames)."""
    audio = load_wav(wav_path, sampling_rate=params.sampling_rate, max_wav_value=params.max_wav_value)
    if audio.numel() <= params.filter_length // 2:
        raise AudioError(wav_path, f"only {audio.numel()} samples; needs more than filter_length/2 = "
                                   f"{params.filter_length // 2}")
    with torch.no_grad():
        mel = stft.mel_spectrogram(audio.unsqueeze(0))[0]
    # A fresh, compact tensor: torch.save would otherwise store any larger storage behind a view.
    return mel.to(torch.float32).contiguous().clone()


def _save_atomic(tensor: torch.Tensor, path: Path) -> None:
    """Save atomically through a file handle, so a full disk is an OSError naming the mel file."""
    with atomic_output(path) as handle:
        torch.save(tensor, handle)


# Worker state: one STFT per process, built once.
_WORKER: dict[str, object] = {}


def _init_worker(params: MelParams, single_thread: bool) -> None:
    if single_thread:
        torch.set_num_threads(1)
    _WORKER["params"] = params
    _WORKER["stft"] = params.make_stft()


def _work(task: tuple[str, str]) -> tuple[str, str | None, int]:
    """Compute and save one mel; return (output path, error message or None, frames).

    Errors caused by the wav are returned, not raised, so the parent can name the filelist line; an error
    writing the mel is raised, as no other file would fare better.
    """
    wav_path, out_path = task
    stft = _WORKER["stft"]
    params = _WORKER["params"]
    assert isinstance(stft, MelSTFT) and isinstance(params, MelParams)
    try:
        mel = compute_mel(stft, params, wav_path)
    except (AudioError, OSError, RuntimeError, ValueError) as err:
        return out_path, str(err), 0
    _save_atomic(mel, Path(out_path))  # a full disk or unwritable folder stops the run (main reports it)
    return out_path, None, int(mel.shape[1])


def _run_tasks(tasks: list[tuple[str, str]], params: MelParams, jobs: int,
               progress: bool) -> Iterable[tuple[str, str | None, int]]:
    """Yield results of ``_work`` for every task, in a pool of ``jobs`` processes (in-process for 1)."""
    bar = tqdm(total=len(tasks), disable=not progress, unit="file", desc="mels")
    try:
        if jobs == 1 or len(tasks) <= 1:
            # One thread as in the workers: per-file tensors are small, extra threads only contend.
            threads = torch.get_num_threads()
            _init_worker(params, single_thread=True)
            try:
                for task in tasks:
                    result = _work(task)
                    bar.update(1)
                    yield result
            finally:
                torch.set_num_threads(threads)
            return
        chunksize = max(1, min(16, len(tasks) // (jobs * 8)))
        with multiprocessing.get_context().Pool(jobs, _init_worker, (params, True)) as pool:
            for result in pool.imap_unordered(_work, tasks, chunksize=chunksize):
                bar.update(1)
                yield result
    finally:
        bar.close()


def _read_filelists(filelists: Sequence[str | Path]) -> list[tuple[Path, list[FilelistEntry]]]:
    result = []
    for filelist in filelists:
        try:
            result.append((Path(filelist), read_filelist(filelist)))
        except FilelistError as err:
            raise PrepareMelsError(str(err)) from None
    return result


def _relative_to(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when inside it (as filelists want), else absolute."""
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def prepare_mels(
    dataset_path: str | Path,
    filelists: Sequence[str | Path],
    output_dir: str | Path = "mels",
    jobs: int = 2,
    audio: AudioConfig = DEFAULT_AUDIO,
    skip_bad: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> PrepareSummary:
    """Compute the mels of every filelist entry and write the mel filelists (see the module docstring);
    ``audio`` holds the STFT and mel settings."""
    started = time.perf_counter()
    dataset = Path(dataset_path)
    if not dataset.is_dir():
        raise PrepareMelsError(f"dataset folder not found: {dataset} (-d/--dataset-path)")
    if not filelists:
        raise PrepareMelsError("no filelist given (--filelists)")
    if jobs < 1:
        raise PrepareMelsError(f"--jobs must be >= 1, got {jobs}")
    params = audio
    try:
        params.make_stft()
    except ValueError as err:
        raise PrepareMelsError(f"bad STFT settings: {err}") from None
    if params.max_wav_value <= 0:
        raise PrepareMelsError(f"--max-wav-value must be positive, got {params.max_wav_value}")

    mel_dir = Path(output_dir) if Path(output_dir).is_absolute() else dataset / output_dir
    mel_dir.mkdir(parents=True, exist_ok=True)
    lists = _read_filelists(filelists)

    # One output file per wav; the first filelist line naming it is the one errors point at.
    wav_of: dict[Path, Path] = {}
    where_of: dict[Path, str] = {}
    for filelist, entries in lists:
        for entry in entries:
            wav = resolve_path(dataset, entry.audio_path)
            out = mel_dir / f"{Path(entry.audio_path).stem}.pt"
            here = f"{filelist}:{entry.line}"
            if out in wav_of and wav_of[out].resolve() != wav.resolve():
                raise PrepareMelsError(
                    f"{here}: {entry.audio_path} and {wav_of[out]} ({where_of[out]}) would both be saved as "
                    f"{out}; wav names must be unique"
                )
            wav_of.setdefault(out, wav)
            where_of.setdefault(out, here)

    todo = [(str(wav), str(out)) for out, wav in wav_of.items() if overwrite or not out.is_file()]
    n_existing = len(wav_of) - len(todo)
    failed: dict[Path, str] = {}
    frames = 0
    results = _run_tasks(todo, params, jobs, progress)
    try:
        for out_path, error, n_frames in results:
            if error is None:
                frames += n_frames
                continue
            out = Path(out_path)
            if not skip_bad:
                raise PrepareMelsError(
                    f"{where_of[out]}: {error} (fix or remove the line, or pass --skip-bad to leave such "
                    "entries out)"
                )
            failed[out] = error
    finally:
        results.close()  # stops the pool when an error ends the loop early

    mel_lists: list[Path] = []
    bad: list[str] = []
    for filelist, entries in lists:
        kept = []
        for entry in entries:
            out = mel_dir / f"{Path(entry.audio_path).stem}.pt"
            if out in failed:
                bad.append(f"{filelist}:{entry.line}: {failed[out]}")
                continue
            kept.append(replace(entry, audio_path=_relative_to(out, dataset)))
        target = mel_filelist_path(filelist)
        if target.resolve() == filelist.resolve():
            raise PrepareMelsError(f"{filelist}: the mel filelist would overwrite its input")
        write_filelist(target, kept, multi_speaker=any(e.speaker is not None for e in entries))
        mel_lists.append(target)

    return PrepareSummary(
        n_entries=sum(len(entries) for _, entries in lists),
        n_files=len(wav_of),
        n_computed=len(todo) - len(failed),
        n_existing=n_existing,
        n_bad=len(bad),
        bad=bad,
        mel_filelists=mel_lists,
        frames=frames,
        elapsed_seconds=time.perf_counter() - started,
    )


def build_parser() -> argparse.ArgumentParser:
    defaults = DEFAULT_AUDIO
    parser = argparse.ArgumentParser(
        prog="python -m common.prepare_mels",
        description="Precompute mel spectrograms (.pt) for filelists and write matching mel filelists.",
    )
    parser.add_argument("-d", "--dataset-path", required=True,
                        help="dataset folder the filelist paths are relative to")
    parser.add_argument("--filelists", nargs="+", required=True, help="audio filelists to process")
    parser.add_argument("--output-dir", default="mels", help="mel folder, relative to the dataset (mels)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="leave unreadable wavs out of the mel filelists instead of failing")
    parser.add_argument("--overwrite", action="store_true", help="recompute mels that exist already")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    for name, value in asdict(defaults).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value,
                            help=f"(default {value:g})")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with output_errors("--output-dir"):
            summary = prepare_mels(
                args.dataset_path, args.filelists, output_dir=args.output_dir, jobs=args.jobs,
                audio=AudioConfig.from_args(args), skip_bad=args.skip_bad, overwrite=args.overwrite,
                progress=not args.quiet,
            )
    except (PrepareMelsError, OutputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(summary.format())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Intelligibility against training time: how soon a Tacotron 2 run speaks understandably.

For chosen checkpoints of a run folder, synthesise held-out English sentences with Griffin-Lim (no vocoder
training involved), score them with the offline recogniser (`intelligibility.py`) and plot closed-set and
word accuracy against the minutes of training that led to each checkpoint, beside espeak-ng's ceiling.
Minutes are the run log's summed `train_iter_time` up to the checkpoint's epoch (validation excluded; a
checkpoint of an epoch stopped part-way counts the iterations that epoch logged).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from common.audio import save_wav
from common.evaluation.asr import Recognizer
from common.evaluation.intelligibility import (
    IntelligibilityReport,
    ceiling_report,
    corpus_vocabulary,
    evaluate_audio,
)
from common.log_reader import NvlogError, read_nvlog
from common.metrics.errors import EvaluationError
from common.synthesis import Synthesizer, load_tacotron2

__all__ = ["CurvePoint", "checkpoint_minutes", "intelligibility_curve", "pick_evenly", "plot_curve",
           "score_checkpoint"]

_EPOCH = re.compile(r"checkpoint_Tacotron2_(\d+)\.pt$")


@dataclass
class CurvePoint:
    """One checkpoint's scores."""

    checkpoint: str
    epoch: int
    minutes: float
    report: IntelligibilityReport


def checkpoint_minutes(run_dir: Path) -> list[tuple[int, float, Path]]:
    """(epoch, training minutes, path) of every numbered Tacotron 2 checkpoint in `run_dir`, by epoch."""
    run_dir = Path(run_dir)
    nvlog = run_dir / "nvlog.json"
    try:
        records = read_nvlog(nvlog)
    except (NvlogError, OSError) as exc:
        raise EvaluationError(f"{nvlog}: cannot read the run log: {exc}") from exc
    iter_time: dict[tuple[int, int], float] = {}  # keyed by step: a repeated (resumed) step counts once
    for rec in records:
        step, data = rec.get("step"), rec.get("data", {})
        if isinstance(step, list) and len(step) == 2 and "train_iter_time" in data:
            iter_time[(int(step[0]), int(step[1]))] = float(data["train_iter_time"])
    found = []
    for path in run_dir.glob("checkpoint_Tacotron2_*.pt"):
        match = _EPOCH.search(path.name)
        if match:
            epoch = int(match.group(1))
            minutes = sum(t for (e, _), t in iter_time.items() if e <= epoch) / 60.0
            found.append((epoch, minutes, path))
    if not found:
        raise EvaluationError(f"{run_dir}: no checkpoint_Tacotron2_<epoch>.pt files")
    return sorted(found)


def pick_evenly(items: Sequence, n: int) -> list:
    """At most `n` items spread evenly from first to last (the last always included)."""
    if n >= len(items):
        return list(items)
    if n == 1:
        return [items[-1]]
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)]


def score_checkpoint(path: Path, texts: Sequence[str], recognizer, griffin_lim_iters: int = 60,
                     max_decoder_steps: int | None = None, out_dir: Path | None = None,
                     seed: int = 1234) -> IntelligibilityReport:
    """Synthesise `texts` from one Tacotron 2 checkpoint with Griffin-Lim and score them; the wavs go to
    `out_dir` when given."""
    overrides = {"max_decoder_steps": max_decoder_steps} if max_decoder_steps else None
    model = load_tacotron2(path, overrides=overrides)
    torch.manual_seed(seed)
    synth = Synthesizer(model, None, griffin_lim_iters=griffin_lim_iters)
    result = synth.synthesize(list(texts), batch_size=1)
    audios = [(f"audio_{i}.wav", u.audio.numpy(), synth.sampling_rate)
              for i, u in enumerate(result.utterances)]
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        for name, audio, rate in audios:
            save_wav(Path(out_dir) / name, torch.from_numpy(audio), rate, normalize=True)
    return evaluate_audio(audios, texts, recognizer)


def plot_curve(points: Sequence[CurvePoint], ceiling: IntelligibilityReport | None, path: Path,
               title: str = "Intelligibility against training time") -> Path:
    """Closed-set and word accuracy of each point against its minutes, the ceiling as dashed lines."""
    # deferred: matplotlib is slow to import; only the figure needs it
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: after choosing the headless backend

    fig, ax = plt.subplots(figsize=(7, 4))
    minutes = [p.minutes for p in points]
    ax.plot(minutes, [p.report.accuracy for p in points], "o-", color="C0", label="closed-set accuracy")
    ax.plot(minutes, [p.report.word_accuracy for p in points], "s-", color="C1",
            label="word accuracy (1 - WER)")
    if ceiling is not None:
        ax.axhline(ceiling.accuracy, color="C0", ls="--", lw=1, label="espeak-ng ceiling")
        ax.axhline(ceiling.word_accuracy, color="C1", ls="--", lw=1)
        ax.axhline(0.7 * ceiling.accuracy, color="C0", ls=":", lw=1, label="70 % of the ceiling")
        ax.axhline(0.7 * ceiling.word_accuracy, color="C1", ls=":", lw=1)
    ax.set_xlabel("Tacotron 2 training time (min, validation excluded)")
    ax.set_ylabel("score on held-out sentences")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def intelligibility_curve(
    run_dir: Path, texts: Sequence[str], points: int = 4, corpus_dir: Path | None = None,
    out_dir: Path | None = None, griffin_lim_iters: int = 60, max_decoder_steps: int | None = None,
) -> tuple[list[CurvePoint], IntelligibilityReport | None]:
    """Score `points` checkpoints of `run_dir` spread over the run (the last included), and the ceiling
    when `corpus_dir` is given. The last point's wavs go to `out_dir`/wavs."""
    chosen = pick_evenly(checkpoint_minutes(run_dir), points)
    recognizer = Recognizer(texts, corpus_vocabulary())
    results = []
    for epoch, minutes, path in tqdm(chosen, desc="intelligibility", unit="checkpoint"):
        wavs = Path(out_dir) / "wavs" if out_dir is not None and path == chosen[-1][2] else None
        report = score_checkpoint(path, texts, recognizer, griffin_lim_iters, max_decoder_steps, wavs)
        results.append(CurvePoint(path.name, epoch, minutes, report))
    ceiling = ceiling_report(texts, corpus_dir, recognizer) if corpus_dir is not None else None
    return results, ceiling

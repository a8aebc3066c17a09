"""The README's main job: from nothing to speech on a CPU, within a time budget.

    python -m common.quickstart [--output output/quickstart] [--data data/offline] [--budget-min 15]

1. builds an offline English corpus (one espeak-ng voice) and precomputes its mels;
2. trains a small Tacotron 2 (r = 4, guided attention) on espeak-ng's IPA of the text, in batches of
   similar length, batch 16 in one process on two threads (`scripts/configs/tacotron2_cpu_quickstart.json`:
   as fast as two DDP workers of batch 8 on the idle 2-core machine, and it learns more per step);
3. with `--vocoder waveglow` or `--vocoder hifigan`, also trains a small neural vocoder (the default,
   Griffin-Lim, needs no training and is the more intelligible after a short run: the budget goes to
   Tacotron 2);
4. synthesises phrases/phrase.txt with Griffin-Lim (and the trained vocoder);
5. measures intelligibility: Tacotron 2 checkpoints from across the run speak phrases/heldout_en.txt
   (English sentences the corpus never says) through Griffin-Lim, pocketsphinx transcribes them, and
   espeak-ng's own rendering in the training voice gives the ceiling (`python -m common.evaluation curve`);
6. leaves loss-curve, intelligibility-curve and alignment PNGs, the nvlog files and `summary.md` in the
   output folder.

Tacotron 2 trains for what the budget leaves after the fixed stages (corpus, mels, synthesis, evaluation);
with a neural `--vocoder` it gets 70 % of that and the vocoder 30 %. Each stage runs as its own process; its
full output goes to a log file beside the results while a progress bar shows the time used and the latest
loss.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from common.evaluation.intelligibility import IntelligibilityReport
from common.filelist import read_filelist, write_filelist
from common.log_reader import NvlogError, plot_metrics, read_nvlog

ROOT = Path(__file__).resolve().parents[1]

CONFIGS = ROOT / "scripts/configs"
TACOTRON2_QUICKSTART = ["--config-file", str(CONFIGS / "tacotron2_cpu_quickstart.json")]
AFTER_TRAINING_S = 105  # synthesis, intelligibility (3 checkpoints and the ceiling), plots, with margin
HELDOUT = ROOT / "phrases/heldout_en.txt"
CURVE_POINTS = 3
QUICK_VAL_UTTERANCES = 30


@dataclass(frozen=True)
class NeuralVocoder:
    """A `--vocoder` the quickstart trains: its run.py model, output folder, inference.py flag and config."""

    model: str
    folder: str
    flag: str
    config: Path
    described: str  # for summary.md


VOCODERS = {
    "waveglow": NeuralVocoder("WaveGlow", "waveglow", "--waveglow", CONFIGS / "waveglow_cpu_small.json",
                              "WaveGlow (small: 6 flows, 4 layers, 32 channels)"),
    "hifigan": NeuralVocoder("HiFiGAN", "hifigan", "--hifigan", CONFIGS / "hifigan_cpu.json",
                             "HiFi-GAN (V2 generator, discriminators at a quarter width)"),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m common.quickstart", description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="output/quickstart", help="folder for everything the run makes")
    parser.add_argument("--data", default="data/offline",
                        help="folder of the offline corpus (reused when already built)")
    parser.add_argument("--budget-min", type=float, default=15.0, help="total wall-clock budget in minutes")
    parser.add_argument("--utterances", type=int, default=1000, help="corpus size (one English voice)")
    parser.add_argument("--vocoder", choices=["griffin-lim", *VOCODERS], default="griffin-lim",
                        help="griffin-lim: no vocoder training, Tacotron 2 gets the whole training budget; "
                             "waveglow or hifigan: also train a small one of those (30 %% of the training "
                             "budget)")
    parser.add_argument("--phrases", default=str(ROOT / "phrases/phrase.txt"), help="text to synthesise")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    if args.budget_min < 4:
        parser.error(f"--budget-min {args.budget_min}: at least 4 minutes are needed "
                     "(corpus, mels, synthesis)")
    return args


def latest(nvlog: Path) -> dict:
    """The last epoch record of a run log (empty while there is none)."""
    try:
        records = read_nvlog(nvlog)
    except (NvlogError, OSError):
        return {}
    epochs = [r for r in records if isinstance(r.get("step"), list) and len(r["step"]) == 1
              and "train_loss" in r.get("data", {})]
    return {"epoch": epochs[-1]["step"][0], **epochs[-1]["data"]} if epochs else {}


def run_stage(name: str, cmd: list[str], log_path: Path, budget_s: float | None = None,
              nvlog: Path | None = None) -> float:
    """Run one stage as a subprocess, its output in `log_path`, with a progress bar; returns seconds taken."""
    start = time.monotonic()
    total = int(budget_s) if budget_s else None
    bar_format = ("{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s {postfix}" if total
                  else "{desc}: {n:.0f} s elapsed")
    with open(log_path, "w") as log, tqdm(total=total, desc=name, unit="s", dynamic_ncols=True,
                                          bar_format=bar_format) as bar:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        while proc.poll() is None:
            time.sleep(2.0)
            elapsed = time.monotonic() - start
            bar.n = min(int(elapsed), total) if total else int(elapsed)
            if nvlog is not None and (state := latest(nvlog)):
                bar.set_postfix_str(f"epoch {state['epoch']} loss {state['train_loss']:.3f}")
            bar.refresh()
        if total:
            bar.n = total
    if proc.returncode != 0:
        tail = "".join(log_path.read_text(errors="replace").splitlines(keepends=True)[-15:])
        raise SystemExit(f"quickstart: stage '{name}' failed (exit {proc.returncode}); "
                         f"see {log_path}:\n{tail}")
    return time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out, data = Path(args.output).resolve(), Path(args.data).resolve()
    out.mkdir(parents=True, exist_ok=True)
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    py = sys.executable
    t0 = time.monotonic()
    # the budget is the whole command's: scripts/quickstart.sh notes when it started, before the set-up
    started = float(os.environ.get("QUICKSTART_STARTED", time.time()))

    def left_s() -> float:
        return args.budget_min * 60 - (time.time() - started)
    times: dict[str, float] = {}

    times["corpus"] = run_stage("corpus", [
        py, "-m", "common.corpus", "-o", str(data), "--utterances", str(args.utterances), "--speakers", "1",
        "--languages", "en", "--seed", str(args.seed), "--jobs", "2"], logs / "corpus.log")
    lists = data / "filelists"
    times["mels"] = run_stage("mels", [
        py, "-m", "common.prepare_mels", "-d", str(data), "--jobs", "2", "--filelists",
        *[str(lists / f"audio_text_{split}.txt") for split in ("train", "val", "test")]], logs / "mels.log")

    # validation every epoch: 30 utterances say as much about a short run as 100, in a third of the time
    val_list = data / "quickstart_val.txt"
    write_filelist(val_list, read_filelist(lists / "mel_text_val.txt")[:QUICK_VAL_UTTERANCES],
                   multi_speaker=False)
    train_s = max(left_s() - AFTER_TRAINING_S, 120)
    # --overwrite: a re-run starts its training afresh
    common = ["-d", str(data), "--epochs", "100000", "--seed", str(args.seed), "--overwrite"]
    t2_out = out / "tacotron2"
    vocoder = VOCODERS.get(args.vocoder)
    t2_budget = 0.7 * train_s if vocoder else train_s
    times["tacotron2"] = run_stage("Tacotron 2", [
        py, "run.py", "-m", "Tacotron2", "-o", str(t2_out),
        *common, "--epochs-per-checkpoint", "4",
        "--load-mel-from-disk",
        "--training-files", str(lists / "mel_text_train.txt"),
        "--validation-files", str(val_list),
        "--time-budget", f"{t2_budget / 60 * 0.97:.2f}", *TACOTRON2_QUICKSTART],
        logs / "tacotron2.log", t2_budget, t2_out / "nvlog.json")
    if vocoder:
        times[vocoder.folder] = train_vocoder(vocoder, out, lists, common,
                                              max(left_s() - AFTER_TRAINING_S, 60))
    synth = [py, "inference.py", "-i", args.phrases,
             "--tacotron2", str(t2_out / "checkpoint_Tacotron2_last.pt"), "--cpu",
             "--max-decoder-steps", "300", "--seed", str(args.seed)]
    times["synthesis"] = run_stage("synthesis (Griffin-Lim)",
                                   [*synth, "-o", str(out / "speech_griffin_lim")],
                                   logs / "synthesis_griffin_lim.log")
    if vocoder:
        times["synthesis"] += run_stage(f"synthesis ({vocoder.model})", [
            *synth, "-o", str(out / f"speech_{vocoder.folder}"),
            vocoder.flag, str(out / vocoder.folder / f"checkpoint_{vocoder.model}_last.pt")],
            logs / f"synthesis_{vocoder.folder}.log")

    times["intelligibility"] = run_stage("intelligibility", [
        py, "-m", "common.evaluation", "curve", "--run-dir", str(t2_out), "-i", str(HELDOUT),
        "-o", str(out / "intelligibility"), "--corpus", str(data), "--points", str(CURVE_POINTS),
        "--max-decoder-steps", "300", "--log-file", str(out / "intelligibility/nvlog.json")],
        logs / "intelligibility.log")

    plot_losses(t2_out / "nvlog.json", ["train_loss", "val_loss", "val_attention_focus"],
                out / "tacotron2_loss.png", "Tacotron 2 (quickstart)")
    if vocoder:
        plot_losses(out / vocoder.folder / "nvlog.json", ["train_loss", "val_loss"],
                    out / f"{vocoder.folder}_loss.png", f"{vocoder.model} (quickstart)")
    total = time.monotonic() - t0
    summary = write_summary(out, data, times, total, args)
    print(summary)
    return 0


def plot_losses(nvlog: Path, metrics: list[str], png: Path, title: str) -> bool:
    """A loss plot, or a note on stderr when the run logged none of an epoch (a budget that ended inside the
    first epoch): the quickstart's results do not hang on a picture."""
    try:
        plot_metrics(nvlog, metrics, png, title=title)
    except NvlogError as err:
        print(f"quickstart: no {png.name}: {err}", file=sys.stderr)
        return False
    return True


def train_vocoder(vocoder: NeuralVocoder, out: Path, lists: Path, common: list[str], budget: float) -> float:
    """A neural `--vocoder` on the corpus audio, for what the budget leaves (seconds)."""
    folder = out / vocoder.folder
    return run_stage(vocoder.model, [
        sys.executable, "run.py", "-m", vocoder.model, "-o", str(folder), *common,
        "--epochs-per-checkpoint", "25",
        "--training-files", str(lists / "audio_text_train.txt"),
        "--validation-files", str(lists / "audio_text_val.txt"),
        "--time-budget", f"{budget / 60 * 0.95:.2f}", "--config-file", str(vocoder.config)],
        out / f"logs/{vocoder.folder}.log", budget, folder / "nvlog.json")


def write_summary(out: Path, data: Path, times: dict[str, float], total: float, args) -> str:
    """`summary.md`: what was trained, for how long, how far it got, and where the results are."""
    vocoder = VOCODERS.get(args.vocoder)
    t2 = latest(out / "tacotron2/nvlog.json")
    wg = latest(out / vocoder.folder / "nvlog.json") if vocoder else {}
    spoke = bool(vocoder) and (out / f"speech_{vocoder.folder}").is_dir()
    corpus = json.loads((data / "corpus.json").read_text()) if (data / "corpus.json").exists() else {}
    wavs = sorted((out / "speech_griffin_lim").glob("*.wav"))
    lines = [
        "# Quickstart summary",
        "",
        f"Budget {args.budget_min:g} min; total wall time {total / 60:.1f} min "
        f"({', '.join(f'{k} {v / 60:.1f} min' for k, v in times.items())}).",
        "",
        f"- Corpus: `{data}` ({corpus.get('utterances', args.utterances)} utterances of one English "
        "espeak-ng voice).",
        f"- Tacotron 2 (small, r = 4, guided attention, espeak-ng IPA input): {t2.get('epoch', -1) + 1} "
        f"epochs; train loss {t2.get('train_loss', float('nan')):.3f}, val loss "
        f"{t2.get('val_loss', float('nan')):.3f}, val attention focus "
        f"{t2.get('val_attention_focus', float('nan')):.2f} (1 = sharp attention; ~1/input length = none). "
        "Curves: `tacotron2_loss.png`.",
        *([f"- {vocoder.described}: {wg.get('epoch', -1) + 1} epochs; train "
           f"loss {wg.get('train_loss', float('nan')):.3f}, val loss {wg.get('val_loss', float('nan')):.3f}. "
           f"Curves: `{vocoder.folder}_loss.png`."] if wg else []),
        f"- Speech: {len(wavs)} phrases in `speech_griffin_lim/`"
        f"{f' and `speech_{vocoder.folder}/`' if spoke else ''} (a wav and an alignment PNG per phrase).",
        *intelligibility_lines(out / "intelligibility/intelligibility_curve.json"),
        "- Logs: `logs/`; run logs (DLLogger format): `tacotron2/nvlog.json`"
        f"{f', `{vocoder.folder}/nvlog.json`' if wg else ''}.",
        "",
        "What to expect: see the README section 'What the quickstart achieves'.",
    ]
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    return text


def intelligibility_lines(curve_json: Path) -> list[str]:
    """The summary's intelligibility bullet: the last checkpoint's scores, the ceiling, and the target."""
    try:
        data = json.loads(curve_json.read_text())
        last, ceiling = data["points"][-1], data["ceiling"]
        fraction = IntelligibilityReport.from_json(last).fraction_of(IntelligibilityReport.from_json(ceiling))
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return [f"- Intelligibility: not measured (no readable `{curve_json.name}`)."]
    of_accuracy, of_word = fraction["accuracy"], fraction["word_accuracy"]
    met = of_accuracy >= 0.7 and of_word >= 0.7
    machine = f"{platform.machine()} {platform.processor() or 'CPU'}, {os.cpu_count()} cores"
    verdict = "met" if met else "not met"
    return [
        f"- Intelligibility on {last['n']} held-out English sentences (`phrases/heldout_en.txt`, "
        f"Griffin-Lim, pocketsphinx; {last['checkpoint']} after {last['minutes']:.1f} min of training): "
        f"closed-set accuracy {last['closed_set_accuracy']:.2f}, WER {last['wer']:.2f}, "
        f"PER {last['per']:.2f}. espeak-ng's own rendering in the training voice (the ceiling): "
        f"{ceiling['closed_set_accuracy']:.2f}, {ceiling['wer']:.2f}, {ceiling['per']:.2f}. Ours as a "
        f"fraction of the ceiling: closed-set {of_accuracy:.2f}, word accuracy {of_word:.2f} (target 0.70 "
        f"on both: {verdict}). Against training time: `intelligibility/intelligibility_curve.png`; wavs: "
        f"`intelligibility/wavs/`. Machine: {machine}.",
    ]


if __name__ == "__main__":
    sys.exit(main())

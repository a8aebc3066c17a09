"""The reference README's training commands, pasted, run on a fresh clone against the offline corpus.

The commands below are copied from the reference README ("Training performance benchmark"); only the
placeholders are filled. The offline corpus's filelists are put under the reference's filelist names, and
a few flags are appended for a CPU test (one short epoch, a small model): the pasted part stays verbatim.
The clone is of the committed tree (HEAD), so this also catches files that were never committed.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from common.data_tools.prepare_mels import prepare_mels
from common.filelist import read_filelist, write_filelist
from common.log_reader import metric_series, parameters, read_nvlog

ROOT = Path(__file__).resolve().parents[1]

TACOTRON2_COMMAND = (
    "python -m multiproc train.py -m Tacotron2 -o <output_dir> -lr 1e-3 --epochs 10 -bs <batch_size> "
    "--weight-decay 1e-6 --grad-clip-thresh 1.0 --cudnn-enabled --load-mel-from-disk "
    "--training-files=./filelists/ljs_mel_text_train_subset_2500_filelist.txt "
    "--validation-files=./filelists/ljs_mel_text_val_filelist.txt --dataset-path <dataset-path> --amp"
)
WAVEGLOW_COMMAND = (
    "python -m multiproc train.py -m WaveGlow -o <output_dir> -lr 1e-4 --epochs 10 -bs <batch_size> "
    "--segment-length 8000 --weight-decay 0 --grad-clip-thresh 65504.0 --cudnn-enabled --cudnn-benchmark "
    "--training-files=./filelists/ljs_audio_text_train_subset_1250_filelist.txt "
    "--dataset-path <dataset-path> --amp"
)
# appended for a CPU test: one epoch of two steps, a small model
CPU_TEST = ["--cpu", "--epochs", "1", "--max-steps-per-epoch", "2", "--num-workers", "0", "--seed", "1"]
TACOTRON2_SMALL = ["--symbols-embedding-dim", "32", "--encoder-embedding-dim", "32",
                   "--encoder-n-convolutions", "1", "--attention-rnn-dim", "32", "--decoder-rnn-dim", "32",
                   "--prenet-dim", "16", "--attention-dim", "16", "--postnet-embedding-dim", "16",
                   "--postnet-n-convolutions", "2"]
WAVEGLOW_SMALL = ["--flows", "2", "--early-every", "1", "--wn-layers", "2", "--wn-channels", "16"]


def paste(command: str, output: Path, dataset: Path) -> list[str]:
    """The pasted command with its placeholders filled, as a subprocess argument list."""
    filled = (command.replace("<output_dir>", str(output)).replace("<batch_size>", "2")
              .replace("<dataset-path>", str(dataset)))
    argv = shlex.split(filled)
    assert argv[0] == "python"
    return [sys.executable, *argv[1:]]


@pytest.fixture(scope="module")
def clone_with_offline_filelists(tiny_corpus, tmp_path_factory) -> tuple[Path, Path]:
    """A fresh clone whose filelists/ holds the offline corpus under the reference's names, and the corpus
    (a copy, with mels)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    base = tmp_path_factory.mktemp("fresh")
    clone, corpus = base / "clone", base / "corpus"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    shutil.copytree(tiny_corpus, corpus)
    prepare_mels(corpus, [corpus / "short_train.txt", corpus / "short_val.txt"], jobs=1, progress=False)
    lists = clone / "filelists"
    names = {"short_train.txt": ["ljs_audio_text_train_subset_1250_filelist.txt"],
             "short_val.txt": ["ljs_audio_text_val_filelist.txt"],
             "short_train_mel.txt": ["ljs_mel_text_train_subset_2500_filelist.txt"],
             "short_val_mel.txt": ["ljs_mel_text_val_filelist.txt"]}
    for source, targets in names.items():
        for target in targets:
            write_filelist(lists / target, read_filelist(corpus / source), multi_speaker=False)
    return clone, corpus


@pytest.mark.slow
@pytest.mark.parametrize("model, command, small", [("Tacotron2", TACOTRON2_COMMAND, TACOTRON2_SMALL),
                                                   ("WaveGlow", WAVEGLOW_COMMAND, WAVEGLOW_SMALL)],
                         ids=["Tacotron2", "WaveGlow"])
def test_reference_readme_command_runs_on_a_fresh_clone(clone_with_offline_filelists, tmp_path, model,
                                                        command, small):
    clone, corpus = clone_with_offline_filelists
    out = tmp_path / "output"
    proc = subprocess.run([*paste(command, out, corpus), *CPU_TEST, *small], cwd=clone, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = read_nvlog(out / "nvlog.json")
    params = parameters(records)
    assert params["model_name"] == model and params["amp"] is True and params["batch_size"] == 2
    assert len(metric_series(records, "train_loss", "iteration")) == 2
    assert len(metric_series(records, "val_loss", "epoch")) == 1
    assert (out / f"checkpoint_{model}_0.pt").is_file()

"""HiFi-GAN training pieces: flags (hifigan/arg_parser.py), data (hifigan/data_function.py), the two-player
step (hifigan/train_step.py: the loss falls on the offline corpus, resume is bitwise, gradient accumulation
averages) and the teacher-forced mel extraction for fine-tuning (common/data_tools/extract_mels.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from common.arg_parser import training_parser
from common.audio import load_wav
from common.data import BadItem, DatasetError
from common.data_tools.extract_mels import main as extract_main
from common.filelist import read_filelist, resolve_path
from common.stft import MelSTFT
from hifigan.arg_parser import check_args, hifigan_parser, model_config
from hifigan.data_function import AudioMelCollate, AudioMelDataset, batch_to_device
from hifigan.model import DEFAULT_CONFIG, PRESETS
from hifigan.train_step import build_trainer
from tacotron2.model import Tacotron2

TINY_G = {"upsample_rates": [8, 8, 4], "upsample_kernel_sizes": [16, 16, 8], "upsample_initial_channel": 32,
          "resblock": "2", "resblock_kernel_sizes": [3], "resblock_dilation_sizes": [[1, 3]]}
BASE = ["-o", "out", "-m", "HiFiGAN", "--epochs", "1", "-lr", "3e-4", "-bs", "16"]


def parse(*extra: str) -> argparse.Namespace:
    return hifigan_parser(training_parser()).parse_args([*BASE, *extra])


def test_flags_have_the_reference_defaults_and_both_spellings() -> None:
    args = parse()
    assert (args.segment_size, args.lr_decay, args.adam_betas) == (8192, 0.9998, [0.8, 0.99])
    assert (args.mel_fmax_loss, args.ema_decay, args.warmup_steps) == (None, 0.0, 1000)
    assert not args.fine_tuning
    assert args.mpd_periods == [2, 3, 5, 7, 11] and args.discriminator_width == 1.0
    assert model_config(args) == {**DEFAULT_CONFIG, "n_mel_channels": 80}
    args = parse("--segment_size", "4096", "--lr_decay", "0.999", "--fine_tuning", "--input_mels_dir", "m",
                 "--hifigan-preset", "v3", "--upsample-initial-channel", "64")
    assert (args.segment_size, args.lr_decay, args.input_mels_dir) == (4096, 0.999, "m") and args.fine_tuning
    assert model_config(args) == {**PRESETS["V3"], "upsample_initial_channel": 64, "n_mel_channels": 80}
    check_args(args)


@pytest.mark.parametrize(("extra", "message"), [
    (["--segment-size", "8000"], "--segment-size 8000 must be a multiple of --hop-length 256"),
    (["--fine-tuning"], "--fine-tuning needs --input-mels-dir"),
    (["--input-mels-dir", "m"], "--input-mels-dir is only read with --fine-tuning"),
    (["--upsample-rates", "8", "4", "2", "2"], "multiply to 128, but --hop-length is 256"),
])
def test_flag_combinations_are_checked(extra: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_args(parse(*extra))


def test_bad_flag_values_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    for extra in (["--resblock-dilation-sizes", "[1,2"], ["--lr-decay", "1.5"], ["--segment-size", "0"],
                  ["--discriminator-width", "0"]):
        with pytest.raises(SystemExit):
            parse(*extra)
        assert extra[0] in capsys.readouterr().err


def corpus_dataset(corpus: Path, **kwargs) -> AudioMelDataset:
    return AudioMelDataset(corpus, corpus / "short_train.txt", **kwargs)


def test_training_items_are_windows_and_their_mels(tiny_corpus: Path) -> None:
    data = corpus_dataset(tiny_corpus)
    mel, audio = data.load_item(0)
    assert mel.shape == (80, 32) and audio.shape == (8192,)
    entry = data.entries[0]
    wav = load_wav(resolve_path(tiny_corpus, entry.audio_path), 22050)
    start = next(i for i in range(wav.numel() - 8191) if torch.equal(wav[i : i + 8192], audio))
    assert start >= 0
    want = MelSTFT().mel_spectrogram(audio.unsqueeze(0))[0, :, :32]
    torch.testing.assert_close(mel, want)
    assert torch.equal(data.load_item(0)[1], audio)  # the same window within an epoch
    data.set_epoch(1)
    assert not torch.equal(data.load_item(0)[1], audio)
    whole = AudioMelDataset(tiny_corpus, tiny_corpus / "short_train.txt", segment_size=None).load_item(0)
    assert whole[1].numel() == whole[0].size(1) * 256 == wav.numel() // 256 * 256
    batch = AudioMelCollate()([data[0], data[1]])
    mel_b, audio_b, n = batch_to_device(batch, "cpu")
    assert mel_b.shape == (2, 80, 32) and audio_b.shape == (2, 1, 8192) and n == 2 * 8192


def test_bad_files_name_the_filelist_line(tmp_path: Path) -> None:
    (tmp_path / "list.txt").write_text("missing.wav|hello\n")
    data = AudioMelDataset(tmp_path, tmp_path / "list.txt")
    assert isinstance(data[0], BadItem)
    with pytest.raises(DatasetError, match="list.txt:1"):
        data.load_item(0)
    with pytest.raises(ValueError, match="--segment-size 1000 must be a positive multiple"):
        AudioMelDataset(tmp_path, tmp_path / "list.txt", segment_size=1000)
    with pytest.raises(DatasetError, match="--input-mels-dir .*not a directory"):
        AudioMelDataset(tmp_path, tmp_path / "list.txt", fine_tuning=True, input_mels_dir=tmp_path / "none")


def corpus_batches(corpus: Path, n: int, size: int = 2, dtype: torch.dtype = torch.float32,
                   segment_size: int = 8192) -> list:
    data = corpus_dataset(corpus, segment_size=segment_size)
    collate = AudioMelCollate()
    batches = []
    for i in range(n):
        data.set_epoch(i)
        mel, audio, _ = batch_to_device(collate([data[j] for j in range(size)]), "cpu")
        batches.append((mel.to(dtype), audio.to(dtype)))
    return batches


def tiny_trainer(seed: int = 0, **kwargs) -> object:
    torch.manual_seed(seed)
    return build_trainer(TINY_G, periods=(2, 3), discriminator_width=1 / 8, **kwargs)


@pytest.mark.slow
def test_loss_falls_on_the_offline_corpus(tiny_corpus: Path) -> None:
    trainer = tiny_trainer(learning_rate=2e-3, warmup_steps=0)
    batches = corpus_batches(tiny_corpus, 4, size=1, segment_size=4096)
    history = [trainer.step([batches[i % 4]]) for i in range(30)]
    mel_first = sum(h["loss_mel"] for h in history[:4]) / 4
    mel_last = sum(h["loss_mel"] for h in history[-4:]) / 4
    gen_first = sum(h["loss_gen"] for h in history[:4]) / 4
    gen_last = sum(h["loss_gen"] for h in history[-4:]) / 4
    assert mel_last < 0.75 * mel_first, (mel_first, mel_last)
    assert gen_last < gen_first
    assert set(history[0]) >= {"loss_discrim", "loss_gen", "loss_mel", "loss_fm_mpd", "loss_gen_msd"}
    assert trainer.steps == 30


def test_resume_is_bitwise(tiny_corpus: Path, tmp_path: Path) -> None:
    batches = corpus_batches(tiny_corpus, 4, size=1)
    kwargs = dict(learning_rate=1e-3, warmup_steps=3, ema_decay=0.9, lr_decay=0.5)
    straight = tiny_trainer(**kwargs)
    straight.step([batches[0]])
    straight.end_epoch()
    straight.step([batches[1]])
    torch.save(straight.state_dict(), tmp_path / "state.pt")
    for b in batches[2:]:
        straight.step([b])
    resumed = tiny_trainer(seed=99, **kwargs)  # different initial weights: everything must come from the file
    resumed.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    assert resumed.learning_rate() == straight.learning_rate() == 1e-3 * 0.5
    for b in batches[2:]:
        resumed.step([b])
    for name, want in straight.state_dict().items():
        if name in ("steps", "epoch"):
            assert resumed.state_dict()[name] == want
        elif name.startswith(("generator", "mpd", "msd", "gen_ema")):
            for key, value in want.items():
                assert torch.equal(resumed.state_dict()[name][key], value), (name, key)
    gen = straight.generator_checkpoint()
    assert set(gen) == {"generator", "gen_ema", "config", "train_setup", "train_state"}
    assert {"mpd", "msd", "optim_g", "optim_d", "steps", "epoch"} <= set(straight.discriminator_checkpoint())


def test_gradient_accumulation_averages_micro_batches(tiny_corpus: Path) -> None:
    """Two micro-batches of 1 give the step of one batch of 2 (spectral norm's power iteration, which
    advances once per forward call, is converged first so that the extra calls do not matter)."""
    (mel, audio), = corpus_batches(tiny_corpus, 1, size=2, dtype=torch.float64, segment_size=4096)
    whole = tiny_trainer(learning_rate=1e-3, warmup_steps=0)
    split = tiny_trainer(learning_rate=1e-3, warmup_steps=0)
    for trainer in (whole, split):
        for module in (trainer.generator, trainer.mpd, trainer.msd):
            module.double()
        with torch.no_grad():  # converge spectral norm's power iteration, which runs on every forward
            for _ in range(20):
                trainer.msd(audio, audio)
    losses_whole = whole.step([(mel, audio)])
    losses_split = split.step([(mel[:1], audio[:1]), (mel[1:], audio[1:])])
    for key in ("loss_discrim", "loss_gen", "loss_mel"):
        assert losses_split[key] == pytest.approx(losses_whole[key], rel=1e-6), key
    # the generator's gradients of this step (left in .grad) are the batch mean in both
    for module in ("generator",):
        pairs = list(zip(getattr(whole, module).named_parameters(), getattr(split, module).parameters(),
                         strict=True))
        scale = max(a.grad.abs().max().item() for (_, a), _ in pairs)
        assert scale > 0
        for (name, a), b in pairs:
            torch.testing.assert_close(b.grad, a.grad, rtol=1e-5, atol=1e-6 * scale, msg=f"{module}.{name}")


@pytest.mark.slow
def test_teacher_forced_mels_feed_fine_tuning(tiny_corpus: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = dict(symbols_embedding_dim=16, encoder_kernel_size=3, encoder_n_convolutions=1,
                  encoder_embedding_dim=16, attention_rnn_dim=16, attention_dim=8,
                  attention_location_n_filters=4, attention_location_kernel_size=5, decoder_rnn_dim=16,
                  prenet_dim=8, postnet_embedding_dim=16, postnet_kernel_size=3, postnet_n_convolutions=2)
    model = Tacotron2(**config)
    torch.save({"model_name": "Tacotron2", "epoch": 1, "config": config, "state_dict": model.state_dict()},
               tmp_path / "t2.pt")
    out = tmp_path / "mels"
    filelist = tiny_corpus / "short_train.txt"
    assert extract_main(["--tacotron2", str(tmp_path / "t2.pt"), "-d", str(tiny_corpus), "--filelist",
                         str(filelist), "-o", str(out), "--batch-size", "4"]) == 0
    entries = read_filelist(filelist)
    stft = MelSTFT()
    for entry in entries:
        mel = torch.load(out / f"{Path(entry.audio_path).stem}.pt", weights_only=True)
        wav = load_wav(resolve_path(tiny_corpus, entry.audio_path), 22050)
        assert mel.shape == stft.mel_spectrogram(wav.unsqueeze(0)).shape[1:]
        assert mel.dtype == torch.float32 and torch.isfinite(mel).all()
    data = AudioMelDataset(tiny_corpus, filelist, fine_tuning=True, input_mels_dir=out)
    mel, audio = data.load_item(0)
    assert mel.shape == (80, 32) and audio.shape == (8192,)
    stored = torch.load(out / f"{Path(entries[0].audio_path).stem}.pt", weights_only=True)
    assert stored.size(1) >= 32
    start = next(s for s in range(stored.size(1) - 31) if torch.equal(stored[:, s : s + 32], mel))
    wav = load_wav(resolve_path(tiny_corpus, entries[0].audio_path), 22050)
    window = wav[start * 256 : start * 256 + 8192]
    assert torch.equal(audio, torch.nn.functional.pad(window, (0, 8192 - window.numel())))
    (out / f"{Path(entries[1].audio_path).stem}.pt").unlink()
    item = data[1]
    assert isinstance(item, BadItem) and "not found" in item.message and "short_train.txt:2" in item.message
    assert extract_main(["--tacotron2", str(tmp_path / "missing.pt"), "--filelist", str(filelist),
                         "-o", str(out)]) == 1

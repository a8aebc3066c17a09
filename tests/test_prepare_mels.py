"""Mel precomputation: bitwise equal to MelSTFT, mel filelists, resume, bad input named by line."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from common.audio import load_wav
from common.audio_config import AudioConfig
from common.data_tools import prepare_mels as pm
from common.data_tools.prepare_mels import PrepareMelsError, mel_filelist_path, prepare_mels
from common.filelist import FilelistEntry, read_filelist, write_filelist
from common.stft import MelSTFT

SPLITS = ("train", "val", "test")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """fr + de, 2 speakers, 3 utterances each: train/val/test hold 1 + 1 + 1 per speaker."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    from common.data_tools.corpus import build_corpus

    root = tmp_path_factory.mktemp("mel_corpus")
    build_corpus(root, 6, 2, ["fr", "de"], seed=5, jobs=2, progress=False)
    return root


def _lists(root: Path, kind: str = "audio_text_speaker_language") -> list[Path]:
    return [root / "filelists" / f"{kind}_{split}.txt" for split in SPLITS]


def _reference_mel(wav: Path) -> torch.Tensor:
    """The mel computed directly, one thread (as prepare_mels does per file)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            return MelSTFT().mel_spectrogram(load_wav(wav).unsqueeze(0))[0]
    finally:
        torch.set_num_threads(threads)


def test_mel_filelist_names():
    assert mel_filelist_path("filelists/ljs_audio_text_train_filelist.txt") == Path(
        "filelists/ljs_mel_text_train_filelist.txt")
    assert mel_filelist_path("d/audio_text_speaker_language_val.txt") == Path(
        "d/mel_text_speaker_language_val.txt")
    assert mel_filelist_path("d/train.txt") == Path("d/train_mel.txt")
    assert mel_filelist_path("list") == Path("list_mel")


@pytest.mark.parametrize("jobs", [1, 2])
def test_mels_equal_a_direct_computation_bitwise(corpus, jobs):
    summary = prepare_mels(corpus, _lists(corpus), jobs=jobs, overwrite=True, progress=False)
    assert (summary.n_entries, summary.n_files, summary.n_computed, summary.n_bad) == (6, 6, 6, 0)
    total = 0
    for wav in sorted((corpus / "wavs").glob("*.wav")):
        mel = torch.load(corpus / "mels" / f"{wav.stem}.pt", weights_only=True)
        assert mel.dtype == torch.float32 and mel.is_contiguous()
        n_samples = sf.info(str(wav)).frames
        assert mel.shape == (80, n_samples // 256 + 1)
        # Storage is compact: nothing beyond the mel itself was saved.
        assert mel.untyped_storage().nbytes() == mel.numel() * 4
        assert torch.equal(mel, _reference_mel(wav))
        total += mel.shape[1]
    assert summary.frames == total


def test_mel_filelists_mirror_the_inputs(corpus):
    prepare_mels(corpus, _lists(corpus) + _lists(corpus, "audio_text"), jobs=1, progress=False)
    for kind, mel_kind in (("audio_text_speaker_language", "mel_text_speaker_language"),
                           ("audio_text", "mel_text")):
        for audio_list, mel_list in zip(_lists(corpus, kind), _lists(corpus, mel_kind)):
            audio_lines = audio_list.read_text(encoding="utf-8").splitlines()
            mel_lines = mel_list.read_text(encoding="utf-8").splitlines()
            assert len(mel_lines) == len(audio_lines) >= 2
            for a, m in zip(audio_lines, mel_lines):
                path, rest = a.split("|", 1)
                assert m == f"mels/{Path(path).stem}.pt|{rest}"
                assert (corpus / m.split("|")[0]).is_file()
    val = read_filelist(corpus / "filelists" / "mel_text_speaker_language_val.txt")
    assert {(e.speaker, e.language) for e in val} == {("spk00", "fr"), ("spk01", "de")}


def test_done_files_are_skipped(corpus):
    prepare_mels(corpus, _lists(corpus), jobs=1, progress=False)
    mels = sorted((corpus / "mels").glob("*.pt"))
    stamps = [p.stat().st_mtime_ns for p in mels]
    summary = prepare_mels(corpus, _lists(corpus), jobs=2, progress=False)
    assert (summary.n_computed, summary.n_existing) == (0, 6)
    assert [p.stat().st_mtime_ns for p in mels] == stamps
    assert not list((corpus / "mels").glob(".*"))  # no temporary files left behind


def _bad_wavs(root: Path) -> dict[str, Path]:
    """Wavs that load_wav must reject, each with the problem its error names."""
    bad = root / "bad"
    bad.mkdir(exist_ok=True)
    noise = (np.random.default_rng(0).standard_normal(4000) * 0.1).astype(np.float32)
    sf.write(bad / "stereo.wav", np.stack([noise, noise], axis=1), 22050, subtype="PCM_16")
    sf.write(bad / "rate.wav", noise, 16000, subtype="PCM_16")
    (bad / "garbage.wav").write_bytes(b"RIFF not really a wav file")
    sf.write(bad / "short.wav", noise[:100], 22050, subtype="PCM_16")
    return {"stereo": bad / "stereo.wav", "rate": bad / "rate.wav", "garbage": bad / "garbage.wav",
            "short": bad / "short.wav", "missing": bad / "missing.wav"}


@pytest.mark.parametrize("kind,problem", [
    ("missing", "not found"), ("stereo", "2 channels"), ("rate", "16000 Hz"), ("garbage", "cannot read"),
    ("short", "only 100 samples"),
])
@pytest.mark.parametrize("jobs", [1, 2])
def test_bad_audio_names_filelist_and_line(corpus, tmp_path, kind, problem, jobs):
    wav = _bad_wavs(tmp_path)[kind]
    good = read_filelist(_lists(corpus, "audio_text")[0])[:2]
    entries = good + [FilelistEntry(str(wav), "a bad one.")]
    filelist = tmp_path / "bad_audio_text.txt"
    write_filelist(filelist, entries, multi_speaker=False)
    with pytest.raises(PrepareMelsError) as err:
        prepare_mels(corpus, [filelist], output_dir=tmp_path / "mels", jobs=jobs, progress=False)
    message = str(err.value)
    assert message.startswith(f"{filelist}:3: ") and wav.name in message and problem in message
    assert "--skip-bad" in message


def test_skip_bad_leaves_entries_out_and_counts_them(corpus, tmp_path):
    bad = _bad_wavs(tmp_path)
    good = read_filelist(_lists(corpus)[0])
    entries = [good[0]] + [FilelistEntry(str(p), "bad.", "spkX", "fr") for p in bad.values()] + good[1:]
    filelist = tmp_path / "mixed.txt"
    write_filelist(filelist, entries, multi_speaker=True)
    summary = prepare_mels(corpus, [filelist], output_dir="mels_skip", jobs=2, skip_bad=True, progress=False)
    assert (summary.n_bad, summary.n_computed) == (5, len(good))
    assert [b.split(": ")[0] for b in summary.bad] == [f"{filelist}:{i}" for i in range(2, 7)]
    kept = read_filelist(tmp_path / "mixed_mel.txt")
    assert [e.audio_path for e in kept] == [f"mels_skip/{Path(e.audio_path).stem}.pt" for e in good]
    assert [(e.text, e.speaker, e.language) for e in kept] == [(e.text, e.speaker, e.language) for e in good]


def test_cli_and_input_errors(corpus, tmp_path, capsys):
    assert pm.main(["-d", str(corpus), "--filelists", *map(str, _lists(corpus, "audio_text")), "--quiet",
                    "--output-dir", "mels_cli", "--jobs", "1", "--mel-fmax", "7000"]) == 0
    assert "6 distinct wavs: 6 computed" in capsys.readouterr().out
    wav = sorted((corpus / "wavs").glob("*.wav"))[0]
    mel = torch.load(corpus / "mels_cli" / f"{wav.stem}.pt", weights_only=True)
    with torch.no_grad():
        expected = MelSTFT(mel_fmax=7000.0).mel_spectrogram(load_wav(wav).unsqueeze(0))[0]
    torch.testing.assert_close(mel, expected, rtol=0, atol=1e-6)

    broken = tmp_path / "broken.txt"
    broken.write_text("wavs/a.wav|fine\nwavs/b.wav|too|many\n", encoding="utf-8")
    assert pm.main(["-d", str(corpus), "--filelists", str(broken), "--quiet"]) == 2
    assert f"{broken}:2" in capsys.readouterr().err
    with pytest.raises(PrepareMelsError, match="dataset folder not found"):
        prepare_mels(tmp_path / "nowhere", [broken], progress=False)
    with pytest.raises(PrepareMelsError, match="bad STFT settings"):
        prepare_mels(corpus, [broken], audio=AudioConfig(mel_fmax=20000.0), progress=False)

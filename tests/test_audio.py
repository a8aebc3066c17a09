"""Audio I/O (common/audio.py) and the mel front end and its inverse (common/stft.py)."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch

from common.audio import AudioError, AudioInfo, audio_info, load_wav, save_wav
from common.stft import STFT, MelSTFT, griffin_lim, mel_to_audio

SR = 22050


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread: the CPU is shared, and oversubscribed FFT threads run many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def speech(speech_wav: Path) -> torch.Tensor:
    audio = load_wav(speech_wav)
    assert audio.shape[0] > SR, "the speech fixture must last more than one second"
    return audio


def librosa_log_mel(y: np.ndarray) -> np.ndarray:
    """The reference features computed independently, in float64, with numpy and librosa."""
    spectrum = librosa.stft(
        y.astype(np.float64),
        n_fft=1024,
        hop_length=256,
        win_length=1024,
        window="hann",
        center=True,
        pad_mode="reflect",
    )
    basis = librosa.filters.mel(sr=SR, n_fft=1024, n_mels=80, fmin=0.0, fmax=8000.0).astype(np.float64)
    return np.log(np.maximum(basis @ np.abs(spectrum), 1e-5))


def spectral_convergence(estimate: torch.Tensor, target: torch.Tensor) -> float:
    return (torch.linalg.norm(estimate - target) / torch.linalg.norm(target)).item()


# ---------------------------------------------------------------------------------------------- mel front end


def test_mel_matches_librosa_on_real_speech(speech: torch.Tensor) -> None:
    taco = MelSTFT()
    reference = librosa_log_mel(speech.numpy())

    mel32 = taco.mel_spectrogram(speech[None])[0].numpy()
    assert mel32.shape == reference.shape == (80, speech.shape[0] // 256 + 1)
    diff32 = np.abs(mel32.astype(np.float64) - reference)
    # float32 audio in, float32 features out (the training path); the STFT itself runs in float64, so the
    # only difference left is the rounding of the output (~1e-6 at |log-mel| ~ 11).
    assert diff32.max() < 1e-4

    # float64: the same formula exactly (measured 4e-13).
    mel64 = taco.mel_spectrogram(speech[None].double())[0].numpy()
    assert np.abs(mel64 - reference).max() < 1e-9


def test_one_second_gives_87_frames(speech: torch.Tensor) -> None:
    one_second = speech[:SR]
    mel = MelSTFT().mel_spectrogram(one_second[None])
    assert mel.shape == (1, 80, 87)
    np.testing.assert_allclose(mel[0].double().numpy(), librosa_log_mel(one_second.numpy()), atol=1e-4)


def test_mel_is_batched_per_item(speech: torch.Tensor) -> None:
    taco = MelSTFT()
    batch = torch.stack([speech[:SR], 0.5 * speech[SR : 2 * SR]])
    mel = taco.mel_spectrogram(batch)
    torch.testing.assert_close(mel[1], taco.mel_spectrogram(batch[1:])[0])
    # Halving the audio subtracts log 2 wherever the clamp does not act.
    loud = mel[1] > np.log(1e-3)
    full = taco.mel_spectrogram(speech[None, SR : 2 * SR])[0]
    torch.testing.assert_close(mel[1][loud], full[loud] - np.log(2.0), atol=1e-4, rtol=0)


def test_mel_rejects_out_of_range_audio() -> None:
    taco = MelSTFT()
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        taco.mel_spectrogram(torch.full((1, 4096), 1.5))
    with pytest.raises(ValueError, match="batch, samples"):
        taco.mel_spectrogram(torch.zeros(4096))


def test_mel_buffers_stay_out_of_state_dict() -> None:
    taco = MelSTFT()
    assert taco.state_dict() == {}
    assert taco.mel_basis.shape == (80, 513)
    np.testing.assert_array_equal(
        taco.mel_basis.numpy(), librosa.filters.mel(sr=SR, n_fft=1024, n_mels=80, fmin=0.0, fmax=8000.0)
    )


def test_spectral_normalize_round_trip() -> None:
    taco = MelSTFT()
    x = torch.tensor([0.0, 1e-6, 1e-5, 0.5, 3.0])
    logged = taco.spectral_normalize(x)
    torch.testing.assert_close(logged, torch.log(torch.tensor([1e-5, 1e-5, 1e-5, 0.5, 3.0])))
    torch.testing.assert_close(taco.spectral_de_normalize(logged)[2:], x[2:])


def test_mel_gradients_flow() -> None:
    stft = STFT(filter_length=64, hop_length=16, win_length=48)
    taco = MelSTFT(
        filter_length=64, hop_length=16, win_length=48, n_mel_channels=8, sampling_rate=8000, mel_fmax=4000.0
    )
    x = 0.5 * torch.rand(1, 200, generator=torch.Generator().manual_seed(0), dtype=torch.float64) - 0.25
    assert torch.autograd.gradcheck(lambda a: stft.transform(a)[0], (x.requires_grad_(),))
    assert torch.autograd.gradcheck(taco.mel_spectrogram, (x,))


# ------------------------------------------------------------------------------------------------------- STFT


def test_stft_reconstructs_audio(speech: torch.Tensor) -> None:
    stft = STFT()
    batch = torch.stack([speech[: 2 * SR], speech[-2 * SR :]])
    magnitude, phase = stft.transform(batch)
    assert magnitude.shape == phase.shape == (2, 513, 2 * SR // 256 + 1)
    rebuilt = stft.inverse(magnitude, phase)
    assert rebuilt.shape == (2, 256 * (magnitude.shape[-1] - 1))
    interior = slice(1024, rebuilt.shape[-1] - 1024)
    assert (rebuilt[:, interior] - batch[:, interior]).abs().max() < 1e-5
    assert (stft(batch) - batch).abs().max() < 1e-5


def test_stft_short_window_matches_librosa(speech: torch.Tensor) -> None:
    """A 512-sample window is centred inside the 1024-point frame, as librosa does it."""
    stft = STFT(filter_length=1024, hop_length=128, win_length=512)
    y = speech[:SR].double()
    magnitude, _ = stft.transform(y[None])
    expected = np.abs(
        librosa.stft(y.numpy(), n_fft=1024, hop_length=128, win_length=512, window="hann", pad_mode="reflect")
    )
    np.testing.assert_allclose(magnitude[0].numpy(), expected, atol=1e-9)
    interior = slice(1024, SR - 1024)
    assert (stft(y[None])[0, interior] - y[interior]).abs().max() < 1e-9


def test_stft_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError, match="hop_length"):
        STFT(filter_length=256, hop_length=512, win_length=256)
    with pytest.raises(ValueError, match="unknown window"):
        STFT(window="kaiser")
    with pytest.raises(ValueError, match="too short"):
        STFT().transform(torch.zeros(1, 100))


# ---------------------------------------------------------------------------------------------- Griffin-Lim


def test_griffin_lim_from_mel_of_real_speech(speech: torch.Tensor) -> None:
    taco = MelSTFT()
    mel = taco.mel_spectrogram(speech[None])
    target = torch.exp(mel)

    def mel_magnitude(audio: torch.Tensor) -> torch.Tensor:
        return taco.mel_basis @ taco.stft_fn.transform(audio)[0]

    fast = mel_to_audio(mel, taco, n_iters=60, power=1.0, seed=0)
    classic = griffin_lim(taco.mel_to_linear(mel), taco.stft_fn, n_iters=60, momentum=0.0, seed=0)
    linear = taco.mel_to_linear(mel)
    random_phase = 2 * torch.pi * torch.rand(linear.shape, generator=torch.Generator().manual_seed(0))
    noisy = taco.stft_fn.inverse(linear, random_phase)

    sc_fast = spectral_convergence(mel_magnitude(fast), target)
    sc_classic = spectral_convergence(mel_magnitude(classic), target)
    sc_random = spectral_convergence(mel_magnitude(noisy), target)
    # Measured on this fixture (seeds 0-2): fast 0.088-0.090, classic 0.102-0.109, random phase 0.57.
    assert sc_fast < 0.15
    assert sc_fast < sc_classic
    assert sc_fast < 0.5 * sc_random
    assert fast.shape == (1, 256 * (mel.shape[-1] - 1))


def test_griffin_lim_from_true_magnitude(speech: torch.Tensor) -> None:
    stft = STFT()
    magnitude, _ = stft.transform(speech[None, : 2 * SR])
    audio = griffin_lim(magnitude, stft, n_iters=40)
    # Measured 0.04 after 40 iterations (0.031 after 60); random phase gives about 0.6.
    assert spectral_convergence(stft.transform(audio)[0], magnitude) < 0.08


def test_griffin_lim_is_deterministic_for_a_seed(speech: torch.Tensor) -> None:
    taco = MelSTFT()
    mel = taco.mel_spectrogram(speech[None, :SR])[0]
    first = mel_to_audio(mel, taco, n_iters=5, seed=3)
    assert first.dim() == 1 and first.shape[0] == 256 * (mel.shape[-1] - 1)
    torch.testing.assert_close(mel_to_audio(mel, taco, n_iters=5, seed=3), first, rtol=0, atol=0)
    assert not torch.equal(mel_to_audio(mel, taco, n_iters=5, seed=4), first)


def test_griffin_lim_rejects_wrong_shape() -> None:
    with pytest.raises(ValueError, match="513"):
        griffin_lim(torch.ones(1, 80, 10), STFT())


# -------------------------------------------------------------------------------------------------- wav I/O


def write(path: Path, data: np.ndarray, rate: int = SR, subtype: str = "PCM_16") -> Path:
    sf.write(str(path), data, rate, subtype=subtype)
    return path


def test_load_int16_divides_by_max_wav_value(tmp_path: Path) -> None:
    values = np.array([0, 1, -1, 12345, -32768, 32767], dtype=np.int16)
    path = write(tmp_path / "int16.wav", values)
    audio = load_wav(path)
    assert audio.dtype == torch.float32 and audio.dim() == 1
    assert audio.tolist() == [v / 32768.0 for v in values.tolist()]
    halved = load_wav(path, max_wav_value=65536.0)
    assert halved.tolist() == [v / 65536.0 for v in values.tolist()]


def test_load_float_wav_as_stored(tmp_path: Path) -> None:
    values = np.array([0.5, -0.25, 0.1, 1.0, -1.0], dtype=np.float32)
    audio = load_wav(write(tmp_path / "float.wav", values, subtype="FLOAT"))
    np.testing.assert_array_equal(audio.numpy(), values)


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.wav"
    with pytest.raises(AudioError, match="missing.wav.*not found"):
        load_wav(missing)
    stereo = write(tmp_path / "stereo.wav", np.zeros((100, 2), dtype=np.int16))
    with pytest.raises(AudioError, match="stereo.wav.*2 channels"):
        load_wav(stereo)
    slow = write(tmp_path / "slow.wav", np.zeros(100, dtype=np.int16), rate=16000)
    with pytest.raises(AudioError, match="slow.wav.*16000 Hz, expected 22050 Hz"):
        load_wav(slow)
    loud = write(tmp_path / "loud.wav", np.array([0.1, 1.5, -0.2], dtype=np.float32), subtype="FLOAT")
    with pytest.raises(AudioError, match=r"loud.wav.*outside \[-1, 1\].*1\.5"):
        load_wav(loud)
    empty = write(tmp_path / "empty.wav", np.zeros(0, dtype=np.int16))
    with pytest.raises(AudioError, match="empty.wav.*no audio"):
        load_wav(empty)
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"this is not audio at all")
    with pytest.raises(AudioError, match="garbage.wav.*cannot read"):
        load_wav(garbage)
    assert issubclass(AudioError, ValueError)


def test_load_any_rate_when_sampling_rate_is_none(tmp_path: Path) -> None:
    path = write(tmp_path / "slow.wav", np.full(50, 100, dtype=np.int16), rate=16000)
    assert load_wav(path, sampling_rate=None).shape == (50,)


def test_load_resample_gives_right_length_and_content(tmp_path: Path) -> None:
    n = 16000
    t = np.arange(n) / 16000.0
    sine = 0.5 * np.sin(2 * np.pi * 440.0 * t)
    path = write(tmp_path / "sine16k.wav", sine.astype(np.float32), rate=16000, subtype="FLOAT")
    audio = load_wav(path, resample=True)
    assert abs(audio.shape[0] - n * SR / 16000) <= 1
    expected = 0.5 * np.sin(2 * np.pi * 440.0 * np.arange(audio.shape[0]) / SR)
    interior = slice(2000, audio.shape[0] - 2000)
    assert np.abs(audio.numpy()[interior] - expected[interior]).max() < 1e-3


def test_load_mix_to_mono_averages_channels(tmp_path: Path) -> None:
    left = np.array([100, -200, 3000, 32767], dtype=np.int16)
    right = np.array([300, 200, -1000, 32767], dtype=np.int16)
    path = write(tmp_path / "stereo.wav", np.stack([left, right], axis=1))
    audio = load_wav(path, mix_to_mono=True)
    expected = (left.astype(np.float64) + right.astype(np.float64)) / 2 / 32768.0
    np.testing.assert_allclose(audio.numpy(), expected, rtol=0, atol=1e-7)


def test_save_wav_round_trip_pcm16(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    audio = rng.uniform(-1.0, 1.0, 5000).astype(np.float32)
    audio[:3] = [1.0, -1.0, 0.0]
    path = tmp_path / "deep" / "folder" / "out.wav"
    save_wav(path, torch.from_numpy(audio), SR)
    info = audio_info(path)
    assert info == AudioInfo(sampling_rate=SR, channels=1, frames=5000, duration=5000 / SR, subtype="PCM_16")
    back = load_wav(path).numpy()
    assert np.abs(back - audio).max() <= 1 / 32768
    assert back[1] == -1.0 and back[2] == 0.0


def test_save_wav_clips_and_normalizes(tmp_path: Path) -> None:
    save_wav(tmp_path / "clipped.wav", np.array([2.0, -3.0, 0.25]), SR)
    assert load_wav(tmp_path / "clipped.wav").tolist() == [32767 / 32768, -1.0, 0.25]

    quiet = np.array([0.0, 0.1, -0.2, 0.05], dtype=np.float32)
    save_wav(tmp_path / "peak.wav", quiet, SR, subtype="FLOAT", normalize=True)
    np.testing.assert_allclose(load_wav(tmp_path / "peak.wav").numpy(), quiet / 0.2, rtol=1e-6)
    assert np.abs(load_wav(tmp_path / "peak.wav").numpy()).max() == 1.0

    save_wav(tmp_path / "peak16.wav", torch.tensor([0.0, 0.3, -0.1]), SR, normalize=True)
    assert load_wav(tmp_path / "peak16.wav").abs().max().item() == 32767 / 32768

    save_wav(tmp_path / "silence.wav", np.zeros(10), SR, normalize=True)
    assert load_wav(tmp_path / "silence.wav").abs().max().item() == 0.0


def test_save_wav_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="two.wav.*1-D"):
        save_wav(tmp_path / "two.wav", np.zeros((2, 10)), SR)
    with pytest.raises(AudioError, match="nan.wav.*NaN"):
        save_wav(tmp_path / "nan.wav", np.array([0.0, np.nan]), SR)
    with pytest.raises(AudioError, match="rate.wav.*sampling_rate"):
        save_wav(tmp_path / "rate.wav", np.zeros(10), 0)


def test_audio_info_reads_header(tmp_path: Path, speech_wav: Path) -> None:
    info = audio_info(speech_wav)
    assert (info.sampling_rate, info.channels, info.subtype) == (SR, 1, "PCM_16")
    assert info.frames == load_wav(speech_wav).shape[0]
    assert info.duration == pytest.approx(info.frames / SR)
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF????WAVEnope")
    with pytest.raises(AudioError, match="garbage.wav"):
        audio_info(garbage)
    with pytest.raises(AudioError, match="absent.wav.*not found"):
        audio_info(tmp_path / "absent.wav")


def test_trim_silence_keeps_loud_frames_plus_margins() -> None:
    from common.audio import trim_silence

    audio = np.zeros(4000)
    audio[1000:1512] = 0.5  # touches frames 3, 4 and 5 (hop = frame = 256); margin 10 ms = 100 samples
    kept = trim_silence(audio, 10000, top_db=40, margin_s=0.01, frame_length=256, hop_length=256)
    assert kept.size == (6 * 256 + 100) - (3 * 256 - 100)  # samples 668 .. 1636
    audio[:300] = 0.5  # loud from the first sample: no room for the leading margin
    start_loud = trim_silence(audio, 10000, 40, 0.01, 256, 256)
    padded = trim_silence(audio, 10000, 40, 0.01, 256, 256, pad_margins=True)
    assert start_loud.size == 1636 and padded.size == 1736 and np.all(padded[:100] == 0)
    assert trim_silence(np.zeros(500), 10000).size == 0

"""Evaluation metrics: MCD (cepstra, DTW, constant, files, folders, CLI) and attention alignment scores.

The real-audio MCD is checked against an independent implementation written here: soundfile reading,
index-array framing, scipy's window, full complex FFTs, frequency warping by numerical quadrature of the
warped log spectrum (instead of the all-pass recursion), scipy's cdist and a plain double-loop DTW.
"""

from __future__ import annotations

import csv
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
import torch
from scipy.spatial.distance import cdist

from common.audio import load_wav
from common.evaluation import (
    MCD_CONSTANT,
    EvaluationError,
    accumulated_cost,
    alignment_scores,
    all_pass_alpha,
    attention_focus,
    batch_alignment_scores,
    coverage,
    dtw,
    load_alignment,
    mcd,
    mcd_files,
    mcd_folder,
    mel_cepstrum,
    monotonicity,
)
from common.evaluation.cli import main
from common.metrics.mcd import trim_silence, warping_matrix

SENTENCE = "The quick brown fox jumps over the lazy dog."


# ----------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same sentence spoken by espeak-ng: default voice, default voice faster, and the en+f3 voice."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng is not installed")
    root = tmp_path_factory.mktemp("voices")
    variants = {"ref": [], "fast": ["-s", "190"], "f3": ["-v", "en+f3"]}
    paths = {}
    for name, flags in variants.items():
        paths[name] = root / f"{name}.wav"
        command = [exe, *flags, "-w", str(paths[name]), SENTENCE]
        subprocess.run(command, check=True, capture_output=True, timeout=60)
    return paths


# ------------------------------------------------------------------------------ independent reference MCD
def _reference_cepstra(path: Path, order: int = 24, alpha: float = 0.455) -> np.ndarray:
    """The documented mel-cepstrum, computed along a separate code path (25 ms Blackman frames, 5 ms hop)."""
    data, rate = sf.read(str(path), dtype="int16")
    audio = data.astype(np.float64) / 32768.0
    win, hop = round(0.025 * rate), round(0.005 * rate)
    n_fft = 1 << (win - 1).bit_length()
    padded = np.concatenate([np.zeros(win // 2), audio, np.zeros(win // 2)])
    starts = hop * np.arange((padded.size - win) // hop + 1)
    frames = padded[starts[:, None] + np.arange(win)[None, :]]
    window = scipy.signal.get_window("blackman", win, fftbins=True)
    spectrum = np.fft.fft(frames * window, n=n_fft, axis=1)
    log_amp = np.log(np.maximum(np.abs(spectrum) ** 2, 1e-10)) / 2.0
    sym = np.fft.ifft(log_amp, axis=1).real[:, : n_fft // 2 + 1]
    causal = np.concatenate([sym[:, :1], 2.0 * sym[:, 1:-1], sym[:, -1:]], axis=1)
    # Warp by quadrature: the mel-cepstrum is the cosine series of the log spectrum read at the inverse-warped
    # frequency w(v) of a uniform grid of warped frequencies v; w follows from the all-pass directly.
    grid = 4096
    v = 2.0 * np.pi * np.arange(grid) / grid
    zv = np.exp(-1j * v)
    w = -np.angle((zv + alpha) / (1.0 + alpha * zv))
    # (cepstrum -> log spectrum on the grid) times (grid -> cosine coefficients), a linear map applied at once
    to_grid = np.cos(np.outer(np.arange(n_fft // 2 + 1), w))
    weights = np.where(np.arange(order + 1) == 0, 1.0, 2.0) / grid
    return causal @ (to_grid @ (np.cos(np.outer(v, np.arange(order + 1))) * weights))


def _textbook_dtw(cost: np.ndarray) -> tuple[float, list[tuple[int, int]]]:
    """Double-loop DTW (steps (1,0), (0,1), (1,1), unit weights); trace back prefers diagonal, up, left."""
    n, m = cost.shape
    rows = cost.tolist()
    inf = math.inf
    table = [[inf] * m for _ in range(n)]
    for i in range(n):
        above = table[i - 1] if i else None
        row = table[i]
        for j in range(m):
            if i == 0 and j == 0:
                row[j] = rows[0][0]
                continue
            best = inf
            if above is not None:
                best = min(best, above[j])
                if j:
                    best = min(best, above[j - 1])
            if j:
                best = min(best, row[j - 1])
            row[j] = rows[i][j] + best
    i, j = n - 1, m - 1
    path = [(i, j)]
    while (i, j) != (0, 0):
        if i == 0:
            j -= 1
        elif j == 0:
            i -= 1
        else:
            diag, up, left = table[i - 1][j - 1], table[i - 1][j], table[i][j - 1]
            if diag <= up and diag <= left:
                i, j = i - 1, j - 1
            elif up <= left:
                i -= 1
            else:
                j -= 1
        path.append((i, j))
    return table[-1][-1], path[::-1]


def _reference_mcd(ref: Path, syn: Path) -> float:
    x, y = _reference_cepstra(ref), _reference_cepstra(syn)
    cost = cdist(x[:, 1:], y[:, 1:])
    _, path = _textbook_dtw(cost)
    per_pair = [10.0 / math.log(10.0) * math.sqrt(2.0) * cost[i, j] for i, j in path]
    return sum(per_pair) / len(per_pair)


# ------------------------------------------------------------------------------------------------ MCD
def test_constant_value() -> None:
    assert MCD_CONSTANT == pytest.approx(6.141851463713754, abs=1e-15)
    assert MCD_CONSTANT == pytest.approx(10 * math.sqrt(2) / math.log(10), rel=1e-15)


def _separated_cepstra(frames: int = 40, order: int = 24, seed: int = 0) -> np.ndarray:
    """Cepstra on a 1/4 grid with frames far apart (so DTW keeps the diagonal under small offsets)."""
    rng = np.random.default_rng(seed)
    return rng.integers(-80, 80, size=(frames, order + 1)).astype(np.float64) / 4.0


def test_identical_cepstra_and_audio_give_exactly_zero(voices: dict[str, Path]) -> None:
    cep = _separated_cepstra()
    value, path = mcd(cep, cep)
    assert value == 0.0
    assert np.array_equal(path, np.stack([np.arange(40), np.arange(40)], axis=1))
    result = mcd_files(voices["ref"], voices["ref"])
    assert result.mcd_db == 0.0
    assert result.ref_frames == result.syn_frames == result.path_length
    assert mcd_files(voices["ref"], voices["ref"], trim_top_db=30.0).mcd_db == 0.0


def test_constant_offset_gives_the_hand_computed_value() -> None:
    ref = _separated_cepstra()
    syn = ref.copy()
    syn[:, 1] += 1.0
    value, path = mcd(ref, syn)
    assert value == MCD_CONSTANT  # every aligned pair is at Euclidean distance exactly 1
    assert value == pytest.approx(6.14185, abs=1e-5)
    assert path.shape == (40, 2)
    syn = ref.copy()
    syn[:, 2] += 3.0
    syn[:, 5] -= 4.0
    assert mcd(ref, syn)[0] == pytest.approx(5.0 * MCD_CONSTANT, rel=1e-15)
    # c0 alone: excluded by default, counted with exclude_c0=False
    syn = ref.copy()
    syn[:, 0] += 2.0
    assert mcd(ref, syn)[0] == 0.0
    assert mcd(ref, syn, exclude_c0=False)[0] == pytest.approx(2.0 * MCD_CONSTANT, rel=1e-15)


def test_time_stretched_identical_sequences_give_zero_after_dtw() -> None:
    ref = _separated_cepstra(frames=50, seed=3)
    slow = np.repeat(ref, 2, axis=0)  # twice as long
    rng = np.random.default_rng(7)
    # every frame kept at least once, 70 random frames repeated: an uneven stretch to 120 frames
    uneven = ref[np.sort(np.concatenate([np.arange(50), rng.integers(0, 50, size=70)]))]
    for stretched in (slow, uneven):
        value, path = mcd(ref, stretched)
        assert value == 0.0
        assert path[-1].tolist() == [49, stretched.shape[0] - 1]
    # without alignment (a straight resampling of the time axis) the uneven pair is far from zero
    straight = np.round(np.linspace(0, 49, uneven.shape[0])).astype(int)
    assert MCD_CONSTANT * np.linalg.norm(ref[straight, 1:] - uneven[:, 1:], axis=1).mean() > 10.0


def _all_paths(n: int, m: int):
    """Every monotone path from (0, 0) to (n-1, m-1) with steps (1,0), (0,1), (1,1)."""
    def extend(path):
        i, j = path[-1]
        if (i, j) == (n - 1, m - 1):
            yield path
            return
        for di, dj in ((1, 0), (0, 1), (1, 1)):
            if i + di < n and j + dj < m:
                yield from extend([*path, (i + di, j + dj)])

    yield from extend([(0, 0)])


def _assert_valid_path(path: np.ndarray, n: int, m: int) -> None:
    assert path[0].tolist() == [0, 0] and path[-1].tolist() == [n - 1, m - 1]
    steps = {tuple(s) for s in np.diff(path, axis=0).tolist()}
    assert steps <= {(1, 0), (0, 1), (1, 1)}


@pytest.mark.parametrize("shape", [(1, 1), (1, 4), (4, 1), (3, 4), (4, 4), (5, 3)])
def test_dtw_matches_exhaustive_search(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    cost = rng.random(shape)
    total, path = dtw(cost)
    best = min(sum(cost[i, j] for i, j in p) for p in _all_paths(*shape))
    assert total == pytest.approx(best, rel=1e-12)
    _assert_valid_path(path, *shape)
    assert cost[path[:, 0], path[:, 1]].sum() == pytest.approx(total, rel=1e-12)


@pytest.mark.parametrize("shape", [(17, 23), (23, 17), (40, 40), (2, 31)])
def test_dtw_matches_textbook_double_loop(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    cost = rng.random(shape)
    total, path = dtw(cost)
    ref_total, ref_path = _textbook_dtw(cost)
    assert total == ref_total  # same operations, anti-diagonal order: bitwise equal
    assert path.tolist() == [list(p) for p in ref_path]
    _assert_valid_path(path, *shape)
    full = accumulated_cost(cost)
    assert full.shape == shape and full[-1, -1] == total
    # ties (integer costs) are broken the documented way
    ties = rng.integers(0, 3, size=shape).astype(float)
    assert dtw(ties)[1].tolist() == [list(p) for p in _textbook_dtw(ties)[1]]


def test_dtw_is_fast_on_1000_frames() -> None:
    import time

    cost = np.random.default_rng(0).random((1000, 1000))
    start = time.perf_counter()
    total, path = dtw(cost)
    assert time.perf_counter() - start < 5.0
    _assert_valid_path(path, 1000, 1000)


def test_all_pass_alpha_matches_the_standard_values() -> None:
    assert all_pass_alpha(22050) == 0.455
    assert all_pass_alpha(16000) == 0.41
    assert all_pass_alpha(44100) == 0.544
    assert all_pass_alpha(48000) == 0.554


def test_warping_matrix_hand_computed() -> None:
    # A unit first cepstral coefficient, z^-1 = (w + a) / (1 + a w) with w = z~^-1, expands to
    # a + (1 - a^2) w - a (1 - a^2) w^2 + a^2 (1 - a^2) w^3 - ...
    a = 0.455
    row = warping_matrix(6, 4, a)[1]
    expected = [a, 1 - a * a, -a * (1 - a * a), a * a * (1 - a * a), -(a**3) * (1 - a * a)]
    assert np.allclose(row, expected, rtol=1e-14, atol=0)
    assert np.array_equal(warping_matrix(8, 5, 0.0), np.eye(8)[:, :6])


def test_mel_cepstrum_shape_and_unwarped_case(voices: dict[str, Path]) -> None:
    data, rate = sf.read(str(voices["ref"]), dtype="float64")
    cep = mel_cepstrum(data, rate)
    win, hop = round(0.025 * rate), round(0.005 * rate)
    assert cep.shape == (1 + (data.size + 2 * (win // 2) - win) // hop, 25)
    ref = _reference_cepstra(voices["ref"])
    assert np.allclose(cep, ref, rtol=0, atol=1e-9 * np.abs(ref).max())
    unwarped = mel_cepstrum(data, rate, alpha=0.0, order=12)
    assert np.allclose(unwarped, _reference_cepstra(voices["ref"], 12, 0.0), rtol=0, atol=1e-9)


def test_mcd_agrees_with_an_independent_implementation(voices: dict[str, Path]) -> None:
    same_voice = mcd_files(voices["ref"], voices["fast"]).mcd_db
    other_voice = mcd_files(voices["ref"], voices["f3"]).mcd_db
    assert same_voice == pytest.approx(_reference_mcd(voices["ref"], voices["fast"]), rel=1e-6)
    assert other_voice == pytest.approx(_reference_mcd(voices["ref"], voices["f3"]), rel=1e-6)
    assert other_voice > 3.0 * same_voice and other_voice > 5.0


def test_trim_silence_keeps_the_loud_part() -> None:
    rate = 22050
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(rate // 2) / rate)
    audio = np.concatenate([np.zeros(rate), tone, np.zeros(rate)])
    trimmed = trim_silence(audio, 40.0, 1024, 256)
    # the tone plus at most one frame of silence on each side survives
    assert tone.size <= trimmed.size <= tone.size + 2 * 1024
    start = int(np.flatnonzero(trimmed)[0])
    assert start < 1024 and np.array_equal(trimmed[start : start + tone.size - 1], tone[1:])
    assert trim_silence(np.zeros(5000), 40.0, 1024, 256).size == 0


def test_mcd_files_resamples_and_names_bad_files(voices: dict[str, Path], tmp_path: Path) -> None:
    data, rate = sf.read(str(voices["fast"]), dtype="int16")
    low = tmp_path / "fast16k.wav"
    resampled = scipy.signal.resample_poly(data / 32768.0, 160, 441)  # 22050 Hz -> 16000 Hz
    sf.write(str(low), resampled, 16000, subtype="PCM_16")
    result = mcd_files(voices["ref"], low)  # analysed at the reference's 22050 Hz: low is resampled
    expected = mcd(
        mel_cepstrum(load_wav(voices["ref"]).numpy(), rate),
        mel_cepstrum(load_wav(low, sampling_rate=rate, resample=True).numpy(), rate),
    )[0]
    assert result.mcd_db == pytest.approx(expected, rel=1e-12)
    with pytest.raises(EvaluationError, match="missing.wav"):
        mcd_files(voices["ref"], tmp_path / "missing.wav")
    with pytest.raises(EvaluationError, match="alpha"):
        mcd_files(voices["ref"], voices["ref"], alpha=1.0)


def test_mcd_rejects_mismatched_cepstra() -> None:
    with pytest.raises(EvaluationError, match="orders"):
        mcd(np.zeros((3, 25)), np.zeros((3, 13)))
    with pytest.raises(EvaluationError, match="shape"):
        mcd(np.zeros(25), np.zeros((3, 25)))


def _folder_setup(voices: dict[str, Path], tmp_path: Path) -> tuple[Path, Path]:
    ref_dir, syn_dir = tmp_path / "ref", tmp_path / "syn"
    ref_dir.mkdir()
    syn_dir.mkdir()
    shutil.copy(voices["ref"], ref_dir / "a.wav")
    shutil.copy(voices["ref"], ref_dir / "b.wav")
    shutil.copy(voices["ref"], ref_dir / "unused.wav")
    shutil.copy(voices["fast"], syn_dir / "a.wav")
    shutil.copy(voices["f3"], syn_dir / "b.wav")
    shutil.copy(voices["f3"], syn_dir / "orphan.wav")
    (syn_dir / "broken.wav").write_bytes(b"not audio")
    shutil.copy(voices["ref"], ref_dir / "broken.wav")
    return ref_dir, syn_dir


def test_mcd_folder_matches_by_stem_and_lists_problems(voices: dict[str, Path], tmp_path: Path) -> None:
    ref_dir, syn_dir = _folder_setup(voices, tmp_path)
    outcome = mcd_folder(ref_dir, syn_dir)
    assert [r.synthesized.name for r in outcome.results] == ["a.wav", "b.wav"]
    assert [p.name for p in outcome.missing_reference] == ["orphan.wav"]
    assert [p.name for p in outcome.missing_synthesis] == ["unused.wav"]
    assert len(outcome.errors) == 1 and "broken.wav" in outcome.errors[0][1]
    expected = [mcd_files(voices["ref"], voices[k]).mcd_db for k in ("fast", "f3")]
    assert outcome.mean == pytest.approx(np.mean(expected), rel=1e-12)
    with pytest.raises(EvaluationError, match="nowhere"):
        mcd_folder(ref_dir, tmp_path / "nowhere")


def test_mcd_folder_suffix(voices: dict[str, Path], tmp_path: Path) -> None:
    ref_dir, syn_dir = tmp_path / "r", tmp_path / "s"
    ref_dir.mkdir()
    syn_dir.mkdir()
    shutil.copy(voices["ref"], ref_dir / "001.wav")
    shutil.copy(voices["ref"], syn_dir / "001_fp32.wav")
    outcome = mcd_folder(ref_dir, syn_dir, syn_suffix="_fp32")
    assert [r.mcd_db for r in outcome.results] == [0.0] and not outcome.missing_reference


def test_cli_mcd(voices: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref_dir, syn_dir = _folder_setup(voices, tmp_path)
    out_csv = tmp_path / "out.csv"
    rc = main(["mcd", "--ref-dir", str(ref_dir), "--syn-dir", str(syn_dir), "--csv", str(out_csv)])
    captured = capsys.readouterr()
    assert rc == 1  # broken.wav could not be scored
    assert "orphan.wav" in captured.err and "broken.wav" in captured.err
    assert "mean MCD over 2 file(s)" in captured.out
    with open(out_csv, newline="") as f:
        rows = {Path(r["synthesized"]).name: r for r in csv.DictReader(f)}
    assert rows["orphan.wav"]["status"] == "missing reference"
    assert rows["broken.wav"]["status"].startswith("error")
    expected = mcd_files(voices["ref"], voices["fast"]).mcd_db
    assert float(rows["a.wav"]["mcd_db"]) == pytest.approx(expected, rel=1e-6)

    (syn_dir / "broken.wav").unlink()
    assert main(["mcd", "--ref-dir", str(ref_dir), "--syn-dir", str(syn_dir)]) == 0
    capsys.readouterr()
    assert main(["mcd", "--ref-dir", str(voices["ref"]), "--syn-dir", str(voices["ref"])]) == 0
    assert "0.0000 dB" in capsys.readouterr().out
    assert main(["mcd", "--ref-dir", str(tmp_path / "nope"), "--syn-dir", str(syn_dir)]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["mcd", "--ref-dir", str(ref_dir), "--syn-dir", str(syn_dir), "--hop-ms", "0"]) == 2
    assert "hop_ms" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["mcd", "--ref-dir", str(empty), "--syn-dir", str(syn_dir)]) == 1


# ------------------------------------------------------------------------------------------ alignment
def _diagonal(t_out: int, t_in: int) -> np.ndarray:
    """Hard monotone alignment: decoder step t attends to encoder step floor(t * t_in / t_out)."""
    a = np.zeros((t_out, t_in))
    a[np.arange(t_out), (np.arange(t_out) * t_in) // t_out] = 1.0
    return a


def test_alignment_scores_of_ideal_and_degenerate_alignments() -> None:
    for t_out, t_in in ((12, 12), (36, 12)):
        scores = alignment_scores(_diagonal(t_out, t_in))
        assert (scores["attention_focus"], scores["monotonicity"], scores["coverage"]) == (1.0, 1.0, 1.0)
        assert (scores["output_length"], scores["input_length"]) == (t_out, t_in)
    uniform = np.full((30, 8), 1.0 / 8)
    assert attention_focus(uniform) == pytest.approx(1.0 / 8, rel=1e-15)
    assert coverage(uniform) == 1.0 / 8  # every peak is the first position (ties go to the first index)
    reversed_diagonal = _diagonal(12, 12)[::-1]
    assert monotonicity(reversed_diagonal) == 0.0
    assert attention_focus(reversed_diagonal) == 1.0 and coverage(reversed_diagonal) == 1.0


def test_alignment_scores_hand_computed() -> None:
    a = np.array([
        [0.7, 0.2, 0.1, 0.0],
        [0.1, 0.6, 0.3, 0.0],
        [0.2, 0.5, 0.3, 0.0],
        [0.5, 0.4, 0.1, 0.0],
        [0.0, 0.1, 0.8, 0.1],
    ])  # peaks 0, 1, 1, 0, 2: moves +1, 0, -1, +2
    assert attention_focus(a) == pytest.approx((0.7 + 0.6 + 0.5 + 0.5 + 0.8) / 5, rel=1e-15)
    assert monotonicity(a) == 0.75
    assert coverage(a) == 0.75
    assert coverage(a, input_length=3) == 1.0
    assert monotonicity(a, output_length=3) == 1.0


def test_alignment_lengths_mask_padding() -> None:
    rng = np.random.default_rng(0)
    padded = rng.random((20, 9))
    padded /= padded.sum(axis=1, keepdims=True)  # junk in the padded region
    padded[:15, :] = 0.0
    padded[:15, :6] = _diagonal(15, 6)
    scores = alignment_scores(padded, input_length=6, output_length=15)
    assert (scores["attention_focus"], scores["monotonicity"], scores["coverage"]) == (1.0, 1.0, 1.0)
    unmasked = alignment_scores(padded)
    assert unmasked["attention_focus"] < 1.0 and unmasked["coverage"] < 1.0
    # torch tensors and tensor lengths are accepted; a batch averages per item
    batch = torch.zeros(2, 20, 9)
    batch[0] = torch.from_numpy(padded)
    batch[1, :, :] = 1.0 / 9
    result = batch_alignment_scores(batch, torch.tensor([6, 9]), torch.tensor([15, 20]))
    assert result["attention_focus"] == pytest.approx((1.0 + 1.0 / 9) / 2, rel=1e-6)
    assert result["coverage"] == pytest.approx((1.0 + 1.0 / 9) / 2, rel=1e-12)
    assert result["monotonicity"] == 1.0


def test_alignment_rejects_bad_input() -> None:
    with pytest.raises(EvaluationError, match="2-D"):
        alignment_scores(np.ones(5))
    with pytest.raises(EvaluationError, match="input_length"):
        alignment_scores(np.ones((4, 3)) / 3, input_length=4)
    with pytest.raises(EvaluationError, match="output_length"):
        alignment_scores(np.ones((4, 3)) / 3, output_length=0)
    with pytest.raises(EvaluationError, match="non-negative"):
        alignment_scores(-np.ones((4, 3)))
    with pytest.raises(EvaluationError, match="3 entries"):
        batch_alignment_scores(np.ones((2, 4, 3)), input_lengths=[1, 2, 3])


def test_alignment_files_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    diag = _diagonal(10, 5)
    np.save(tmp_path / "alignment_0.npy", diag[None])
    padded = np.zeros((14, 7), dtype=np.float32)
    padded[:10, :5] = diag
    padded[10:, :] = 1.0 / 7
    torch.save({"alignment": torch.from_numpy(padded), "input_length": 5, "output_length": 10},
               tmp_path / "alignment_1.pt")
    matrix, input_length, output_length = load_alignment(tmp_path / "alignment_1.pt")
    assert matrix.shape == (14, 7) and (input_length, output_length) == (5, 10)
    (tmp_path / "alignment_2.npy").write_bytes(b"garbage")
    out_csv = tmp_path / "scores.csv"
    files = [str(tmp_path / f"alignment_{i}.{ext}") for i, ext in ((0, "npy"), (1, "pt"))]
    assert main(["alignment", *files, "--csv", str(out_csv)]) == 0
    assert "attention_focus 1.0000, monotonicity 1.0000, coverage 1.0000" in capsys.readouterr().out
    with open(out_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["coverage"]) for r in rows] == [1.0, 1.0]
    assert main(["alignment", str(tmp_path / "alignment_2.npy")]) == 1
    assert "alignment_2.npy" in capsys.readouterr().err
    with pytest.raises(EvaluationError, match="missing.pt"):
        load_alignment(tmp_path / "missing.pt")


def test_exhaustive_path_enumeration_is_complete() -> None:
    # Delannoy numbers count the monotone paths the exhaustive DTW test searches: D(2, 3) = 25, D(3, 3) = 63
    assert sum(1 for _ in _all_paths(3, 4)) == 25
    assert sum(1 for _ in _all_paths(4, 4)) == 63

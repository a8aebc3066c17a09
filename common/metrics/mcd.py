"""Mel cepstral distortion (MCD) between a reference and a synthesized recording, aligned by DTW.

Mel-cepstrum (see docs/EVALUATION.md for the full definition):

1. Frames: periodic Blackman window of ``round(frame_ms * rate / 1000)`` samples, hop
   ``round(hop_ms * rate / 1000)``; the signal is zero-padded by ``win // 2`` samples on both sides and
   frame t covers padded samples ``[t * hop, t * hop + win)`` (so it is centred on sample ``t * hop``).
2. Log amplitude spectrum ``L = 0.5 * ln(max(|FFT_n_fft(frame)|^2, eps))`` on ``n_fft // 2 + 1`` bins.
3. Causal (one-sided, minimum-phase) cepstrum: ``r = irfft(L)``, ``c[0] = r[0]``, ``c[k] = 2 r[k]`` for
   ``0 < k < n_fft / 2``, ``c[n_fft / 2] = r[n_fft / 2]``, so ``L(w) = sum_k c[k] cos(k w)``.
4. Frequency warping with the first-order all-pass ``z~^-1 = (z^-1 - alpha) / (1 - alpha z^-1)``: the
   mel-cepstrum ``mc`` satisfies ``sum_k c[k] z^-k = sum_m mc[m] z~^-m``, truncated to m = 0..order. It is
   computed exactly by the Oppenheim-Johnson recursion (the transform SPTK's ``freqt`` implements), applied
   once to the identity to give a fixed (bins x order+1) matrix.

MCD between two frame sequences, aligned by :func:`common.metrics.dtw.dtw` on the Euclidean distance
of c1..cK (c0, the frame energy, is excluded by default)::

    MCD = (1 / L) * sum over the L path pairs (i, j) of (10 / ln 10) * sqrt(2 * sum_d (x_i[d] - y_j[d])^2)

i.e. averaged over the DTW path length, with ``10 * sqrt(2) / ln 10 = 6.14185 dB`` per unit of cepstral
Euclidean distance. With these causal cepstra the per-frame value is the RMS difference in dB of the two
log-amplitude spectra on the warped frequency axis (Parseval), which is what makes the constant meaningful.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common.audio import AudioError, audio_info, load_wav
from common.metrics.dtw import dtw
from common.metrics.errors import EvaluationError

__all__ = [
    "MCD_CONSTANT",
    "CepstrumParams",
    "FolderMCD",
    "MCDResult",
    "all_pass_alpha",
    "blackman_window",
    "check_settings",
    "format_results",
    "frame_signal",
    "log_amplitude_spectrum",
    "mcd",
    "mcd_files",
    "mcd_folder",
    "mel_cepstrum",
    "pairwise_distance",
    "trim_silence",
    "warping_matrix",
]

#: dB per unit of cepstral Euclidean distance: 10 * sqrt(2) / ln(10) = 6.141851463713754.
MCD_CONSTANT = 10.0 * math.sqrt(2.0) / math.log(10.0)

AUDIO_EXTENSIONS = (".wav", ".flac")


@functools.lru_cache(maxsize=64)
def all_pass_alpha(sampling_rate: int, points: int = 1000, step: float = 0.001) -> float:
    """The all-pass constant whose frequency warping best approximates the mel scale at ``sampling_rate``.

    Criterion (the usual one behind SPTK's tables): on ``points`` frequencies up to Nyquist, compare the
    mel scale ``ln(1 + f / 1000)`` and the all-pass phase ``beta(w) = w + 2 atan(a sin w / (1 - a cos w))``,
    both normalised to 1 at Nyquist, and take the ``a`` on a grid of ``step`` in [0, 1) with the least mean
    squared difference. Gives 0.312 at 8 kHz, 0.41 at 16 kHz, 0.455 at 22.05 kHz, 0.544 at 44.1 kHz and
    0.554 at 48 kHz.
    """
    if sampling_rate <= 0:
        raise EvaluationError(f"sampling rate must be positive, got {sampling_rate}")
    grid = np.arange(1, points + 1) / points
    mel = np.log1p(grid * (sampling_rate / 2.0) / 1000.0)
    mel /= mel[-1]
    omega = np.pi * grid
    candidates = np.arange(0.0, 1.0, step)[:, None]
    warped = omega + 2.0 * np.arctan(candidates * np.sin(omega) / (1.0 - candidates * np.cos(omega)))
    warped /= warped[:, -1:]
    best = int(np.argmin(np.mean((warped - mel) ** 2, axis=1)))
    return round(float(candidates[best, 0]), 6)


@functools.lru_cache(maxsize=16)
def _warping_matrix_cached(n_in: int, order: int, alpha: float) -> np.ndarray:
    # Horner's scheme over the input coefficients: P <- c[k] + psi(w) * P with psi(w) = (w + a) / (1 + a w)
    # (w = z~^-1). Q = psi * P satisfies (1 + a w) Q = (w + a) P, i.e. Q[0] = a P[0] and
    # Q[m] = a P[m] + P[m-1] - a Q[m-1]; truncating to m <= order is exact. Run on all n_in unit inputs at
    # once (rows of the identity), so row k of the result is the mel-cepstrum of the unit cepstrum e_k.
    # Stored coefficient-major (acc[m] is a contiguous row over the n_in inputs) for fast row updates.
    acc = np.zeros((order + 1, n_in))
    new = np.empty_like(acc)
    for k in range(n_in - 1, -1, -1):
        np.multiply(acc[0], alpha, out=new[0])
        for m in range(1, order + 1):
            row = new[m]
            np.subtract(acc[m], new[m - 1], out=row)
            row *= alpha
            row += acc[m - 1]
        new[0, k] += 1.0
        acc, new = new, acc
    matrix = np.ascontiguousarray(acc.T)
    matrix.setflags(write=False)
    return matrix


def warping_matrix(n_in: int, order: int, alpha: float) -> np.ndarray:
    """Matrix W (n_in x order+1) with ``mel_cepstrum = cepstrum @ W`` for causal cepstra of n_in terms."""
    if n_in < 1 or order < 0:
        raise EvaluationError(f"need n_in >= 1 and order >= 0, got n_in={n_in}, order={order}")
    if not -1.0 < alpha < 1.0:
        raise EvaluationError(f"all-pass constant alpha must lie in (-1, 1), got {alpha}")
    return _warping_matrix_cached(int(n_in), int(order), float(alpha))


@dataclass(frozen=True)
class CepstrumParams:
    """Analysis settings of :func:`mel_cepstrum`, resolved to samples for one sampling rate."""

    sampling_rate: int
    order: int = 24
    alpha: float | None = None
    frame_ms: float = 25.0
    hop_ms: float = 5.0
    n_fft: int | None = None
    eps: float = 1e-10

    def __post_init__(self) -> None:
        if self.sampling_rate <= 0:
            raise EvaluationError(f"sampling rate must be positive, got {self.sampling_rate}")
        if self.order < 1:
            raise EvaluationError(f"cepstrum order must be >= 1, got {self.order}")
        if not (0 < self.frame_ms < math.inf and 0 < self.hop_ms < math.inf):
            raise EvaluationError(f"frame_ms and hop_ms must be positive, got {self.frame_ms}, {self.hop_ms}")
        if not self.eps > 0:
            raise EvaluationError(f"eps must be positive, got {self.eps}")
        if self.win_length < 2 or self.hop_length < 1:
            raise EvaluationError(
                f"frame of {self.frame_ms} ms / hop of {self.hop_ms} ms is too short "
                f"at {self.sampling_rate} Hz"
            )
        if self.fft_length < self.win_length:
            raise EvaluationError(f"n_fft={self.n_fft} is shorter than the frame ({self.win_length} samples)")
        if self.order > self.fft_length // 2:
            raise EvaluationError(
                f"order {self.order} needs n_fft >= {2 * self.order}, got {self.fft_length}"
            )
        if self.alpha is not None and not -1.0 < self.alpha < 1.0:
            raise EvaluationError(f"all-pass constant alpha must lie in (-1, 1), got {self.alpha}")

    @property
    def win_length(self) -> int:
        return int(round(self.frame_ms * self.sampling_rate / 1000.0))

    @property
    def hop_length(self) -> int:
        return int(round(self.hop_ms * self.sampling_rate / 1000.0))

    @property
    def fft_length(self) -> int:
        """``n_fft``, or the smallest power of two >= the frame length (at least 64)."""
        if self.n_fft is not None:
            return int(self.n_fft)
        return max(64, 1 << (self.win_length - 1).bit_length())

    @property
    def resolved_alpha(self) -> float:
        return all_pass_alpha(self.sampling_rate) if self.alpha is None else float(self.alpha)


def frame_signal(audio: np.ndarray, win_length: int, hop_length: int) -> np.ndarray:
    """Frames (T, win_length): zero padding of ``win_length // 2`` both sides, frame t starts at t * hop."""
    pad = win_length // 2
    padded = np.pad(np.asarray(audio, dtype=np.float64), (pad, pad))
    if padded.size < win_length:
        padded = np.pad(padded, (0, win_length - padded.size))
    frames = np.lib.stride_tricks.sliding_window_view(padded, win_length)[::hop_length]
    return np.ascontiguousarray(frames)


def blackman_window(length: int) -> np.ndarray:
    """Periodic Blackman window: 0.42 - 0.5 cos(2 pi n / N) + 0.08 cos(4 pi n / N), n = 0..N-1."""
    phase = 2.0 * np.pi * np.arange(length) / length
    return 0.42 - 0.5 * np.cos(phase) + 0.08 * np.cos(2.0 * phase)


def pairwise_distance(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Euclidean distances (N, M) between the rows of x (N, D) and y (M, D), summed term by term.

    Accumulating squared differences one dimension at a time keeps memory at N x M and avoids the
    cancellation of the |x|^2 + |y|^2 - 2 x.y shortcut (identical rows give exactly 0).
    """
    xt, yt = np.ascontiguousarray(x.T), np.ascontiguousarray(y.T)
    total = np.zeros((x.shape[0], y.shape[0]))
    diff = np.empty_like(total)
    for d in range(x.shape[1]):
        np.subtract(xt[d, :, None], yt[d, None, :], out=diff)
        diff *= diff
        total += diff
    return np.sqrt(total)


def log_amplitude_spectrum(audio: np.ndarray, params: CepstrumParams) -> np.ndarray:
    """Natural-log amplitude spectra (T, n_fft // 2 + 1) of Blackman-windowed frames, power floored at eps."""
    frames = frame_signal(audio, params.win_length, params.hop_length)
    window = blackman_window(params.win_length)
    spectrum = np.fft.rfft(frames * window, n=params.fft_length, axis=1)
    power = spectrum.real**2 + spectrum.imag**2
    return 0.5 * np.log(np.maximum(power, params.eps))


def _to_numpy_audio(audio: object) -> np.ndarray:
    if hasattr(audio, "detach"):
        audio = audio.detach().cpu().numpy()  # a torch tensor
    array = np.asarray(audio, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise EvaluationError(f"audio must be a non-empty 1-D array, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise EvaluationError("audio contains NaN or infinite samples")
    return array


def mel_cepstrum(
    audio: np.ndarray,
    sampling_rate: int,
    order: int = 24,
    alpha: float | None = None,
    frame_ms: float = 25.0,
    hop_ms: float = 5.0,
    n_fft: int | None = None,
    eps: float = 1e-10,
) -> np.ndarray:
    """Mel-cepstra (frames, order + 1), coefficients c0..c_order, of 1-D float audio.

    ``alpha=None`` uses :func:`all_pass_alpha` for the rate (0.455 at 22050 Hz). See the module docstring
    for the exact analysis.
    """
    params = CepstrumParams(sampling_rate, order, alpha, frame_ms, hop_ms, n_fft, eps)
    return _mel_cepstrum(_to_numpy_audio(audio), params)


def _mel_cepstrum(audio: np.ndarray, params: CepstrumParams) -> np.ndarray:
    log_amp = log_amplitude_spectrum(audio, params)
    n_fft = params.fft_length
    real_cep = np.fft.irfft(log_amp, n=n_fft, axis=1)[:, : n_fft // 2 + 1]
    causal = real_cep.copy()
    causal[:, 1 : n_fft // 2] *= 2.0
    return causal @ warping_matrix(n_fft // 2 + 1, params.order, params.resolved_alpha)


def _check_cepstra(name: str, cep: np.ndarray) -> np.ndarray:
    cep = np.asarray(cep, dtype=np.float64)
    if cep.ndim != 2 or cep.shape[0] == 0 or cep.shape[1] < 2:
        raise EvaluationError(
            f"{name} cepstra must have shape (frames >= 1, order + 1 >= 2), got {cep.shape}"
        )
    if not np.all(np.isfinite(cep)):
        raise EvaluationError(f"{name} cepstra contain NaN or infinite values")
    return cep


def mcd(ref_cep: np.ndarray, syn_cep: np.ndarray, exclude_c0: bool = True) -> tuple[float, np.ndarray]:
    """DTW-aligned mel cepstral distortion in dB, and the alignment path (L, 2) of (ref, syn) frame pairs.

    The DTW local cost is the Euclidean distance over c1..cK (c0..cK with ``exclude_c0=False``); the result
    is ``MCD_CONSTANT`` times the mean local cost over the L path pairs.
    """
    ref = _check_cepstra("reference", ref_cep)
    syn = _check_cepstra("synthesized", syn_cep)
    if ref.shape[1] != syn.shape[1]:
        raise EvaluationError(
            f"cepstra have different orders: reference {ref.shape[1]} vs synthesized {syn.shape[1]} "
            "coefficients"
        )
    first = 1 if exclude_c0 else 0
    cost = pairwise_distance(ref[:, first:], syn[:, first:])
    _, path = dtw(cost)
    return MCD_CONSTANT * float(np.mean(cost[path[:, 0], path[:, 1]])), path


@dataclass(frozen=True)
class MCDResult:
    """MCD of one reference/synthesized pair."""

    reference: Path
    synthesized: Path
    mcd_db: float
    ref_frames: int
    syn_frames: int
    path_length: int


def trim_silence(audio: np.ndarray, top_db: float, frame_length: int, hop_length: int) -> np.ndarray:
    """Drop leading and trailing audio whose frame RMS is more than ``top_db`` dB below the loudest frame.

    Frame t covers samples ``[t * hop, t * hop + frame_length)`` (the end zero-padded); the kept span runs
    from the start of the first loud frame to the end of the last one. All-zero audio is returned empty.
    """
    if top_db <= 0:
        raise EvaluationError(f"trim threshold must be positive (dB below peak), got {top_db}")
    audio = np.asarray(audio, dtype=np.float64)
    count = 1 + max(0, -(-(audio.size - frame_length) // hop_length))
    padded = np.pad(audio, (0, max(0, (count - 1) * hop_length + frame_length - audio.size)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame_length)[::hop_length][:count]
    rms = np.sqrt(np.mean(frames**2, axis=1))
    peak = float(rms.max())
    if peak == 0.0:
        return audio[:0]
    loud = np.flatnonzero(20.0 * np.log10(np.maximum(rms, 1e-300) / peak) > -top_db)
    return audio[loud[0] * hop_length : min(audio.size, loud[-1] * hop_length + frame_length)]


def check_settings(
    sampling_rate: int | None, order: int, alpha: float | None, frame_ms: float, hop_ms: float,
    trim_top_db: float | None,
) -> None:
    """Raise EvaluationError for settings that are invalid whatever the files' rate (22050 Hz if unset)."""
    CepstrumParams(22050 if sampling_rate is None else sampling_rate, order, alpha, frame_ms, hop_ms)
    if trim_top_db is not None and not trim_top_db > 0:
        raise EvaluationError(f"trim threshold must be positive (dB below peak), got {trim_top_db}")


def _load(path: Path, rate: int, trim_top_db: float | None, n_fft: int) -> np.ndarray:
    """Mono float64 audio at ``rate`` (resampled when the file's rate differs), optionally trimmed."""
    audio = load_wav(path, sampling_rate=rate, resample=True, mix_to_mono=True).numpy().astype(np.float64)
    if trim_top_db is not None:
        audio = trim_silence(audio, trim_top_db, n_fft, n_fft // 4)
        if audio.size == 0:
            raise EvaluationError(f"{path}: nothing left after trimming silence at {trim_top_db} dB")
    return audio


def mcd_files(
    ref_wav: str | Path,
    syn_wav: str | Path,
    sampling_rate: int | None = None,
    order: int = 24,
    alpha: float | None = None,
    frame_ms: float = 25.0,
    hop_ms: float = 5.0,
    trim_top_db: float | None = None,
    exclude_c0: bool = True,
) -> MCDResult:
    """MCD between two audio files.

    ``sampling_rate=None`` analyses at the reference's rate (the synthesized file is resampled to it when
    its rate differs); otherwise both are resampled to ``sampling_rate``. Multi-channel files are averaged
    to mono. ``trim_top_db`` trims leading/trailing audio more than that many dB below the loudest frame
    (:func:`trim_silence` with n_fft-sample frames and an n_fft / 4 hop) before analysis. Problems raise
    :class:`EvaluationError` naming the file.
    """
    ref_path, syn_path = Path(ref_wav), Path(syn_wav)
    check_settings(sampling_rate, order, alpha, frame_ms, hop_ms, trim_top_db)
    try:
        rate = sampling_rate if sampling_rate is not None else audio_info(ref_path).sampling_rate
        params = CepstrumParams(rate, order, alpha, frame_ms, hop_ms)
        ref_audio = _load(ref_path, rate, trim_top_db, params.fft_length)
        syn_audio = _load(syn_path, rate, trim_top_db, params.fft_length)
    except AudioError as err:
        raise EvaluationError(str(err)) from err
    value, path = mcd(_mel_cepstrum(ref_audio, params), _mel_cepstrum(syn_audio, params), exclude_c0)
    ref_frames = int(path[-1, 0]) + 1
    syn_frames = int(path[-1, 1]) + 1
    return MCDResult(ref_path, syn_path, value, ref_frames, syn_frames, int(path.shape[0]))


@dataclass
class FolderMCD:
    """MCD over a folder: per-file results, synthesized files without a reference, and per-file errors."""

    results: list[MCDResult] = field(default_factory=list)
    missing_reference: list[Path] = field(default_factory=list)
    missing_synthesis: list[Path] = field(default_factory=list)
    errors: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def mean(self) -> float:
        """Mean of the per-file MCDs (each file weighs the same); NaN when no pair was scored."""
        if not self.results:
            return math.nan
        return float(np.mean([r.mcd_db for r in self.results]))


def _audio_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)


def _match_key(stem: str, suffix: str) -> str:
    return stem[: -len(suffix)] if suffix and stem.endswith(suffix) else stem


def mcd_folder(
    ref_dir: str | Path,
    syn_dir: str | Path,
    syn_suffix: str = "",
    sampling_rate: int | None = None,
    order: int = 24,
    alpha: float | None = None,
    frame_ms: float = 25.0,
    hop_ms: float = 5.0,
    trim_top_db: float | None = None,
    exclude_c0: bool = True,
) -> FolderMCD:
    """MCD for every synthesized audio file in ``syn_dir`` against the file with the same stem in ``ref_dir``.

    ``syn_suffix`` is removed from synthesized stems before matching (``001_fast.wav`` matches ``001.wav``
    with ``syn_suffix="_fast"``). Synthesized files without a reference, references without a synthesized
    file, and files that fail to load are listed in the result instead of stopping the run. The other
    arguments are those of :func:`mcd_files`; invalid settings raise before any file is read.
    """
    ref_dir, syn_dir = Path(ref_dir), Path(syn_dir)
    check_settings(sampling_rate, order, alpha, frame_ms, hop_ms, trim_top_db)
    options = dict(sampling_rate=sampling_rate, order=order, alpha=alpha, frame_ms=frame_ms, hop_ms=hop_ms,
                   trim_top_db=trim_top_db, exclude_c0=exclude_c0)
    for name, directory in (("reference", ref_dir), ("synthesis", syn_dir)):
        if not directory.is_dir():
            raise EvaluationError(f"{name} folder {directory} does not exist or is not a folder")
    references: dict[str, Path] = {}
    for ref in _audio_files(ref_dir):
        if ref.stem in references:
            raise EvaluationError(f"{ref_dir}: two reference files share the stem {ref.stem!r}")
        references[ref.stem] = ref
    outcome = FolderMCD()
    matched: set[str] = set()
    for syn in _audio_files(syn_dir):
        key = _match_key(syn.stem, syn_suffix)
        ref = references.get(key)
        if ref is None:
            outcome.missing_reference.append(syn)
            continue
        matched.add(key)
        try:
            outcome.results.append(mcd_files(ref, syn, **options))  # type: ignore[arg-type]
        except EvaluationError as err:
            outcome.errors.append((syn, str(err)))
    outcome.missing_synthesis = [references[k] for k in sorted(references) if k not in matched]
    return outcome


def format_results(results: Iterable[MCDResult]) -> list[str]:
    """One human-readable line per result."""
    return [
        f"{r.synthesized.name}: {r.mcd_db:.4f} dB "
        f"(ref {r.ref_frames} frames, syn {r.syn_frames}, path {r.path_length})"
        for r in results
    ]

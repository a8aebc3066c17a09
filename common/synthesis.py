"""Text-to-speech synthesis: checkpoints -> models, text lines -> audio, and alignment plots.

The pipeline of ``inference.py``, the latency benchmark and ``hubconf.py``:

    phrases -> (optional sentence splitting) -> symbol ids -> batched Tacotron 2 inference (sorted by
    length, padded, restored to input order) -> per-item mel trimming -> WaveGlow + denoiser, or
    Griffin-Lim without a WaveGlow -> audio trimmed to mel_length * hop -> chunks joined with a pause.

Checkpoints come in two layouts and both load: ours (``model_name``, ``epoch``, ``config``,
``state_dict``, maybe ``module.``-prefixed) and the published NGC ones (``state_dict`` and ``config``; a
WaveGlow ``config`` may be absent). A missing config is recovered from the weight shapes.
"""

from __future__ import annotations

import inspect
import math
import re
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from common.checkpoint import CheckpointError, load_checkpoint, load_model_state, strip_module_prefix
from common.stft import MelSTFT, mel_to_audio
from common.text import text_to_sequence
from tacotron2.model import MaxDecoderStepsWarning, Tacotron2
from tacotron2.multilingual import (
    EXTENSION_DEFAULTS,
    LanguageTagError,
    MultilingualTacotron2,
    MultilingualTextEncoder,
    build_tacotron2,
)
from waveglow.denoiser import Denoiser
from waveglow.model import UPSAMPLE_STRIDE, WaveGlow, remove_weightnorm

__all__ = [
    "MEL_SILENCE",
    "Phrase",
    "StageTimes",
    "SynthesisError",
    "SynthesisResult",
    "Synthesizer",
    "Utterance",
    "checkpoint_kind",
    "describe_lines",
    "detect_tacotron2_config",
    "detect_waveglow_config",
    "join_audio",
    "load_tacotron2",
    "load_waveglow",
    "plot_alignment",
    "read_phrases",
    "split_sentences",
    "tacotron2_from_checkpoint",
    "waveglow_from_checkpoint",
]

MEL_SILENCE = math.log(1e-5)  # the log-mel floor: what a silent frame looks like to WaveGlow
MODEL_TITLES = {"Tacotron2": "Tacotron 2", "WaveGlow": "WaveGlow"}
MODEL_FLAGS = {"Tacotron2": "--tacotron2", "WaveGlow": "--waveglow"}


class SynthesisError(ValueError):
    """Input text the models cannot synthesise (names the source and line), or an unusable setting."""


# --------------------------------------------------------------------------------------------- checkpoints

def checkpoint_kind(checkpoint: Mapping[str, Any]) -> str | None:
    """"Tacotron2", "WaveGlow" or None: from ``model_name`` when present, else from the state_dict keys."""
    name = checkpoint.get("model_name")
    if name in MODEL_TITLES:
        return name
    keys = {k.removeprefix("module.") for k in checkpoint.get("state_dict", {})}
    if "embedding.weight" in keys and any(k.startswith("decoder.") for k in keys):
        return "Tacotron2"
    if "upsample.weight" in keys and any(k.startswith("WN.") for k in keys):
        return "WaveGlow"
    return None


def _check_kind(checkpoint: Mapping[str, Any], expected: str, source: str) -> None:
    kind = checkpoint_kind(checkpoint)
    if kind == expected:
        return
    want = MODEL_TITLES[expected]
    if kind is None:
        raise CheckpointError(f"{source}: not a {want} checkpoint (its state_dict has neither Tacotron 2 nor "
                              "WaveGlow parameter names)")
    raise CheckpointError(
        f"{source} is a {MODEL_TITLES[kind]} checkpoint, but a {want} checkpoint was expected "
        f"(pass it to {MODEL_FLAGS[kind]} instead of {MODEL_FLAGS[expected]})"
    )


def _constructor_defaults(cls: type) -> dict[str, Any]:
    params = inspect.signature(cls.__init__).parameters
    return {name: p.default for name, p in params.items() if name != "self"}


def _count(state_dict: Mapping[str, Tensor], pattern: str) -> int:
    """Number of consecutive indices i (from 0) for which ``pattern.format(i)`` is a key."""
    n = 0
    while pattern.format(n) in state_dict:
        n += 1
    return n


def detect_tacotron2_config(state_dict: Mapping[str, Tensor], source: str = "state_dict") -> dict[str, Any]:
    """Tacotron 2 constructor keywords recovered from parameter shapes (non-shape settings at defaults)."""
    sd = strip_module_prefix(dict(state_dict))
    try:
        n_symbols, embedding_dim = sd["embedding.weight"].shape
        n_enc = _count(sd, "encoder.convolutions.{}.0.conv.weight")
        enc_kernel = sd["encoder.convolutions.0.0.conv.weight"].shape[2] if n_enc else 5
        prenet_dim, n_mel = sd["decoder.prenet.layers.0.linear_layer.weight"].shape
        location = sd["decoder.attention_layer.location_layer.location_conv.conv.weight"]
        n_filters, loc_kernel = location.shape[0], location.shape[2]
        projection = sd["decoder.linear_projection.linear_layer.weight"].shape[0]
        postnet = sd["postnet.convolutions.0.0.conv.weight"]
        config = {
            "n_mel_channels": int(n_mel),
            "n_symbols": int(n_symbols),
            "symbols_embedding_dim": int(embedding_dim),
            "encoder_kernel_size": int(enc_kernel),
            "encoder_n_convolutions": n_enc,
            "encoder_embedding_dim": int(sd["encoder.lstm.weight_hh_l0"].shape[1]) * 2,
            "attention_rnn_dim": int(sd["decoder.attention_rnn.weight_hh"].shape[1]),
            "attention_dim": int(sd["decoder.attention_layer.query_layer.linear_layer.weight"].shape[0]),
            "attention_location_n_filters": int(n_filters),
            "attention_location_kernel_size": int(loc_kernel),
            "n_frames_per_step": int(projection) // int(n_mel),
            "decoder_rnn_dim": int(sd["decoder.decoder_rnn.weight_hh"].shape[1]),
            "prenet_dim": int(prenet_dim),
            "postnet_embedding_dim": int(postnet.shape[0]),
            "postnet_kernel_size": int(postnet.shape[2]),
            "postnet_n_convolutions": _count(sd, "postnet.convolutions.{}.0.conv.weight"),
        }
    except (KeyError, ValueError, IndexError) as err:
        raise CheckpointError(f"{source}: cannot recover the Tacotron 2 configuration from the weights "
                              f"(missing or odd parameter {err})") from None
    return {**_constructor_defaults(Tacotron2), **config}


def _wn_weight(sd: Mapping[str, Tensor], name: str) -> Tensor:
    """A WN conv weight: ``weight_v`` of a weight-norm checkpoint or ``weight`` once it was folded."""
    return sd[f"{name}.weight_v"] if f"{name}.weight_v" in sd else sd[f"{name}.weight"]


def detect_waveglow_config(state_dict: Mapping[str, Tensor], source: str = "state_dict") -> dict[str, Any]:
    """WaveGlow constructor keywords recovered from parameter shapes.

    WN channels C and kernel k from ``WN.0.in_layers.0`` ([2C, C, k]); flows from the number of ``WN.K``
    blocks; layers from ``WN.0.in_layers.*``; groups from ``convinv.0`` (n_group x n_group); early outputs
    from where the ``convinv`` sizes shrink.
    """
    sd = strip_module_prefix(dict(state_dict))
    try:
        n_mel = int(sd["upsample.weight"].shape[0])
        n_flows = _count(sd, "WN.{}.start.bias")
        n_layers = _count(sd, "WN.0.in_layers.{}.bias")
        in_weight = _wn_weight(sd, "WN.0.in_layers.0")
        n_channels, kernel_size = int(in_weight.shape[1]), int(in_weight.shape[2])
        sizes = [int(sd[f"convinv.{k}.conv.weight"].shape[0]) for k in range(n_flows)]
        cond_in = int(_wn_weight(sd, "WN.0.cond_layers.0").shape[1])
    except (KeyError, ValueError, IndexError) as err:
        raise CheckpointError(f"{source}: cannot recover the WaveGlow configuration from the weights "
                              f"(missing or odd parameter {err})") from None
    if n_flows == 0 or n_layers == 0:
        raise CheckpointError(f"{source}: no WN blocks found (expected keys WN.0.start.*, WN.0.in_layers.*)")
    n_group = sizes[0]
    drops = [k for k in range(1, n_flows) if sizes[k] < sizes[k - 1]]
    early_every, early_size = (drops[0], sizes[drops[0] - 1] - sizes[drops[0]]) if drops else (4, 0)
    if cond_in != n_mel * n_group:
        raise CheckpointError(f"{source}: WN conditioning input has {cond_in} channels, expected "
                              f"n_mel_channels * n_group = {n_mel} * {n_group}")
    return {
        "n_mel_channels": n_mel,
        "n_flows": n_flows,
        "n_group": n_group,
        "n_early_every": early_every,
        "n_early_size": early_size,
        "WN_config": {"n_layers": n_layers, "kernel_size": kernel_size, "n_channels": n_channels},
    }


def _merge_config(model: str, config: dict[str, Any], overrides: Mapping[str, Any] | None,
                  allowed: Iterable[str], source: str) -> dict[str, Any]:
    allowed = set(allowed)
    unknown = sorted(set(overrides or {}) - allowed)
    if unknown:
        raise ValueError(f"unknown {MODEL_TITLES[model]} setting(s) {unknown}; known: {sorted(allowed)}")
    merged = {k: v for k, v in config.items() if k in allowed}
    dropped = sorted(set(config) - allowed)
    if dropped:
        warnings.warn(f"{source}: ignoring config keys the {MODEL_TITLES[model]} model does not take: "
                      f"{dropped}", stacklevel=3)
    return {**merged, **dict(overrides or {})}


def tacotron2_from_checkpoint(checkpoint: Mapping[str, Any], source: str = "checkpoint",
                              device: str | torch.device = "cpu",
                              overrides: Mapping[str, Any] | None = None) -> Tacotron2:
    """Build a Tacotron 2 from a loaded checkpoint dict (either layout), in eval mode on ``device``.

    ``overrides`` replaces config entries: inference settings such as ``max_decoder_steps``,
    ``gate_threshold`` and ``decoder_no_early_stopping``; a shape setting that disagrees with the weights
    gives a CheckpointError naming the parameters.
    """
    _check_kind(checkpoint, "Tacotron2", source)
    state_dict = strip_module_prefix(checkpoint["state_dict"])
    config = checkpoint.get("config")
    if not isinstance(config, Mapping) or not config:
        config = detect_tacotron2_config(state_dict, source)
    defaults = _constructor_defaults(Tacotron2)
    if any(key in config for key in EXTENSION_DEFAULTS):  # multi-speaker/multilingual (or own symbols)
        defaults = {**defaults, **EXTENSION_DEFAULTS}
    config = {**defaults, **_merge_config("Tacotron2", dict(config), overrides, defaults, source)}
    try:
        model = build_tacotron2(**config)
    except ValueError as err:
        raise CheckpointError(f"{source}: cannot build Tacotron 2 from its config: {err}") from None
    load_model_state(model, state_dict, source)
    return model.to(device).eval()


def waveglow_from_checkpoint(checkpoint: Mapping[str, Any], source: str = "checkpoint",
                             device: str | torch.device = "cpu",
                             overrides: Mapping[str, Any] | None = None) -> WaveGlow:
    """Build a WaveGlow from a loaded checkpoint dict (either layout): weight norm removed, eval mode.

    The config comes from the checkpoint, or from the weight shapes when it is absent (published NGC
    WaveGlow checkpoints may lack it). ``overrides`` replaces constructor entries (``WN_config`` is merged
    key by key). Checkpoints whose weight norm was already folded (plain ``weight``) load too.
    """
    _check_kind(checkpoint, "WaveGlow", source)
    state_dict = strip_module_prefix(checkpoint["state_dict"])
    config = checkpoint.get("config")
    if not isinstance(config, Mapping) or not config:
        config = detect_waveglow_config(state_dict, source)
    overrides = dict(overrides or {})
    wn_override = overrides.pop("WN_config", None) or {}
    config = _merge_config("WaveGlow", dict(config), overrides, _constructor_defaults(WaveGlow), source)
    config["WN_config"] = {**dict(config.get("WN_config") or {}), **dict(wn_override)}
    try:
        model = WaveGlow(**config)
    except ValueError as err:
        raise CheckpointError(f"{source}: cannot build WaveGlow from its config: {err}") from None
    folded = "WN.0.start.weight" in state_dict and "WN.0.start.weight_v" not in state_dict
    if folded:
        remove_weightnorm(model)
    load_model_state(model, state_dict, source)
    if not folded:
        remove_weightnorm(model)
    return model.to(device).eval()


def load_tacotron2(path: str | Path, device: str | torch.device = "cpu",
                   overrides: Mapping[str, Any] | None = None) -> Tacotron2:
    """Tacotron 2 from a checkpoint file (ours or NGC layout), eval mode; see tacotron2_from_checkpoint."""
    return tacotron2_from_checkpoint(load_checkpoint(path), str(path), device, overrides)


def load_waveglow(path: str | Path, device: str | torch.device = "cpu",
                  overrides: Mapping[str, Any] | None = None) -> WaveGlow:
    """WaveGlow from a checkpoint file (ours or NGC layout), weight norm removed, eval mode."""
    return waveglow_from_checkpoint(load_checkpoint(path), str(path), device, overrides)


# ------------------------------------------------------------------------------------------------- text

@dataclass(frozen=True)
class Phrase:
    """One input phrase and where it came from (for messages): ``source`` line ``line`` (1-based)."""

    text: str
    line: int
    source: str = "input"
    speaker: str | None = None  # per-line speaker and language (`text|speaker|language` lines)
    language: str | None = None

    @property
    def where(self) -> str:
        return f"{self.source} line {self.line}"


def describe_lines(phrases: Sequence[Phrase]) -> str:
    """"in.txt lines 1, 3" (grouped by source) for messages about several phrases."""
    by_source: dict[str, list[int]] = {}
    for phrase in phrases:
        by_source.setdefault(phrase.source, []).append(phrase.line)
    return "; ".join(f"{source} line{'s' if len(lines) > 1 else ''} {', '.join(map(str, lines))}"
                     for source, lines in by_source.items())


def read_phrases(lines: Iterable[str], source: str = "input") -> tuple[list[Phrase], list[int]]:
    """Non-blank lines as phrases, and the (1-based) numbers of the blank lines that were skipped.

    A line may name its speaker and language: `text|speaker|language` (or `text|speaker`); empty fields
    fall back to the run's `--speaker` / `--language`.
    """
    phrases, skipped = [], []
    for number, line in enumerate(lines, start=1):
        fields = line.strip().split("|")
        if len(fields) > 3:
            raise SynthesisError(f"{source} line {number}: expected text, text|speaker or "
                                 f"text|speaker|language, got {len(fields)} '|'-separated fields")
        text = fields[0].strip()
        speaker = (fields[1].strip() or None) if len(fields) > 1 else None
        language = (fields[2].strip() or None) if len(fields) > 2 else None
        if text:
            phrases.append(Phrase(text, number, source, speaker, language))
        elif len(fields) > 1:
            raise SynthesisError(f"{source} line {number}: empty text before '|'")
        else:
            skipped.append(number)
    return phrases, skipped


_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")
_COMMA = re.compile(r"(?<=,)\s+")
_SPACE_OUTSIDE_BRACES = re.compile(r"\s+(?![^{}]*\})")  # keeps "{HH AH0 L OW1}" in one piece


def _pack(pieces: Iterable[str], limit: int) -> list[str]:
    """Greedily join consecutive pieces with spaces up to ``limit`` characters; break longer pieces at
    word boundaries, and cut single words longer than ``limit``."""
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if not piece:
            continue
        if len(piece) > limit:
            if current:
                chunks.append(current)
                current = ""
            words = _SPACE_OUTSIDE_BRACES.split(piece)
            if len(words) > 1:
                chunks.extend(_pack(words, limit))
            else:
                chunks.extend(piece[i:i + limit] for i in range(0, len(piece), limit))
            continue
        candidate = f"{current} {piece}" if current else piece
        if len(candidate) <= limit:
            current = candidate
        else:
            chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return chunks


def split_sentences(text: str, max_chars: int = 200) -> list[str]:
    """Split text longer than ``max_chars`` characters into chunks the model can say in one go.

    Text that fits is returned whole (whitespace collapsed). Otherwise it is split after ``. ! ? ;``
    (each sentence its own chunk); a sentence still too long is split after commas, and the comma pieces
    are packed back together up to ``max_chars``; a piece still too long is split between words (ARPAbet
    in braces stays whole), and a single word longer than ``max_chars`` is cut. The limit applies to the
    raw text, before cleaning (number expansion can lengthen it).
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be >= 1, got {max_chars}")
    text = " ".join(text.split())
    if not text:
        return []
    if len(text) <= max_chars:
        return [text]
    chunks: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        if len(sentence) <= max_chars:
            chunks.append(sentence)
        else:
            chunks.extend(_pack(_COMMA.split(sentence), max_chars))
    return [c for c in chunks if c]


def join_audio(chunks: Sequence[Tensor], sampling_rate: int, pause_seconds: float = 0.15) -> Tensor:
    """Concatenate 1-D audio chunks with ``round(pause_seconds * sampling_rate)`` zeros between them."""
    if not chunks:
        return torch.zeros(0)
    if len(chunks) == 1:
        return chunks[0]
    pause = torch.zeros(int(round(pause_seconds * sampling_rate)), dtype=chunks[0].dtype)
    parts: list[Tensor] = []
    for i, chunk in enumerate(chunks):
        if i:
            parts.append(pause)
        parts.append(chunk)
    return torch.cat(parts)


# -------------------------------------------------------------------------------------------- synthesis

@dataclass
class StageTimes:
    """Wall seconds per pipeline stage (summed over batches); ``total`` covers text to final audio."""

    tacotron2: float = 0.0
    waveglow: float = 0.0
    denoiser: float = 0.0
    griffin_lim: float = 0.0
    total: float = 0.0


@dataclass
class Utterance:
    """The synthesis of one phrase (its chunks joined)."""

    phrase: Phrase
    audio: Tensor  # (T,) float32, CPU
    mel: Tensor  # (n_mel, frames) float32, CPU: the chunks' mels side by side
    alignment: Tensor  # (decoder steps, input symbols): block-diagonal over chunks
    chunks: list[str]
    hit_max_decoder_steps: bool = False


@dataclass
class SynthesisResult:
    """Utterances in input order, stage latencies and the work done."""

    utterances: list[Utterance]
    times: StageTimes
    sampling_rate: int
    mel_frames: int  # mel frames generated (sum of trimmed lengths over chunks)
    generated_samples: int  # vocoder output samples (sum over chunks, pauses excluded)
    unfinished: list[Phrase] = field(default_factory=list)  # phrases that hit max_decoder_steps

    @property
    def audio_samples(self) -> int:
        """Samples of the final audio (pauses between chunks included)."""
        return sum(int(u.audio.numel()) for u in self.utterances)

    @property
    def audio_seconds(self) -> float:
        return self.audio_samples / self.sampling_rate


class Synthesizer:
    """Text -> audio with a Tacotron 2 and a WaveGlow (plus denoiser), or Griffin-Lim without a WaveGlow.

    Models are moved to ``device`` (and to half precision with ``fp16``, CUDA only) and put in eval mode.
    ``max_chars_per_chunk`` splits long phrases into sentences (see :func:`split_sentences`) whose audio
    is joined with ``pause_seconds`` of silence. ``trim_to_gate=False`` keeps every item at the full decoded
    length (fixed-length benchmarks with random weights); otherwise each item ends where its gate fired.
    ``batch_vocoder`` runs WaveGlow on whole padded batches (padding made silent; default on CUDA) instead
    of item by item (default on CPU).
    """

    def __init__(
        self,
        tacotron2: Tacotron2,
        waveglow: WaveGlow | None = None,
        *,
        device: str | torch.device = "cpu",
        fp16: bool = False,
        sigma: float = 0.9,
        denoising_strength: float = 0.01,
        sampling_rate: int = 22050,
        hop_length: int = 256,
        filter_length: int = 1024,
        win_length: int = 1024,
        mel_fmin: float = 0.0,
        mel_fmax: float = 8000.0,
        text_cleaners: Sequence[str] = ("english_cleaners",),
        griffin_lim_iters: int = 60,
        max_chars_per_chunk: int | None = None,
        pause_seconds: float = 0.15,
        trim_to_gate: bool = True,
        batch_vocoder: bool | None = None,
        speaker: str | None = None,
        language: str | None = None,
    ) -> None:
        self.device = torch.device(device)
        if fp16 and self.device.type != "cuda":
            raise SynthesisError("--fp16 needs a CUDA device (half-precision inference is GPU-only here)")
        if sigma < 0 or denoising_strength < 0 or griffin_lim_iters < 0:
            raise SynthesisError("sigma, denoising strength and Griffin-Lim iterations must be >= 0")
        if max_chars_per_chunk is not None and max_chars_per_chunk < 1:
            raise SynthesisError(f"--max-chars-per-chunk must be >= 1, got {max_chars_per_chunk}")
        if hop_length < 1 or sampling_rate < 1:
            raise SynthesisError("--stft-hop-length and --sampling-rate must be positive")
        self.dtype = torch.float16 if fp16 else torch.float32
        self.tacotron2 = tacotron2.to(self.device, self.dtype).eval()
        self.n_mel = int(tacotron2.n_mel_channels)
        self.r = int(tacotron2.n_frames_per_step)
        self.n_symbols = int(tacotron2.embedding.num_embeddings)
        self.waveglow = None
        self.denoiser = None
        if waveglow is not None:
            if waveglow.n_mel_channels != self.n_mel:
                raise SynthesisError(f"Tacotron 2 makes {self.n_mel}-band mels but WaveGlow expects "
                                     f"{waveglow.n_mel_channels} bands")
            if hop_length != UPSAMPLE_STRIDE:
                raise SynthesisError(f"--stft-hop-length {hop_length} does not match WaveGlow's upsampling "
                                     f"stride {UPSAMPLE_STRIDE}")
            self.waveglow = waveglow.to(self.device, self.dtype).eval()
            if denoising_strength > 0:
                self.denoiser = Denoiser(self.waveglow, filter_length, win_length=win_length).to(self.device)
        self.sigma = sigma
        self.filter_length = filter_length
        self.denoising_strength = denoising_strength
        self.sampling_rate = sampling_rate
        self.hop_length = hop_length
        self.text_cleaners = list(text_cleaners)
        self.griffin_lim_iters = griffin_lim_iters
        self.max_chars_per_chunk = max_chars_per_chunk
        self.pause_seconds = pause_seconds
        self.trim_to_gate = trim_to_gate
        # Multi-speaker/multilingual models (and models with their own symbol table): the default speaker
        # and language of phrases that name none, and the per-language text front end with language tags.
        self.speaker, self.language = speaker, language
        self.text_encoder: MultilingualTextEncoder | None = None
        if isinstance(tacotron2, MultilingualTacotron2) and (tacotron2.languages or tacotron2.symbols):
            self.text_encoder = MultilingualTextEncoder(tacotron2.symbols, tacotron2.languages,
                                                        self.text_cleaners)
        # On CPU, oneDNN re-plans the batched ConvTranspose1d upsampler for every new input shape (seconds
        # per call for batches > 1), and CPU throughput gains nothing from batching: vocode items one by one
        # there (each at its own length, so no padded frames either). On GPU, batch.
        self.batch_vocoder = self.device.type == "cuda" if batch_vocoder is None else batch_vocoder
        self._stft: MelSTFT | None = None
        self._stft_args = dict(filter_length=filter_length, hop_length=hop_length, win_length=win_length,
                               n_mel_channels=self.n_mel, sampling_rate=sampling_rate, mel_fmin=mel_fmin,
                               mel_fmax=mel_fmax)
        if self.waveglow is None:
            try:
                self._stft = MelSTFT(**self._stft_args).to(self.device)
            except ValueError as err:  # e.g. mel_fmax above the Nyquist frequency of --sampling-rate
                raise SynthesisError(f"Griffin-Lim mel front end (-sr/--sampling-rate {sampling_rate}): "
                                     f"{err}") from None

    # ---------------------------------------------------------------- helpers
    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def encode(self, text: str, phrase: Phrase) -> list[int]:
        """Symbol ids of ``text`` (a phrase or one of its chunks); SynthesisError naming the line if none."""
        ids = text_to_sequence(text, self.text_cleaners)
        if not ids:
            raise SynthesisError(f"{phrase.where}: {text!r} has no symbol the model knows (after cleaning "
                                 f"with {', '.join(self.text_cleaners)}); nothing to say")
        if max(ids) >= self.n_symbols:
            raise SynthesisError(f"{phrase.where}: symbol id {max(ids)} is outside the model's "
                                 f"{self.n_symbols}-symbol embedding")
        return ids

    def _choose(self, phrase: Phrase, what: str, given: str | None, known: list[str]) -> str | None:
        """The phrase's (else the run's) speaker or language: checked against the model's names."""
        if given is None:
            if len(known) == 1:
                return known[0]
            raise SynthesisError(f"{phrase.where}: no {what} given; this model has {len(known)} {what}s "
                                 f"({', '.join(known)}): pass --{what} or write text|speaker|language lines")
        if given not in known:
            raise SynthesisError(f"{phrase.where}: unknown {what} {given!r}; this model knows "
                                 f"{', '.join(known)}")
        return given

    def encode_conditioned(self, text: str, phrase: Phrase) -> tuple[list[int], int | None, list[int] | None]:
        """Symbol ids, speaker id and per-symbol language ids of ``text`` for a conditioned model.

        Plain models: ``(encode(text, phrase), None, None)``; a speaker or language given to them is an
        error. Language tags (``<fr>...</fr>``, see tacotron2.multilingual.split_language_tags) switch the
        language of a span.
        """
        model = self.tacotron2
        speaker, language = phrase.speaker or self.speaker, phrase.language or self.language
        if self.text_encoder is None:
            if speaker is not None or language is not None:
                raise SynthesisError(f"{phrase.where}: this Tacotron 2 has no speakers or languages; drop "
                                     "--speaker/--language and the |speaker|language fields")
            return self.encode(text, phrase), None, None
        speaker_id = None
        if model.needs_speaker:
            speaker_id = model.speakers.index(self._choose(phrase, "speaker", speaker, model.speakers))
        elif speaker is not None:
            raise SynthesisError(f"{phrase.where}: this Tacotron 2 has no speaker embedding; drop the "
                                 "speaker")
        if model.languages:
            language = self._choose(phrase, "language", language, model.languages)
        elif language is not None:
            raise SynthesisError(f"{phrase.where}: this Tacotron 2 has no languages; drop the language")
        try:
            ids, language_ids = self.text_encoder.encode(text, language)
        except LanguageTagError as err:
            raise SynthesisError(f"{phrase.where}: {err}") from None
        if not ids:
            raise SynthesisError(f"{phrase.where}: {text!r} has no symbol the model knows; nothing to say")
        return ids, speaker_id, language_ids

    @staticmethod
    def as_phrases(phrases: Sequence[Phrase | str]) -> list[Phrase]:
        """Strings become Phrase(text, line=position + 1, source="text")."""
        return [p if isinstance(p, Phrase) else Phrase(str(p), i + 1, "text") for i, p in enumerate(phrases)]

    def _tacotron2(self, ids: list[list[int]],
                   conditions: list[tuple] | None = None) -> tuple[Tensor, Tensor, Tensor, list[int]]:
        """Pad a batch of id lists, run Tacotron 2; (mel, mel_lengths, alignments, unfinished rows).

        ``conditions``: per row, ``encode_conditioned``'s (ids, speaker id, language ids) (conditioned
        models only).
        """
        lengths = torch.tensor([len(x) for x in ids], dtype=torch.long)
        padded = torch.zeros(len(ids), int(lengths.max()), dtype=torch.long)
        for row, x in enumerate(ids):
            padded[row, : len(x)] = torch.tensor(x, dtype=torch.long)
        extra = {}
        if conditions and conditions[0][1] is not None:
            extra["speaker_ids"] = torch.tensor([c[1] for c in conditions], device=self.device)
        if conditions and conditions[0][2] is not None:
            languages = torch.zeros_like(padded)
            for row, (_, _, language_ids) in enumerate(conditions):
                languages[row, : len(language_ids)] = torch.tensor(language_ids, dtype=torch.long)
            extra["language_ids"] = languages.to(self.device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MaxDecoderStepsWarning)  # reported per line by synthesize()
            mel, mel_lengths, alignments = self.tacotron2.infer(padded.to(self.device),
                                                                lengths.to(self.device), **extra)
        unfinished = list(self.tacotron2.last_unfinished)
        if not self.trim_to_gate:
            mel_lengths = torch.full_like(mel_lengths, mel.size(2))
        return mel, mel_lengths.cpu(), alignments, unfinished

    def _waveglow(self, mel: Tensor, mel_lengths: Tensor, times: StageTimes) -> Tensor:
        """Audio (B, frames * 256) of a padded mel batch; padding frames are made silent first."""
        frames = torch.arange(mel.size(2), device=mel.device)
        pad = frames[None, None, :] >= mel_lengths.to(mel.device)[:, None, None]
        mel = mel.masked_fill(pad, MEL_SILENCE)
        start = time.perf_counter()
        with torch.no_grad():
            audio = self.waveglow.infer(mel, sigma=self.sigma)
        self._sync()
        times.waveglow += time.perf_counter() - start
        if self.denoiser is not None:
            start = time.perf_counter()
            samples = audio.size(1)
            short = self.filter_length // 2 + 1 - samples  # the STFT's reflect padding needs more samples
            if short > 0:
                audio = torch.nn.functional.pad(audio, (0, short))
            with torch.no_grad():
                audio = self.denoiser(audio, strength=self.denoising_strength)[:, :samples]
            self._sync()
            times.denoiser += time.perf_counter() - start
        return audio

    def _griffin_lim(self, mel: Tensor, times: StageTimes) -> Tensor:
        """Audio (frames * hop,) of one mel (n_mel, frames) by Griffin-Lim.

        Griffin-Lim returns hop * (frames - 1) samples; the end is padded with zeros to frames * hop, the
        length WaveGlow gives. Mels too short for the STFT's reflect padding get silent frames appended
        (and their audio removed again).
        """
        start = time.perf_counter()
        frames = mel.size(1)
        min_frames = self._stft.stft_fn.filter_length // self.hop_length + 2
        if frames < min_frames:
            mel = torch.nn.functional.pad(mel, (0, min_frames - frames), value=MEL_SILENCE)
        audio = mel_to_audio(mel.float(), self._stft, n_iters=self.griffin_lim_iters)
        target = frames * self.hop_length
        audio = torch.nn.functional.pad(audio, (0, max(0, target - audio.numel())))[:target]
        self._sync()
        times.griffin_lim += time.perf_counter() - start
        return audio

    # ---------------------------------------------------------------- main entry
    def synthesize(self, phrases: Sequence[Phrase | str], batch_size: int | None = None) -> SynthesisResult:
        """Synthesise every phrase; results in input order.

        Chunks (phrases, or their sentences with ``max_chars_per_chunk``) are sorted by length, longest
        first, and run through Tacotron 2 ``batch_size`` at a time (default: all in one batch); outputs
        are restored to input order. Phrases whose chunks hit ``max_decoder_steps`` are listed in
        ``result.unfinished`` and named in a MaxDecoderStepsWarning.
        """
        phrases = self.as_phrases(phrases)
        if not phrases:
            raise SynthesisError("no phrases to synthesise")
        if batch_size is not None and batch_size < 1:
            raise SynthesisError(f"--batch-size must be >= 1, got {batch_size}")
        times = StageTimes()
        self._sync()
        t_start = time.perf_counter()

        owner: list[int] = []  # chunk -> phrase index
        texts: list[str] = []
        for index, phrase in enumerate(phrases):
            pieces = (split_sentences(phrase.text, self.max_chars_per_chunk) if self.max_chars_per_chunk
                      else [phrase.text.strip()])
            for piece in pieces or [phrase.text]:
                owner.append(index)
                texts.append(piece)
        encoded = [self.encode_conditioned(text, phrases[owner[i]]) for i, text in enumerate(texts)]
        ids = [item[0] for item in encoded]

        n = len(ids)
        order = sorted(range(n), key=lambda i: -len(ids[i]))  # stable: equal lengths keep input order
        step = batch_size or n
        chunk_audio: list[Tensor | None] = [None] * n
        chunk_mel: list[Tensor | None] = [None] * n
        chunk_align: list[Tensor | None] = [None] * n
        unfinished_chunks: set[int] = set()
        mel_frames = 0
        for begin in range(0, n, step):
            rows = order[begin:begin + step]
            start = time.perf_counter()
            mel, mel_lengths, alignments, unfinished = self._tacotron2([ids[i] for i in rows],
                                                                       [encoded[i] for i in rows])
            self._sync()
            times.tacotron2 += time.perf_counter() - start
            unfinished_chunks.update(rows[j] for j in unfinished)
            mel_frames += int(mel_lengths.sum())

            audio = None
            if self.waveglow is not None and self.batch_vocoder:
                audio = self._waveglow(mel, mel_lengths, times)
            for j, i in enumerate(rows):
                frames = int(mel_lengths[j])
                item_mel = mel[j, :, :frames]
                if audio is not None:
                    item_audio = audio[j]
                elif self.waveglow is not None:
                    item_audio = self._waveglow(item_mel[None], mel_lengths[j:j + 1], times)[0]
                else:
                    item_audio = self._griffin_lim(item_mel, times)
                chunk_audio[i] = item_audio[: frames * self.hop_length].float().cpu()
                chunk_mel[i] = item_mel.float().cpu()
                chunk_align[i] = alignments[j, : frames // self.r, : len(ids[i])].float().cpu()

        utterances: list[Utterance] = []
        for index, phrase in enumerate(phrases):
            mine = [i for i in range(n) if owner[i] == index]
            utterances.append(Utterance(
                phrase=phrase,
                audio=join_audio([chunk_audio[i] for i in mine], self.sampling_rate, self.pause_seconds),
                mel=torch.cat([chunk_mel[i] for i in mine], dim=1),
                alignment=torch.block_diag(*[chunk_align[i] for i in mine]),
                chunks=[texts[i] for i in mine],
                hit_max_decoder_steps=any(i in unfinished_chunks for i in mine),
            ))
        self._sync()
        times.total = time.perf_counter() - t_start

        unfinished_phrases = [u.phrase for u in utterances if u.hit_max_decoder_steps]
        if unfinished_phrases and self.trim_to_gate:
            steps = self.tacotron2.decoder.max_decoder_steps
            where = describe_lines(unfinished_phrases)
            split = "" if self.max_chars_per_chunk else ", split long lines with --max-chars-per-chunk"
            warnings.warn(f"{where}: reached max_decoder_steps={steps} before the gate stopped; the audio "
                          f"is cut off (raise --max-decoder-steps{split}, or check the text)",
                          MaxDecoderStepsWarning, stacklevel=2)
        return SynthesisResult(
            utterances=utterances,
            times=times,
            sampling_rate=self.sampling_rate,
            mel_frames=mel_frames,
            generated_samples=sum(int(a.numel()) for a in chunk_audio if a is not None),
            unfinished=unfinished_phrases if self.trim_to_gate else [],
        )

    def warmup(self, phrases: Sequence[Phrase | str], batch_size: int | None = None, passes: int = 1) -> None:
        """Untimed passes over the first batch (kernels, allocator, caches), their warnings silenced."""
        phrases = self.as_phrases(phrases)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(passes):
                self.synthesize(phrases[: batch_size or len(phrases)], batch_size)


# --------------------------------------------------------------------------------------------- plotting

def plot_alignment(alignment: Tensor, path: str | Path, title: str = "") -> Path:
    """Save an attention alignment (decoder steps, input symbols) as a PNG heat map; returns the path.

    Uses matplotlib's object API with the Agg canvas (no pyplot state, safe in threads and tests).
    """
    # deferred: matplotlib is slow to import; only --plot needs it
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    # deferred: matplotlib is slow to import; only --plot needs it
    from matplotlib.figure import Figure

    data = alignment.detach().float().cpu().numpy()
    if data.ndim != 2:
        raise ValueError(f"alignment must be 2-D (decoder steps, input symbols), got shape {data.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    image = ax.imshow(data.T, aspect="auto", origin="lower", interpolation="none", vmin=0.0)
    fig.colorbar(image, ax=ax)
    ax.set_xlabel("decoder step")
    ax.set_ylabel("input symbol")
    with warnings.catch_warnings():  # a title in a script the font lacks only loses those glyphs
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        if title:
            ax.set_title(title)
        fig.tight_layout()
        fig.savefig(path, format="png")
    return path

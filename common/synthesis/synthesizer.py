"""`Synthesizer`: batched Tacotron 2 inference, WaveGlow + denoiser or Griffin-Lim, per-stage timings
(common.synthesis)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from common.audio_config import DEFAULT_AUDIO, AudioConfig
from common.stft import MelSTFT, mel_to_audio
from common.synthesis.checkpoints import (
    MEL_SILENCE,
    SynthesisError,
)
from common.synthesis.text import (
    Phrase,
    describe_lines,
    join_audio,
    split_sentences,
)
from common.text import text_to_sequence
from hifigan.vocoder import HiFiGANVocoder
from tacotron2.model import MaxDecoderStepsWarning, Tacotron2
from tacotron2.multilingual import (
    LanguageTagError,
    MultilingualTacotron2,
    MultilingualTextEncoder,
)
from waveglow.denoiser import Denoiser
from waveglow.model import UPSAMPLE_STRIDE, WaveGlow

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
    of item by item (default on CPU). A `HiFiGANVocoder` may stand in for the WaveGlow (same interface;
    ``sigma`` is then ignored, and the denoiser measures HiFi-GAN's own bias spectrum). ``audio`` holds the
    sampling rate and the STFT of the mels (its mel channels are the model's); the denoiser and Griffin-Lim
    use it.
    """

    def __init__(
        self,
        tacotron2: Tacotron2,
        waveglow: WaveGlow | HiFiGANVocoder | None = None,
        *,
        device: str | torch.device = "cpu",
        fp16: bool = False,
        sigma: float = 0.9,
        denoising_strength: float = 0.01,
        audio: AudioConfig = DEFAULT_AUDIO,
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
        sampling_rate, hop_length = audio.sampling_rate, audio.hop_length
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
            stride = getattr(waveglow, "hop_length", UPSAMPLE_STRIDE)  # a HiFi-GAN vocoder has its own
            if hop_length != stride:
                raise SynthesisError(f"--stft-hop-length {hop_length} does not match the vocoder's "
                                     f"upsampling stride {stride}")
            self.waveglow = waveglow.to(self.device, self.dtype).eval()
            if denoising_strength > 0:
                self.denoiser = Denoiser(self.waveglow, audio.filter_length,
                                         win_length=audio.win_length).to(self.device)
        self.sigma = sigma
        self.filter_length = audio.filter_length
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
        if isinstance(tacotron2, MultilingualTacotron2) and tacotron2.text_cleaners:
            self.text_cleaners = list(tacotron2.text_cleaners)  # the model's own front end (e.g. IPA)
        if isinstance(tacotron2, MultilingualTacotron2) and (tacotron2.languages or tacotron2.symbols):
            self.text_encoder = MultilingualTextEncoder(tacotron2.symbols, tacotron2.languages,
                                                        self.text_cleaners)
        # On CPU, oneDNN re-plans the batched ConvTranspose1d upsampler for every new input shape (seconds
        # per call for batches > 1), and CPU throughput gains nothing from batching: vocode items one by one
        # there (each at its own length, so no padded frames either). On GPU, batch.
        self.batch_vocoder = self.device.type == "cuda" if batch_vocoder is None else batch_vocoder
        self._stft: MelSTFT | None = None
        # the mel settings of Griffin-Lim (the model's mel channels, the given STFT)
        self.audio = replace(audio, n_mel_channels=self.n_mel)
        if self.waveglow is None:
            try:
                self._stft = self.audio.make_stft().to(self.device)
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



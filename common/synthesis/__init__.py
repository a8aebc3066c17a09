"""Text-to-speech synthesis: checkpoints -> models (`checkpoints`), text lines (`text`) -> audio
(`synthesizer`), and alignment plots (`plotting`).

The pipeline of ``inference.py``, the latency benchmark and ``hubconf.py``:

    phrases -> (optional sentence splitting) -> symbol ids -> batched Tacotron 2 inference (sorted by
    length, padded, restored to input order) -> per-item mel trimming -> WaveGlow + denoiser, or
    Griffin-Lim without a WaveGlow -> audio trimmed to mel_length * hop -> chunks joined with a pause.
    A HiFi-GAN vocoder (`load_hifigan`) may take WaveGlow's place.

Checkpoints come in two layouts and both load: ours (``model_name``, ``epoch``, ``config``,
``state_dict``, maybe ``module.``-prefixed) and the published NGC ones (``state_dict`` and ``config``; a
WaveGlow ``config`` may be absent). A missing config is recovered from the weight shapes.
"""

from __future__ import annotations

from common.synthesis.checkpoints import (
    MEL_SILENCE,
    SynthesisError,
    checkpoint_kind,
    detect_tacotron2_config,
    detect_waveglow_config,
    load_hifigan,
    load_tacotron2,
    load_waveglow,
    tacotron2_from_checkpoint,
    waveglow_from_checkpoint,
)
from common.synthesis.plotting import (
    plot_alignment,
)
from common.synthesis.synthesizer import (
    StageTimes,
    SynthesisResult,
    Synthesizer,
    Utterance,
)
from common.synthesis.text import (
    Phrase,
    describe_lines,
    join_audio,
    read_phrases,
    split_sentences,
)

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
    "load_hifigan",
    "load_tacotron2",
    "load_waveglow",
    "plot_alignment",
    "read_phrases",
    "split_sentences",
    "tacotron2_from_checkpoint",
    "waveglow_from_checkpoint",
]

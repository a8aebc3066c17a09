"""onnxruntime inference from the exported graphs: `OnnxTacotron2` drives the decoding loop in Python over
`encoder.onnx`, `decoder_iter.onnx` and `postnet.onnx` (prenet dropout masks drawn from torch's RNG as
`F.dropout` draws them, settings read from the graphs' metadata); `OnnxWaveGlow` runs `waveglow.onnx`."""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from common.export.base import DECODER_STATE_NAMES, ExportError
from common.export.tacotron2 import _scatter_rows, _span_pieces
from tacotron2.layers import lengths_to_mask
from tacotron2.model import attention_stop_steps

_ORT_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


def _session(path: str | Path, providers: Sequence[str]) -> Any:
    # deferred: optional dependency (onnxruntime, only to run ONNX models)
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise ExportError(f"ONNX file not found: {path}")
    try:
        return ort.InferenceSession(str(path), providers=list(providers))
    except Exception as err:  # noqa: BLE001 - a corrupt or foreign file
        raise ExportError(f"cannot load ONNX model {path}: {err}") from None


def _metadata(session: Any, path: str | Path, keys: Sequence[str]) -> dict[str, Any]:
    raw = session.get_modelmeta().custom_metadata_map
    missing = [key for key in keys if key not in raw]
    if missing:
        raise ExportError(f"{path} lacks export metadata {missing}: export it with common.export")
    return {key: json.loads(value) for key, value in raw.items()}


def _input_dtype(session: Any, name: str) -> np.dtype:
    for item in session.get_inputs():
        if item.name == name:
            return np.dtype(_ORT_DTYPES.get(item.type, np.float32))
    raise ExportError(f"ONNX graph has no input {name!r}")


def _as_numpy(x: Any, dtype: Any) -> np.ndarray:
    if isinstance(x, Tensor):
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(np.asarray(x, dtype=dtype))


class OnnxTacotron2:
    """Tacotron 2 synthesis from the three exported graphs, the decoding loop driven in Python.

    `infer` mirrors eager `Tacotron2.infer`, prenet dropout included: each step's masks are drawn from
    torch's RNG (`generator`, or the global one) in the order and shape `F.dropout` draws them on the CPU,
    so with the same seed the result matches a seeded eager run; `prenet_dropout=0.0` disables dropout.
    A multi-speaker / multilingual export takes `speaker_ids` and `language_ids` as the model's `infer`
    does (`speakers` and `languages` hold the id -> name maps); with separate encoders, each item is
    split into single-language spans, each encoded as its own item, as the eager encoder splits it.
    """

    def __init__(self, encoder_path: str | Path, decoder_path: str | Path, postnet_path: str | Path,
                 providers: Sequence[str] = ("CPUExecutionProvider",)) -> None:
        self.encoder = _session(encoder_path, providers)
        self.decoder = _session(decoder_path, providers)
        self.postnet = _session(postnet_path, providers)
        self.meta = _metadata(self.decoder, decoder_path, ("n_mel_channels", "n_frames_per_step",
                                                           "prenet_dropout", "prenet_sizes", "memory_dim"))
        self.dtype = _input_dtype(self.decoder, "decoder_input")
        inputs = [item.name for item in self.encoder.get_inputs()]
        self.speaker_input = "speaker_ids" in inputs
        self.language_input = "language_ids" in inputs
        self.speakers: list[str] = []
        self.languages: list[str] = []
        self.split_spans = False
        if self.speaker_input or self.language_input:
            encoder_meta = _metadata(self.encoder, encoder_path, ("speakers", "languages", "language_ids"))
            self.speakers, self.languages = list(encoder_meta["speakers"]), list(encoder_meta["languages"])
            self.split_spans = encoder_meta["language_ids"] == "utterance"

    def _speaker_ids(self, speaker_ids: Any, batch: int) -> np.ndarray | None:
        """(B,) int64 speaker ids as eager `MultilingualTacotron2` takes them, or None if unused."""
        if not self.speaker_input:
            if speaker_ids is not None:
                raise ExportError("this exported model has no speaker embedding: do not pass speaker_ids")
            return None
        if speaker_ids is None:
            if len(self.speakers) != 1:
                raise ExportError(f"this model has {len(self.speakers)} speakers {self.speakers}: "
                                  "pass speaker_ids (B,)")
            return np.zeros(batch, dtype=np.int64)
        ids = _as_numpy(speaker_ids, np.int64).reshape(-1)
        if ids.size == 1 and batch > 1:
            ids = np.full(batch, ids[0], dtype=np.int64)
        if ids.shape != (batch,):
            raise ExportError(f"speaker_ids must have shape ({batch},), got {ids.shape}")
        if ids.min() < 0 or ids.max() >= len(self.speakers):
            raise ExportError(f"speaker_ids must lie in [0, {len(self.speakers) - 1}], got {ids.tolist()}")
        return ids

    def _language_ids(self, language_ids: Any, batch: int, t_in: int) -> np.ndarray | None:
        """(B, T_in) int64 per-symbol language ids from (B,) or (B, T_in), or None if unused."""
        if not self.language_input:
            if language_ids is not None:
                raise ExportError("this exported model uses no languages: do not pass language_ids")
            return None
        if language_ids is None:
            if len(self.languages) != 1:
                raise ExportError(f"this model has {len(self.languages)} languages {self.languages}: "
                                  "pass language_ids (B,) or (B, T_in)")
            return np.zeros((batch, t_in), dtype=np.int64)
        ids = _as_numpy(language_ids, np.int64)
        if ids.ndim <= 1:
            ids = ids.reshape(-1)
            if ids.size == 1 and batch > 1:
                ids = np.full(batch, ids[0], dtype=np.int64)
            if ids.shape == (batch,):
                ids = np.repeat(ids[:, None], t_in, axis=1)
        if ids.shape != (batch, t_in):
            raise ExportError(f"language_ids must have shape ({batch},) or ({batch}, {t_in}), "
                              f"got {np.shape(language_ids)}")
        if ids.min() < 0 or ids.max() >= len(self.languages):
            raise ExportError(f"language_ids must lie in [0, {len(self.languages) - 1}], got min {ids.min()} "
                              f"max {ids.max()}")
        return ids

    def _encode(self, text: np.ndarray, lengths: np.ndarray, speakers: np.ndarray | None,
                languages: np.ndarray | None) -> list[np.ndarray]:
        """Run the encoder graph -> memory, processed memory, memory mask."""
        if not self.split_spans or languages is None:
            feed = {"text": text, "input_lengths": lengths}
            if speakers is not None:
                feed["speaker_ids"] = speakers
            if languages is not None:
                feed["language_ids"] = languages
            return self.encoder.run(None, feed)
        pieces, piece_lengths, items, piece_languages, valid, targets = _span_pieces(
            torch.from_numpy(text), torch.from_numpy(lengths), torch.from_numpy(languages))
        feed = {"text": pieces.numpy(), "input_lengths": piece_lengths.numpy(),
                "language_ids": piece_languages.numpy()}
        if speakers is not None:
            feed["speaker_ids"] = np.ascontiguousarray(speakers[items.numpy()])
        memory, processed_memory, _ = self.encoder.run(None, feed)
        batch, t_in = text.shape
        rows = [_scatter_rows(torch.from_numpy(out), valid, targets, batch, t_in).numpy()
                for out in (memory, processed_memory)]
        return [*rows, lengths_to_mask(torch.from_numpy(lengths), t_in).numpy()]

    def _prenet_masks(self, batch: int, p: float, generator: torch.Generator | None) -> np.ndarray:
        sizes = self.meta["prenet_sizes"]
        if p == 0.0:
            return np.ones((len(sizes), batch, sizes[0]), dtype=self.dtype)
        torch_dtype = torch.float16 if self.dtype == np.float16 else torch.float32
        masks = [torch.empty(batch, size, dtype=torch_dtype).bernoulli_(1.0 - p, generator=generator)
                 .div_(1.0 - p) for size in sizes]
        return torch.stack(masks).numpy().astype(self.dtype, copy=False)

    def infer(self, text_ids: Any, max_decoder_steps: int | None = None, gate_threshold: float | None = None,
              input_lengths: Any = None, prenet_dropout: float | None = None,
              generator: torch.Generator | None = None, early_stopping: bool | None = None,
              speaker_ids: Any = None, language_ids: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """text_ids (B, T_in) -> (mel_postnet (B, n_mel, T) float, mel_lengths (B,) int64,
        alignments (B, steps, T_in)). Defaults come from the exported model's settings. speaker_ids (B,)
        and language_ids (B,) or (B, T_in) where the exported model takes them."""
        meta = self.meta
        max_steps = int(meta["max_decoder_steps"] if max_decoder_steps is None else max_decoder_steps)
        threshold = float(meta["gate_threshold"] if gate_threshold is None else gate_threshold)
        p = float(meta["prenet_dropout"] if prenet_dropout is None else prenet_dropout)
        stop_early = bool(meta["early_stopping"] if early_stopping is None else early_stopping)
        if max_steps < 1:
            raise ExportError(f"max_decoder_steps must be >= 1, got {max_steps}")
        if not 0.0 <= p < 1.0:
            raise ExportError(f"prenet_dropout must be in [0, 1), got {p}")
        text = _as_numpy(text_ids, np.int64)
        if text.ndim != 2 or text.shape[1] == 0:
            raise ExportError(f"text_ids must have shape (batch, T_in) with T_in >= 1, got {text.shape}")
        batch, t_in = text.shape
        lengths = (np.full((batch,), t_in, dtype=np.int64) if input_lengths is None
                   else _as_numpy(input_lengths, np.int64))
        if lengths.shape != (batch,) or lengths.min() < 1 or lengths.max() > t_in:
            raise ExportError(f"input_lengths must be {batch} values in [1, {t_in}], got {lengths.tolist()}")
        speakers = self._speaker_ids(speaker_ids, batch)
        languages = self._language_ids(language_ids, batch, t_in)

        memory, processed_memory, memory_mask = self._encode(text, lengths, speakers, languages)
        n_mel, r = meta["n_mel_channels"], meta["n_frames_per_step"]
        dims = {"attention_hidden": meta["attention_rnn_dim"], "attention_cell": meta["attention_rnn_dim"],
                "decoder_hidden": meta["decoder_rnn_dim"], "decoder_cell": meta["decoder_rnn_dim"],
                "attention_weights": t_in, "attention_weights_cum": t_in,
                "attention_context": meta["memory_dim"]}
        state = {name: np.zeros((batch, dims[name]), dtype=self.dtype) for name in DECODER_STATE_NAMES}
        decoder_input = np.zeros((batch, n_mel), dtype=self.dtype)
        finished = np.zeros(batch, dtype=bool)
        stop_steps = np.full(batch, max_steps, dtype=np.int64)
        # exports made before the attention stop existed have no such setting: the gate alone ends items
        dwell_steps = attention_stop_steps(meta.get("attention_stop_frames", 0), r)
        dwell = np.zeros(batch, dtype=np.int64)
        frames, alignments = [], []
        for step in range(max_steps):
            feed = {"decoder_input": decoder_input,
                    "prenet_dropout_masks": self._prenet_masks(batch, p, generator), **state,
                    "memory": memory, "processed_memory": processed_memory, "memory_mask": memory_mask}
            out, gate, *new_state = self.decoder.run(None, feed)
            state = dict(zip(DECODER_STATE_NAMES, new_state))
            frames.append(out)
            alignments.append(state["attention_weights"])
            stop = 1.0 / (1.0 + np.exp(-gate[:, 0].astype(np.float64))) > threshold
            if dwell_steps > 0:
                dwell = np.where(state["attention_weights"].argmax(axis=1) >= lengths - 1, dwell + 1, 0)
                stop |= dwell >= dwell_steps
            stop_steps = np.where(stop & ~finished, step + 1, stop_steps)
            finished |= stop
            if stop_early and finished.all():
                break
            decoder_input = np.ascontiguousarray(out[:, -n_mel:])
        if not finished.all():
            warnings.warn(f"ONNX Tacotron 2 reached max_decoder_steps={max_steps} before the gate stopped "
                          f"batch item(s) {np.flatnonzero(~finished).tolist()}", stacklevel=2)
        mel = np.stack(frames, axis=1).reshape(batch, len(frames) * r, n_mel).transpose(0, 2, 1)
        mel_lengths = stop_steps * r
        (mel_postnet,) = self.postnet.run(None, {"mel": np.ascontiguousarray(mel),
                                                 "mel_lengths": mel_lengths})
        return mel_postnet, mel_lengths, np.stack(alignments, axis=1)


class OnnxWaveGlow:
    """WaveGlow synthesis from `waveglow.onnx`: `infer(mel, z)` -> audio (B, frames * 256)."""

    def __init__(self, path: str | Path, providers: Sequence[str] = ("CPUExecutionProvider",)) -> None:
        self.path = Path(path)
        self.session = _session(path, providers)
        self.meta = _metadata(self.session, path, ("n_mel_channels", "n_group", "hop_length"))
        self.dtype = _input_dtype(self.session, "mel")

    def infer(self, mel: Any, z: Any = None, sigma: float = 1.0,
              generator: torch.Generator | None = None) -> np.ndarray:
        """mel (B, n_mel, frames); z (B, n_group, frames * hop / n_group), or None to draw sigma * N(0, 1)."""
        mel = _as_numpy(mel, self.dtype)
        n_mel, n_group, hop = self.meta["n_mel_channels"], self.meta["n_group"], self.meta["hop_length"]
        if mel.ndim != 3 or mel.shape[1] != n_mel or mel.shape[2] == 0:
            raise ExportError(f"mel must have shape (batch, {n_mel}, frames >= 1), got {mel.shape}")
        shape = (mel.shape[0], n_group, mel.shape[2] * hop // n_group)
        if z is None:
            z = torch.randn(shape, generator=generator) * sigma
        z = _as_numpy(z, self.dtype)
        if z.shape != shape:
            raise ExportError(f"z must have shape {shape} for this mel, got {z.shape}")
        (audio,) = self.session.run(None, {"mel": mel, "z": z})
        return audio

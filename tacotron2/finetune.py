"""Tacotron 2's fine-tuning tables: which tensors hold symbols, speakers and languages, and the merges that
carry a single- or multi-speaker checkpoint into a conditioned model (`MultilingualTacotron2`).

The trainer's model-agnostic fine-tuning (common/training/finetune/) gets them through
`Tacotron2Recipe.finetune_rules` (tacotron2/recipe.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from common.text.symbols import SymbolTable
from common.training.finetune import CopyBlocks, CopyRows, Merge
from common.training.finetune import checkpoint_symbol_table as _checkpoint_symbol_table
from common.training.recipe import FineTuneRules

EMBEDDING_KEY = "embedding.weight"  # the symbol embedding

# Decoder tensors whose input is [..., encoder outputs, speaker vector, language vector] (the memory)
DECODER_MEMORY_INPUTS = (
    "decoder.attention_rnn.weight_ih",
    "decoder.attention_layer.memory_layer.linear_layer.weight",
    "decoder.decoder_rnn.weight_ih",
    "decoder.linear_projection.linear_layer.weight",
    "decoder.gate_layer.linear_layer.weight",
)
SPEAKER_ROWS = ("speaker_embedding.weight", "speaker_classifier.output.linear_layer.weight",
                "speaker_classifier.output.linear_layer.bias")
LANGUAGE_ROWS = ("language_embedding.weight", "encoder.language_embedding.weight")
SPEAKER_EMBEDDING_KEY = "speaker_embedding.weight"


def _name_pairs(model_names: Sequence[str], checkpoint_names: Sequence[str]) -> tuple[tuple[int, int], ...]:
    return tuple((i, list(checkpoint_names).index(n)) for i, n in enumerate(model_names)
                 if n in checkpoint_names)


def _embedding_dim(module: nn.Module | None) -> int:
    return int(module.embedding_dim) if isinstance(module, nn.Embedding) else 0


def conditioning_merges(model: nn.Module, checkpoint_config: Mapping[str, Any] | None,
                        ) -> tuple[dict[str, Merge], dict[str, str]]:
    """Merges and aliases that carry a (single- or multi-speaker) checkpoint into a conditioned model.

    Speaker and language rows (embeddings, the speaker classifier's output) are matched by name; the
    decoder inputs gain zero columns for speaker/language vectors the checkpoint lacked, so the converted
    model starts out computing what the checkpoint computed; the shared encoder's first layer gains zero
    input channels for a new language embedding; per-language encoders load the checkpoint's encoder of
    the same language, or the single encoder of a plain checkpoint.
    """
    cfg = checkpoint_config or {}
    speakers, languages = list(getattr(model, "speakers", [])), list(getattr(model, "languages", []))
    old_speakers, old_languages = list(cfg.get("speakers") or []), list(cfg.get("languages") or [])
    merges: dict[str, Merge] = {}
    for name in SPEAKER_ROWS:
        merges[name] = CopyRows(_name_pairs(speakers, old_speakers), "speakers")
    for name in LANGUAGE_ROWS:
        merges[name] = CopyRows(_name_pairs(languages, old_languages), "languages")

    s_new = _embedding_dim(getattr(model, "speaker_embedding", None))
    l_new = _embedding_dim(getattr(model, "language_embedding", None))
    s_old, l_old = int(cfg.get("speaker_embedding_dim") or 0), int(cfg.get("language_embedding_dim") or 0)
    if (s_new, l_new) != (s_old, l_old):
        blocks = CopyBlocks(1, (("rest", 0), ("speaker", s_new), ("language", l_new)),
                            (("rest", 0), ("speaker", s_old), ("language", l_old)))
        merges.update({name: blocks for name in DECODER_MEMORY_INPUTS})

    own = model.state_dict()
    old_type = cfg.get("encoder_type") or "shared"
    new_type = getattr(model, "encoder_type", "shared")
    encoder_languages = getattr(getattr(model, "encoder", None), "language_embedding", None)
    enc_l_new = _embedding_dim(encoder_languages) if new_type == "shared" else 0
    enc_l_old = l_old if old_type == "shared" else 0
    if enc_l_new != enc_l_old:
        first = "encoder.convolutions.0.0.conv.weight"
        inputs = [first] if first in own else ["encoder.lstm.weight_ih_l0",
                                               "encoder.lstm.weight_ih_l0_reverse"]
        blocks = CopyBlocks(1, (("rest", 0), ("language", enc_l_new)),
                            (("rest", 0), ("language", enc_l_old)))
        merges.update({name: blocks for name in inputs})

    aliases: dict[str, str] = {}
    if new_type == "separate":
        for name in own:
            if not name.startswith("encoder.encoders."):
                continue
            index, rest = name[len("encoder.encoders."):].split(".", 1)
            language = languages[int(index)] if int(index) < len(languages) else None
            if old_type == "separate" and language in old_languages:
                aliases[name] = f"encoder.encoders.{old_languages.index(language)}.{rest}"
            elif old_type == "shared" and enc_l_old == 0:
                aliases[name] = f"encoder.{rest}"
    return merges, aliases


def checkpoint_symbol_table(checkpoint: Mapping[str, Any], source: str = "checkpoint") -> SymbolTable:
    """The symbol table of a Tacotron 2 checkpoint (its config ``symbols``, else the 148 NGC symbols), checked
    against the rows of its symbol embedding."""
    return _checkpoint_symbol_table(checkpoint, source, EMBEDDING_KEY)


def finetune_rules() -> FineTuneRules:
    """Tacotron 2's answers to fine-tuning: the symbol and speaker embeddings and the conditioning merges."""
    return FineTuneRules(symbol_embedding=EMBEDDING_KEY, speaker_embedding=SPEAKER_EMBEDDING_KEY,
                         merges=_merges)


def _merges(model: nn.Module,
            checkpoint_config: Mapping[str, Any]) -> tuple[dict[str, Merge], dict[str, str]]:
    """The conditioning merges of a multi-speaker/multilingual model; none for the plain Tacotron 2."""
    if not hasattr(model, "speakers"):
        return {}, {}
    return conditioning_merges(model, checkpoint_config)

"""Objective evaluation: mel cepstral distortion with DTW (``mcd``), attention alignment scores (both in
common/metrics/, re-exported here) and intelligibility.

Definitions are in docs/EVALUATION.md; the command line is ``python -m common.evaluation {mcd,alignment}``.
"""

from common.metrics.alignment import (
    SCORE_NAMES,
    alignment_scores,
    attention_focus,
    batch_alignment_scores,
    coverage,
    load_alignment,
    monotonicity,
)
from common.metrics.dtw import accumulated_cost, dtw
from common.metrics.errors import EvaluationError
from common.metrics.mcd import (
    MCD_CONSTANT,
    CepstrumParams,
    FolderMCD,
    MCDResult,
    all_pass_alpha,
    mcd,
    mcd_files,
    mcd_folder,
    mel_cepstrum,
)

__all__ = [
    "MCD_CONSTANT",
    "SCORE_NAMES",
    "CepstrumParams",
    "EvaluationError",
    "FolderMCD",
    "MCDResult",
    "accumulated_cost",
    "alignment_scores",
    "all_pass_alpha",
    "attention_focus",
    "batch_alignment_scores",
    "coverage",
    "dtw",
    "load_alignment",
    "mcd",
    "mcd_files",
    "mcd_folder",
    "mel_cepstrum",
    "monotonicity",
]

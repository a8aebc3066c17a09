"""The one exception type of the evaluation package."""

from __future__ import annotations

__all__ = ["EvaluationError"]


class EvaluationError(ValueError):
    """Bad input to an evaluation metric: a file (named in the message), an array shape or a setting."""

"""Objective measures shared by training and evaluation: mel cepstral distortion with DTW (`mcd`), attention
alignment scores (`alignment`), and `EvaluationError`. The `python -m common.evaluation` pipeline reports
them for files; models use them for their validation metrics. Definitions are in docs/EVALUATION.md."""

"""Dataset adapters (LJSpeech, Common Voice, your own recordings) and dataset validation.

Each adapter writes the same output: ``OUT/filelists/{train,val,test}.txt`` (``path|text``),
``OUT/filelists/{train,val,test}_multi.txt`` (``path|text|speaker|language``), ``OUT/manifest.json`` and
``OUT/prepare_report.json``; the split is a seeded hash of each utterance id (see
:mod:`common.datasets.manifest`). CLI: ``python -m common.datasets SUBCOMMAND`` (see
:mod:`common.datasets.cli`).

Submodules are imported on first use, so ``--help`` and the CLI start without loading the text front end.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ConversionSettings",
    "DatasetError",
    "PrepareReport",
    "Utterance",
    "ValidationReport",
    "assign_split",
    "main",
    "prepare_common_voice",
    "prepare_custom",
    "prepare_ljspeech",
    "validate_filelists",
]

_WHERE = {
    "ConversionSettings": "common.datasets.convert",
    "DatasetError": "common.datasets.manifest",
    "PrepareReport": "common.datasets.manifest",
    "Utterance": "common.datasets.manifest",
    "assign_split": "common.datasets.manifest",
    "ValidationReport": "common.datasets.validate",
    "validate_filelists": "common.datasets.validate",
    "prepare_common_voice": "common.datasets.common_voice",
    "prepare_custom": "common.datasets.custom",
    "prepare_ljspeech": "common.datasets.ljspeech",
    "main": "common.datasets.cli",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'common.datasets' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

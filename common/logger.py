"""Run log in the DLLogger line format, echoed to stdout and optionally to TensorBoard.

Every file line is ``DLLL `` followed by one JSON object, so the NGC tooling and our own
``common.log_reader`` can parse it. Two kinds of record exist:

* ``LOG``: ``{"timestamp", "datetime", "elapsedtime", "type": "LOG", "step": STEP, "data": {...}}``
* ``METADATA``: ``{"timestamp", "datetime", "elapsedtime", "type": "METADATA", "metric": NAME,
  "metadata": {"unit": UNIT or null, "format": FMT (only when given)}}``

STEP is ``"PARAMETER"`` for run parameters, ``[epoch, iteration]`` per iteration, ``[epoch]`` per epoch and
``[]`` for the run summary. Non-finite floats are written as the strings ``"nan"``, ``"inf"`` and
``"-inf"`` (strict JSON has no NaN); ``read_nvlog`` turns them back into floats.

Only rank 0 writes anything, so every rank can call the logger unconditionally.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from tqdm import tqdm

__all__ = [
    "PREFIX",
    "LoggerError",
    "RunLogger",
    "flush",
    "get_logger",
    "init_logger",
    "log",
    "log_parameters",
    "metadata",
]

PREFIX = "DLLL "
PARAMETER = "PARAMETER"

Step = str | int | Sequence[int]


class LoggerError(ValueError):
    """Raised for values or steps the run log cannot represent, or a missing TensorBoard package."""


def _float_to_json(value: float) -> float | str:
    """Finite floats stay floats; NaN and infinities become readable strings."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def to_json_value(value: Any, name: str = "value", strict: bool = True) -> Any:
    """Convert ``value`` (python/numpy/torch scalars, arrays, lists, dicts) into plain JSON data.

    With ``strict`` an unsupported type raises ``LoggerError`` naming ``name``; otherwise it is
    written as ``str(value)`` (used for run parameters such as paths).
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _float_to_json(float(value))
    torch = sys.modules.get("torch")  # a tensor can only exist when torch was imported
    if torch is not None and isinstance(value, torch.Tensor):
        tensor = value.detach().cpu()
        if tensor.dim() == 0:
            return to_json_value(tensor.item(), name, strict)
        return to_json_value(tensor.tolist(), name, strict)
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(value, np.generic):
            return to_json_value(value.item(), name, strict)
        if isinstance(value, np.ndarray):
            return to_json_value(value.tolist(), name, strict)
    if isinstance(value, list | tuple):
        return [to_json_value(v, f"{name}[{i}]", strict) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v, f"{name}.{k}", strict) for k, v in value.items()}
    if strict:
        raise LoggerError(
            f"cannot log {name}={value!r}: type {type(value).__name__} is not a number, string, list, "
            "tensor or numpy value"
        )
    return str(value)


def normalize_step(step: Step) -> str | list[int]:
    """Return the JSON form of a step: strings as-is, an int as ``[int]``, a sequence as a list of ints."""
    if isinstance(step, str):
        return step
    if isinstance(step, bool):
        raise LoggerError(f"invalid log step {step!r}: expected 'PARAMETER', an int or a list of ints")
    converted = to_json_value(step, "step")
    if isinstance(converted, int):
        return [converted]
    if isinstance(converted, list) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in converted
    ):
        return converted
    raise LoggerError(f"invalid log step {step!r}: expected 'PARAMETER', an int or a list of ints")


def format_step(step: str | list[int]) -> str:
    """Human form of a step for stdout: ``epoch 3 iter 12``, ``epoch 3``, ``SUMMARY`` or ``PARAMETER``."""
    if isinstance(step, str):
        return step
    if len(step) == 0:
        return "SUMMARY"
    if len(step) == 1:
        return f"epoch {step[0]}"
    if len(step) == 2:
        return f"epoch {step[0]} iter {step[1]}"
    return "step " + " ".join(str(s) for s in step)


def format_value(value: Any, fmt: str | None = None) -> str:
    """Human form of one value; ``fmt`` is a format spec such as ``":.4f"`` (leading colon optional)."""
    if isinstance(value, str):
        return value
    if fmt:
        try:
            return format(value, fmt[1:] if fmt.startswith(":") else fmt)
        except (TypeError, ValueError):
            pass  # e.g. a float format applied to a list: fall back to the plain form below
    if isinstance(value, float):
        return format(value, ".6g")
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


class RunLogger:
    """Writes DLLogger-format lines to a file, a human form to stdout and scalars to TensorBoard.

    Ranks other than 0 are silent no-ops, so callers need no ``if rank == 0`` guards. The file is
    line-buffered and flushed after every record, so a crash loses nothing already logged.
    """

    def __init__(
        self,
        log_file: str | Path | None,
        rank: int = 0,
        stdout: bool = True,
        tensorboard_dir: str | Path | None = None,
        append: bool = True,
    ) -> None:
        self.rank = rank
        self.enabled = rank == 0
        self.log_file = Path(log_file) if log_file is not None else None
        self.stdout = stdout and self.enabled
        self.tensorboard_dir = Path(tensorboard_dir) if tensorboard_dir is not None else None
        self._start = time.time()
        self._formats: dict[str, str] = {}
        self._file: IO[str] | None = None
        self._writer: Any = None
        self._global_iteration = 0
        self._last_iteration_step: list[int] | None = None
        self._closed = False
        if not self.enabled:
            return
        if self.log_file is not None:
            try:
                self.log_file.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.log_file, "a" if append else "w", encoding="utf-8", buffering=1)
            except OSError as exc:
                raise LoggerError(f"cannot open run log {self.log_file}: {exc}") from exc
        if self.tensorboard_dir is not None:
            self._writer = self._open_tensorboard(self.tensorboard_dir)

    @staticmethod
    def _open_tensorboard(directory: Path) -> Any:
        try:
            # deferred: optional dependency (tensorboard, only with --tensorboard-dir)
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise LoggerError(
                f"TensorBoard logging to {directory} needs the 'tensorboard' package "
                f"(pip install tensorboard): {exc}"
            ) from exc
        directory.mkdir(parents=True, exist_ok=True)
        return SummaryWriter(log_dir=str(directory))

    # ------------------------------------------------------------------ records
    def _header(self) -> dict[str, Any]:
        now = time.time()
        return {
            "timestamp": str(now),
            "datetime": _dt.datetime.fromtimestamp(now).strftime("%Y-%m-%d %H:%M:%S.%f"),
            "elapsedtime": str(now - self._start),
        }

    def _write(self, record: dict[str, Any]) -> None:
        if self._closed:
            raise LoggerError(f"run log {self.log_file} is already closed")
        if self._file is not None:
            self._file.write(PREFIX + json.dumps(record, allow_nan=False) + "\n")
            self._file.flush()

    def metadata(self, metric: str, unit: str | None = None, format: str | None = None) -> None:
        """Declare a metric's unit and stdout format (e.g. ``":.4f"``); writes a METADATA line."""
        if not self.enabled:
            return
        if not isinstance(metric, str) or not metric:
            raise LoggerError(f"metric name must be a non-empty string, got {metric!r}")
        if format is not None and not isinstance(format, str):
            raise LoggerError(f"format of metric {metric!r} must be a string like ':.4f', got {format!r}")
        meta: dict[str, Any] = {"unit": unit}
        if format is not None:
            meta["format"] = format
            self._formats[metric] = format
        else:
            self._formats.pop(metric, None)
        self._write({**self._header(), "type": "METADATA", "metric": metric, "metadata": meta})

    def log(self, step: Step, data: Mapping[str, Any]) -> None:
        """Log ``data`` (metric name -> value) at ``step``; see the module docstring for step forms."""
        if not self.enabled:
            return
        if not isinstance(data, Mapping):
            raise LoggerError(f"log data must be a dict of metric name -> value, got {type(data).__name__}")
        self._emit(normalize_step(step), data, strict=True)

    def log_parameters(self, params: Mapping[str, Any]) -> None:
        """Log run parameters at step ``"PARAMETER"``; values JSON cannot hold are written with ``str()``."""
        if not self.enabled:
            return
        if not isinstance(params, Mapping):
            raise LoggerError(f"parameters must be a dict, got {type(params).__name__}")
        self._emit(PARAMETER, params, strict=False)

    def _emit(self, step: str | list[int], data: Mapping[str, Any], strict: bool) -> None:
        for key in data:
            if not isinstance(key, str):
                raise LoggerError(f"metric names must be strings, got {key!r}")
        clean = {key: to_json_value(value, key, strict) for key, value in data.items()}
        self._write({**self._header(), "type": "LOG", "step": step, "data": clean})
        if self.stdout:
            parts = [format_step(step)]
            parts += [f"{key} {format_value(value, self._formats.get(key))}" for key, value in clean.items()]
            # tqdm.write keeps an active progress bar intact below the line
            tqdm.write(" | ".join(parts), file=sys.stdout)
            sys.stdout.flush()
        if self._writer is not None:
            self._to_tensorboard(step, clean)

    def _to_tensorboard(self, step: str | list[int], data: dict[str, Any]) -> None:
        if step == PARAMETER:
            rows = "\n".join(f"| {key} | {format_value(value)} |" for key, value in data.items())
            self._writer.add_text("parameters", "| name | value |\n|---|---|\n" + rows)
            return
        if isinstance(step, str) or len(step) > 2:
            return
        if len(step) == 2:
            if step != self._last_iteration_step:
                self._global_iteration += 1
                self._last_iteration_step = list(step)
            prefix, global_step = "iteration", self._global_iteration
        elif len(step) == 1:
            prefix, global_step = "epoch", step[0]
        else:
            prefix, global_step = "summary", 0
        for key, value in data.items():
            if isinstance(value, str) and value in ("nan", "inf", "-inf"):
                value = float(value)
            if isinstance(value, int | float) and not isinstance(value, bool):
                self._writer.add_scalar(f"{prefix}/{key}", value, global_step)

    # ------------------------------------------------------------------ lifetime
    def flush(self) -> None:
        """Push buffered output to disk and TensorBoard."""
        if self._file is not None and not self._file.closed:
            self._file.flush()
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Flush and close the file and the TensorBoard writer; further logging raises ``LoggerError``."""
        if self._closed:
            return
        self.flush()
        if self._file is not None:
            self._file.close()
        if self._writer is not None:
            self._writer.close()
        self._closed = True

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_current: RunLogger | None = None


def init_logger(
    log_file: str | Path | None,
    rank: int = 0,
    stdout: bool = True,
    tensorboard_dir: str | Path | None = None,
    append: bool = True,
) -> RunLogger:
    """Create the process-wide logger (closing any previous one) and return it."""
    global _current
    if _current is not None:
        _current.close()
    _current = RunLogger(log_file, rank=rank, stdout=stdout, tensorboard_dir=tensorboard_dir, append=append)
    return _current


def get_logger() -> RunLogger:
    """The process-wide logger, or a silent no-op logger when ``init_logger`` has not been called."""
    if _current is None:
        return RunLogger(None, stdout=False)
    return _current


def log(step: Step, data: Mapping[str, Any]) -> None:
    """``get_logger().log(step, data)``."""
    get_logger().log(step, data)


def metadata(metric: str, unit: str | None = None, format: str | None = None) -> None:
    """``get_logger().metadata(metric, unit, format)``."""
    get_logger().metadata(metric, unit=unit, format=format)


def log_parameters(params: Mapping[str, Any]) -> None:
    """``get_logger().log_parameters(params)``."""
    get_logger().log_parameters(params)


def flush() -> None:
    """``get_logger().flush()``."""
    get_logger().flush()

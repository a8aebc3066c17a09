"""Read DLLogger-format run logs (``DLLL {json}`` lines) and plot their metrics.

Command line::

    python -m common.log_reader plot NVLOG -m train_loss val_loss -o loss.png [--title TEXT]
    python -m common.log_reader summary NVLOG
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "NvlogError",
    "main",
    "metadata",
    "metric_series",
    "parameters",
    "plot_metrics",
    "read_nvlog",
    "summary",
]

PREFIX = "DLLL "
PARAMETER = "PARAMETER"
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_KINDS = ("any", "iteration", "epoch", "summary")


class NvlogError(ValueError):
    """A run log that cannot be read, or a metric it does not contain."""


def _restore_non_finite(value: Any) -> Any:
    """Turn the strings "nan", "inf", "-inf" written by the logger back into floats (recursively)."""
    if isinstance(value, str):
        return _NON_FINITE.get(value, value)
    if isinstance(value, list):
        return [_restore_non_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _restore_non_finite(v) for k, v in value.items()}
    return value


def _check_record(record: Any, where: str) -> None:
    if not isinstance(record, dict):
        raise NvlogError(f"{where}: expected a JSON object after 'DLLL', got {type(record).__name__}")
    kind = record.get("type")
    if kind == "LOG":
        step = record.get("step")
        if not (isinstance(step, str) or (isinstance(step, list) and all(isinstance(s, int) for s in step))):
            raise NvlogError(f"{where}: LOG record has an invalid step {step!r}")
        if not isinstance(record.get("data"), dict):
            raise NvlogError(f"{where}: LOG record needs a 'data' object")
    elif kind == "METADATA":
        if not isinstance(record.get("metric"), str) or not isinstance(record.get("metadata"), dict):
            raise NvlogError(f"{where}: METADATA record needs 'metric' (string) and 'metadata' (object)")
    else:
        raise NvlogError(f"{where}: unknown record type {kind!r} (expected 'LOG' or 'METADATA')")


def read_nvlog(path: str | Path) -> list[dict]:
    """Parse every ``DLLL `` line of ``path`` in order; other lines (plain stdout) are skipped.

    A malformed line raises ``NvlogError`` naming ``file:line``. Non-finite values come back as floats.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise NvlogError(f"cannot read run log {path}: {exc}") from exc
    records: list[dict] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.startswith(PREFIX):
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line[len(PREFIX):])
        except json.JSONDecodeError as exc:
            raise NvlogError(f"{where}: malformed JSON in run log: {exc.msg} (column {exc.colno})") from exc
        _check_record(record, where)
        if record["type"] == "LOG":
            record["data"] = _restore_non_finite(record["data"])
        records.append(record)
    return records


def _merged_data(records: Sequence[dict], keep) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for record in records:
        if record.get("type") == "LOG" and keep(record["step"]):
            merged.update(record["data"])
    return merged


def parameters(records: Sequence[dict]) -> dict[str, Any]:
    """All values logged at step ``"PARAMETER"`` (later lines win)."""
    return _merged_data(records, lambda step: step == PARAMETER)


def summary(records: Sequence[dict]) -> dict[str, Any]:
    """All values logged at the summary step ``[]`` (later lines win)."""
    return _merged_data(records, lambda step: step == [])


def metadata(records: Sequence[dict]) -> dict[str, dict]:
    """Metric name -> its metadata (``unit``, optional ``format``); later lines win."""
    return {r["metric"]: dict(r["metadata"]) for r in records if r.get("type") == "METADATA"}


def _step_matches(step: Any, kind: str) -> bool:
    if not isinstance(step, list):
        return False
    if kind == "any":
        return True
    return len(step) == {"iteration": 2, "epoch": 1, "summary": 0}[kind]


def metric_series(records: Sequence[dict], metric: str, kind: str = "any") -> list[tuple[tuple, float]]:
    """``(step, value)`` pairs of ``metric`` in file order, steps as tuples.

    ``kind`` selects ``"iteration"`` (``(epoch, iter)`` steps), ``"epoch"`` (``(epoch,)``), ``"summary"``
    (``()``) or ``"any"`` list step; ``"PARAMETER"`` values are never included.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {', '.join(_KINDS)}; got {kind!r}")
    series: list[tuple[tuple, float]] = []
    for record in records:
        if record.get("type") != "LOG" or metric not in record["data"]:
            continue
        step = record["step"]
        if not _step_matches(step, kind):
            continue
        value = record["data"][metric]
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise NvlogError(f"metric {metric!r} at step {step} is not a number: {value!r}") from exc
        series.append((tuple(step), number))
    return series


def _iteration_positions(records: Sequence[dict]) -> dict[int, int]:
    """Map record index -> running iteration count (1-based) for every ``[epoch, iter]`` record."""
    positions: dict[int, int] = {}
    count, last = 0, None
    for index, record in enumerate(records):
        step = record.get("step")
        if record.get("type") == "LOG" and isinstance(step, list) and len(step) == 2:
            if step != last:
                count, last = count + 1, step
            positions[index] = count
    return positions


def _plot_points(records: Sequence[dict], metric: str) -> tuple[list[float], list[float], str]:
    """x, y and the x-axis name for ``metric``: per-iteration values if logged, else per-epoch values."""
    positions = _iteration_positions(records)
    xs: list[float] = []
    ys: list[float] = []
    for index, record in enumerate(records):
        if index in positions and metric in record["data"]:
            value = record["data"][metric]
            try:
                ys.append(float(value))
            except (TypeError, ValueError) as exc:
                step = record["step"]
                raise NvlogError(f"metric {metric!r} at step {step} is not a number: {value!r}") from exc
            xs.append(positions[index])
    if xs:
        return xs, ys, "iteration"
    for step, value in metric_series(records, metric, kind="epoch"):
        xs.append(step[0])
        ys.append(value)
    return xs, ys, "epoch"


def plot_metrics(
    nvlog_path: str | Path, metrics: Sequence[str], out_png: str | Path, title: str | None = None
) -> Path:
    """Plot each metric of a run log in its own subplot against running iteration (or epoch); save PNG."""
    # deferred: matplotlib is slow to import; only plotting needs it
    from matplotlib.figure import Figure  # headless: a bare Figure renders with Agg, no pyplot state

    # deferred: matplotlib is slow to import; only plotting needs it
    from matplotlib.ticker import MaxNLocator

    nvlog_path = Path(nvlog_path)
    out_png = Path(out_png)
    if not metrics:
        raise NvlogError("no metrics given to plot")
    records = read_nvlog(nvlog_path)
    units = metadata(records)
    curves = []
    for metric in metrics:
        xs, ys, axis = _plot_points(records, metric)
        if not xs:
            available = sorted(
                {k for r in records if r["type"] == "LOG" and isinstance(r["step"], list) for k in r["data"]}
            )
            raise NvlogError(
                f"{nvlog_path}: no per-iteration or per-epoch values of metric {metric!r}; "
                f"available: {', '.join(available) or 'none'}"
            )
        curves.append((metric, xs, ys, axis))

    fig = Figure(figsize=(8, 2.8 * len(curves)), layout="constrained")
    axes = fig.subplots(len(curves), 1, squeeze=False)[:, 0]
    for ax, (metric, xs, ys, axis) in zip(axes, curves):
        ax.plot(xs, ys, marker="o" if len(xs) < 50 else None, markersize=3)
        unit = units.get(metric, {}).get("unit")
        ax.set_ylabel(f"{metric} ({unit})" if unit else metric)
        ax.set_xlabel(axis)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
    fig.suptitle(title if title is not None else nvlog_path.name)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    return out_png


def _table(title: str, values: dict[str, Any], units: dict[str, dict]) -> str:
    lines = [title, "-" * len(title)]
    if not values:
        return "\n".join(lines + ["(none)"])
    width = max(len(key) for key in values)
    for key, value in values.items():
        shown = format(value, ".6g") if isinstance(value, float) else str(value)
        unit = units.get(key, {}).get("unit")
        lines.append(f"{key:<{width}}  {shown}{' ' + unit if unit else ''}")
    return "\n".join(lines)


def format_summary(records: Sequence[dict]) -> str:
    """Parameters and run summary as two readable name/value tables."""
    units = metadata(records)
    return _table("Parameters", parameters(records), {}) + "\n\n" + _table("Summary", summary(records), units)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m common.log_reader", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    plot = sub.add_parser("plot", help="plot metrics of a run log into a PNG")
    plot.add_argument("nvlog", type=Path)
    plot.add_argument("-m", "--metrics", nargs="+", required=True, help="metric names, one subplot each")
    plot.add_argument("-o", "--output", type=Path, required=True, help="PNG file to write")
    plot.add_argument("--title", default=None)
    show = sub.add_parser("summary", help="print parameters and run summary")
    show.add_argument("nvlog", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "plot":
            out = plot_metrics(args.nvlog, args.metrics, args.output, title=args.title)
            print(f"wrote {out}")
        else:
            print(format_summary(read_nvlog(args.nvlog)))
    except NvlogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

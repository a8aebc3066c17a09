"""Tests for the DLLogger-format run log (common.logger) and its reader/plotter (common.log_reader)."""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import common.logger as logger_module
from common.log_reader import (
    NvlogError,
    main,
    metadata,
    metric_series,
    parameters,
    plot_metrics,
    read_nvlog,
    summary,
)
from common.logger import LoggerError, RunLogger, get_logger, init_logger

LOG_KEYS = {"timestamp", "datetime", "elapsedtime", "type", "step", "data"}
META_KEYS = {"timestamp", "datetime", "elapsedtime", "type", "metric", "metadata"}


def _raw_records(path: Path) -> list[dict]:
    """Independent parse of the file: every line must carry the prefix and be strict JSON."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for line in lines:
        assert line.startswith("DLLL {"), line
        out.append(json.loads(line[5:], parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}")))
    return out


def _write_run(path: Path) -> None:
    with RunLogger(path, stdout=False) as log:
        log.metadata("train_loss", unit=None, format=":.4f")
        log.metadata("run_time", unit="s")
        log.log_parameters({"lr": 0.001, "model_name": "Tacotron2", "output": Path("out/dir")})
        log.log((0, 0), {"train_loss": 2.5, "train_items_per_sec": 100.0})
        log.log((0, 1), {"train_loss": 2.0, "train_items_per_sec": 150.0})
        log.log(0, {"train_loss": 2.25, "val_loss": 3.0})
        log.log((1, 0), {"train_loss": 1.5})
        log.log((1, 0), {"train_items_per_sec": 175.0})  # same iteration, second call
        log.log((1, 1), {"train_loss": 1.0})
        log.log([1], {"train_loss": 1.25, "val_loss": 2.0})
        log.log((), {"run_time": 12.5, "val_loss": 2.0})


def test_line_format_and_step_encodings(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "nvlog.json"  # parent folders are created
    before = time.time()
    with RunLogger(path, stdout=False) as log:
        log.log_parameters({"epochs": 3})
        log.log((1, 2), {"a": 1})
        log.log([1, 3], {"a": 2})
        log.log(4, {"a": 3})
        log.log((5,), {"a": 4})
        log.log((), {"a": 5})
    after = time.time()
    records = _raw_records(path)
    assert [r["step"] for r in records] == ["PARAMETER", [1, 2], [1, 3], [4], [5], []]
    assert [r["data"] for r in records] == [{"epochs": 3}, {"a": 1}, {"a": 2}, {"a": 3}, {"a": 4}, {"a": 5}]
    for record in records:
        assert set(record) == LOG_KEYS
        assert record["type"] == "LOG"
        assert isinstance(record["timestamp"], str) and isinstance(record["elapsedtime"], str)
        assert before <= float(record["timestamp"]) <= after
        assert 0.0 <= float(record["elapsedtime"]) <= after - before
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", record["datetime"])
    # key order matches the reference layout
    first_line = path.read_text().splitlines()[0]
    assert first_line.startswith('DLLL {"timestamp": "')
    assert list(json.loads(first_line[5:])) == [
        "timestamp", "datetime", "elapsedtime", "type", "step", "data"
    ]


def test_metadata_lines(tmp_path: Path) -> None:
    path = tmp_path / "nvlog.json"
    with RunLogger(path, stdout=False) as log:
        log.metadata("train_loss", format=":.4f")
        log.metadata("latency", unit="s")
    first, second = _raw_records(path)
    assert set(first) == META_KEYS and set(second) == META_KEYS
    assert first["type"] == "METADATA" and first["metric"] == "train_loss"
    assert first["metadata"] == {"unit": None, "format": ":.4f"}
    assert second["metadata"] == {"unit": "s"}  # "format" absent when not given
    assert '"unit": null' in path.read_text().splitlines()[0]


def test_values_from_tensors_and_numpy(tmp_path: Path) -> None:
    path = tmp_path / "nvlog.json"
    with RunLogger(path, stdout=False) as log:
        log.log(
            (0, 0),
            {
                "t0": torch.tensor(0.5),
                "t_int": torch.tensor(7, dtype=torch.int64),
                "t_vec": torch.tensor([1.0, 2.5], requires_grad=True),
                "np_f32": np.float32(0.25),
                "np_i64": np.int64(9),
                "np_bool": np.bool_(True),
                "np_arr": np.array([[1, 2], [3, 4]]),
                "text": "ok",
                "nested": [np.float64(1.5), (2, torch.tensor(3))],
            },
        )
        log.log_parameters({"path": Path("a/b"), "lr": np.float32(0.5), "none": None, "fn": len})
        with pytest.raises(LoggerError, match="bad_metric"):
            log.log((0, 1), {"bad_metric": object()})
        with pytest.raises(LoggerError, match="step"):
            log.log(1.5, {"a": 1})
    data, params = (r["data"] for r in _raw_records(path))
    assert data == {
        "t0": 0.5,
        "t_int": 7,
        "t_vec": [1.0, 2.5],
        "np_f32": 0.25,
        "np_i64": 9,
        "np_bool": True,
        "np_arr": [[1, 2], [3, 4]],
        "text": "ok",
        "nested": [1.5, [2, 3]],
    }
    assert type(data["t_int"]) is int and type(data["np_i64"]) is int and type(data["np_bool"]) is bool
    assert params == {"path": str(Path("a/b")), "lr": 0.5, "none": None, "fn": str(len)}


def test_rank_one_is_silent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sub" / "nvlog.json"
    log = RunLogger(path, rank=1, stdout=True, tensorboard_dir=tmp_path / "tb")
    log.metadata("x", unit="s")
    log.log_parameters({"a": 1})
    log.log((0, 0), {"x": 1.0})
    log.flush()
    log.close()
    assert not path.exists() and not path.parent.exists() and not (tmp_path / "tb").exists()
    assert capsys.readouterr().out == ""


def test_flushed_before_close_and_append_modes(tmp_path: Path) -> None:
    path = tmp_path / "nvlog.json"
    log = RunLogger(path, stdout=False)
    log.log((0, 0), {"x": 1})
    assert len(path.read_text().splitlines()) == 1  # already on disk, no close needed
    log.close()
    with pytest.raises(LoggerError, match="closed"):
        log.log((0, 1), {"x": 2})
    with RunLogger(path, stdout=False) as again:  # append (default) keeps the old line
        again.log((0, 1), {"x": 2})
    assert [r["data"]["x"] for r in read_nvlog(path)] == [1, 2]
    with RunLogger(path, stdout=False, append=False) as fresh:
        fresh.log((0, 0), {"x": 3})
    assert [r["data"]["x"] for r in read_nvlog(path)] == [3]


def test_round_trip_through_reader(tmp_path: Path) -> None:
    path = tmp_path / "nvlog.json"
    _write_run(path)
    records = read_nvlog(path)
    assert len(records) == 2 + 1 + 8
    assert parameters(records) == {"lr": 0.001, "model_name": "Tacotron2", "output": str(Path("out/dir"))}
    assert metadata(records) == {"train_loss": {"unit": None, "format": ":.4f"}, "run_time": {"unit": "s"}}
    assert summary(records) == {"run_time": 12.5, "val_loss": 2.0}
    assert metric_series(records, "train_loss", "iteration") == [
        ((0, 0), 2.5),
        ((0, 1), 2.0),
        ((1, 0), 1.5),
        ((1, 1), 1.0),
    ]
    assert metric_series(records, "train_loss", "epoch") == [((0,), 2.25), ((1,), 1.25)]
    assert metric_series(records, "val_loss", "summary") == [((), 2.0)]
    assert metric_series(records, "val_loss") == [((0,), 3.0), ((1,), 2.0), ((), 2.0)]
    assert metric_series(records, "train_items_per_sec", "iteration") == [
        ((0, 0), 100.0),
        ((0, 1), 150.0),
        ((1, 0), 175.0),
    ]
    assert metric_series(records, "lr") == []  # PARAMETER values are not a series
    assert metric_series(records, "missing") == []
    with pytest.raises(ValueError, match="kind"):
        metric_series(records, "train_loss", "epochs")


def test_nan_and_inf_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "nvlog.json"
    with RunLogger(path, stdout=False) as log:
        log.log((0, 0), {"loss": float("nan"), "up": math.inf, "down": torch.tensor(-math.inf), "ok": 1.0})
        log.log((0, 1), {"loss": np.float32("nan"), "vec": [1.0, float("nan")]})
    raw = _raw_records(path)  # strict JSON: no bare NaN/Infinity tokens
    assert raw[0]["data"] == {"loss": "nan", "up": "inf", "down": "-inf", "ok": 1.0}
    records = read_nvlog(path)
    first = records[0]["data"]
    assert math.isnan(first["loss"]) and first["up"] == math.inf and first["down"] == -math.inf
    assert math.isnan(records[1]["data"]["vec"][1]) and records[1]["data"]["vec"][0] == 1.0
    series = metric_series(records, "loss", "iteration")
    assert [s for s, _ in series] == [(0, 0), (0, 1)] and all(math.isnan(v) for _, v in series)


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    good = 'DLLL {"timestamp": "1", "elapsedtime": "0", "type": "LOG", "step": [1], "data": {}}'
    bad = 'DLLL {"type": "LOG", "step": [1'
    path.write_text("\n".join([good, "plain stdout noise is ignored", bad, good]))
    with pytest.raises(NvlogError, match=re.escape(f"{path}:3")):
        read_nvlog(path)
    path.write_text(good + "\n" + 'DLLL {"type": "WHAT"}\n')
    with pytest.raises(NvlogError, match=re.escape(f"{path}:2") + ".*WHAT"):
        read_nvlog(path)
    path.write_text(good + "\nnoise\n" + good + "\n")
    assert len(read_nvlog(path)) == 2
    with pytest.raises(NvlogError, match="missing.json"):
        read_nvlog(tmp_path / "missing.json")


def test_stdout_human_form(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with RunLogger(tmp_path / "nvlog.json") as log:
        log.metadata("train_loss", format=":.4f")
        log.metadata("run_time", unit="s", format=":.1f")
        log.log_parameters({"lr": 0.001, "model_name": "WaveGlow"})
        log.log((3, 12), {"train_loss": 0.45123, "train_items_per_sec": 1234.5})
        log.log(3, {"train_loss": torch.tensor(0.5), "val_loss": float("nan"), "n": 4})
        log.log((), {"run_time": 12.345})
    assert capsys.readouterr().out.splitlines() == [
        "PARAMETER | lr 0.001 | model_name WaveGlow",
        "epoch 3 iter 12 | train_loss 0.4512 | train_items_per_sec 1234.5",
        "epoch 3 | train_loss 0.5000 | val_loss nan | n 4",
        "SUMMARY | run_time 12.3",
    ]
    with RunLogger(tmp_path / "quiet.json", stdout=False) as quiet:
        quiet.log((0, 0), {"x": 1})
    assert capsys.readouterr().out == ""


def test_module_level_logger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logger_module, "_current", None)
    noop = get_logger()
    noop.log((0, 0), {"x": 1})  # silent and harmless
    logger_module.log((0, 0), {"x": 1})
    path = tmp_path / "global.json"
    created = init_logger(path, stdout=False)
    try:
        assert get_logger() is created
        logger_module.metadata("x", unit="ms")
        logger_module.log_parameters({"seed": 1})
        logger_module.log((0, 0), {"x": 2.0})
        logger_module.flush()
        records = read_nvlog(path)
        assert metadata(records) == {"x": {"unit": "ms"}}
        assert parameters(records) == {"seed": 1}
        assert metric_series(records, "x") == [((0, 0), 2.0)]
        second = init_logger(tmp_path / "second.json", stdout=False)
        assert created._closed and get_logger() is second  # the previous logger is closed
    finally:
        get_logger().close()


def test_plot_metrics_writes_png(tmp_path: Path) -> None:
    path = tmp_path / "nvlog.json"
    _write_run(path)
    out = plot_metrics(path, ["train_loss", "val_loss"], tmp_path / "plots" / "loss.png", title="losses")
    assert out == tmp_path / "plots" / "loss.png"
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    with pytest.raises(NvlogError, match="no_such_metric"):
        plot_metrics(path, ["no_such_metric"], tmp_path / "x.png")


def test_cli_summary_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nvlog.json"
    _write_run(path)
    assert main(["summary", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Parameters" in out and "Summary" in out
    assert re.search(r"^model_name\s+Tacotron2$", out, re.M)
    assert re.search(r"^run_time\s+12\.5 s$", out, re.M)
    png = tmp_path / "cli.png"
    assert main(["plot", str(path), "-m", "train_loss", "val_loss", "-o", str(png)]) == 0
    assert png.stat().st_size > 0
    assert main(["summary", str(tmp_path / "absent.json")]) == 2
    assert "absent.json" in capsys.readouterr().err


def test_tensorboard_event_file(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb_dir = tmp_path / "tb"
    _write_run_to = tmp_path / "nvlog.json"
    with RunLogger(_write_run_to, stdout=False, tensorboard_dir=tb_dir) as log:
        log.log_parameters({"lr": 0.1})
        log.log((0, 0), {"train_loss": 2.5})
        log.log((0, 0), {"train_items_per_sec": 10.0})  # same iteration: same global step
        log.log((0, 1), {"train_loss": 2.0})
        log.log((1, 0), {"train_loss": 1.5})
        log.log(1, {"val_loss": 3.0, "note": "text is skipped"})
        log.log(2, {"val_loss": float("nan")})
    events = list(tb_dir.glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0
    acc = EventAccumulator(str(tb_dir))
    acc.Reload()
    assert sorted(acc.Tags()["scalars"]) == [
        "epoch/val_loss",
        "iteration/train_items_per_sec",
        "iteration/train_loss",
    ]
    train = [(e.step, e.value) for e in acc.Scalars("iteration/train_loss")]
    assert train == [(1, 2.5), (2, 2.0), (3, 1.5)]
    assert [(e.step, e.value) for e in acc.Scalars("iteration/train_items_per_sec")] == [(1, 10.0)]
    val = acc.Scalars("epoch/val_loss")
    assert [e.step for e in val] == [1, 2] and val[0].value == 3.0 and math.isnan(val[1].value)

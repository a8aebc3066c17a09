"""The quickstart's building blocks (the full 15-minute run is a manual check: see the README)."""

import sys

import pytest

from common import quickstart
from common.logger import RunLogger


def test_failed_stage_stops_with_its_log_tail(tmp_path):
    cmd = [sys.executable, "-c", "import sys; print('about to fail'); sys.exit(3)"]
    with pytest.raises(SystemExit, match=r"(?s)stage 'demo' failed \(exit 3\).*about to fail"):
        quickstart.run_stage("demo", cmd, tmp_path / "demo.log")


def test_successful_stage_reports_its_time(tmp_path):
    seconds = quickstart.run_stage("ok", [sys.executable, "-c", "print('fine')"], tmp_path / "ok.log",
                                   budget_s=10)
    assert 0 < seconds < 10 and (tmp_path / "ok.log").read_text() == "fine\n"


def test_latest_reads_the_last_epoch_record(tmp_path):
    path = tmp_path / "nvlog.json"
    assert quickstart.latest(path) == {}
    log = RunLogger(path, stdout=False)
    log.log((0, 0), {"train_loss": 9.0})
    log.log((0,), {"train_loss": 5.0, "val_loss": 6.0})
    log.log((1,), {"learning_rate": 0.1})
    log.log((1,), {"train_loss": 4.0, "val_loss": 4.5})
    log.close()
    assert quickstart.latest(path) == {"epoch": 1, "train_loss": 4.0, "val_loss": 4.5}


def test_budget_too_small_is_refused(capsys):
    with pytest.raises(SystemExit):
        quickstart.parse_args(["--budget-min", "2"])
    assert "at least 4 minutes" in capsys.readouterr().err

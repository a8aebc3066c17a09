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


@pytest.mark.parametrize(("ours", "verdict"), [((0.6, 0.45), "not met"), ((0.9, 0.55), "met")])
def test_summary_reports_intelligibility_against_the_ceiling(tmp_path, ours, verdict):
    import json

    accuracy, wer = ours
    point = {"checkpoint": "checkpoint_Tacotron2_8.pt", "epoch": 8, "minutes": 6.5, "n": 20,
             "closed_set_accuracy": accuracy, "wer": wer, "per": 0.7}
    ceiling = {"n": 20, "closed_set_accuracy": 1.0, "wer": 0.4, "per": 0.6}
    path = tmp_path / "intelligibility_curve.json"
    path.write_text(json.dumps({"points": [point], "ceiling": ceiling}))
    (line,) = quickstart.intelligibility_lines(path)
    # closed-set 0.6 or 0.9 of 1.0; word accuracy (1 - 0.45) / 0.6 = 0.92 or 0.45 / 0.6 = 0.75
    assert f"closed-set {accuracy / 1.0:.2f}, word accuracy {(1 - wer) / 0.6:.2f}" in line
    assert f"target 0.70 on both: {verdict})" in line
    assert "after 6.5 min of training" in line and "cores" in line


def test_summary_without_intelligibility_says_so(tmp_path):
    assert "not measured" in quickstart.intelligibility_lines(tmp_path / "missing.json")[0]


@pytest.mark.parametrize(("vocoder", "folder", "named"), [("waveglow", "waveglow", "WaveGlow (small"),
                                                          ("hifigan", "hifigan", "HiFi-GAN (V2")])
def test_summary_names_the_trained_vocoder(tmp_path, vocoder, folder, named):
    args = quickstart.parse_args(["--vocoder", vocoder, "--output", str(tmp_path)])
    spec = quickstart.VOCODERS[vocoder]
    assert spec.folder == folder and spec.config.is_file() and spec.flag == f"--{vocoder}"
    for run in ("tacotron2", folder):
        log = RunLogger(tmp_path / run / "nvlog.json", stdout=False)
        log.log((2,), {"train_loss": 1.5, "val_loss": 2.5})
        log.close()
    (tmp_path / f"speech_{folder}").mkdir()
    text = quickstart.write_summary(tmp_path, tmp_path / "data", {"tacotron2": 60.0}, 60.0, args)
    assert f"- {named}" in text and "3 epochs; train loss 1.500, val loss 2.500" in text
    assert f"`speech_{folder}/`" in text and f"`{folder}/nvlog.json`" in text
    plain = quickstart.write_summary(tmp_path, tmp_path / "data", {}, 1.0, quickstart.parse_args([]))
    assert named not in plain and "speech_" + folder not in plain


def test_a_run_without_epoch_values_gets_a_note_not_a_crash(tmp_path, capsys):
    log = RunLogger(tmp_path / "nvlog.json", stdout=False)
    log.log((0, 3), {"loss_mel": 2.0})  # stopped by its budget inside the first epoch: no train/val loss
    log.close()
    assert not quickstart.plot_losses(tmp_path / "nvlog.json", ["train_loss", "val_loss"],
                                      tmp_path / "hifigan_loss.png", "HiFiGAN")
    assert "no hifigan_loss.png" in capsys.readouterr().err and not (tmp_path / "hifigan_loss.png").exists()

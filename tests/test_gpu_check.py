"""scripts/gpu_check.sh: a clean stop without CUDA, the report's bookkeeping, and (slow) every section's
CPU form at toy sizes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch

from common import gpu_check

ROOT = Path(__file__).resolve().parents[1]
needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")


@needs_no_cuda
def test_script_stops_cleanly_without_cuda(tmp_path):
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), str(tmp_path / "report")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "gpu_check: no CUDA device: nothing checked (--allow-cpu runs the parts that need no GPU)"]
    assert not (tmp_path / "report").exists()


def test_report_records_ok_skipped_failed_and_the_budget(tmp_path):
    args = gpu_check.build_parser().parse_args(["-o", str(tmp_path), "--allow-cpu", "--budget-min", "0.5"])
    check = gpu_check.GpuCheck(args)
    check.section("fine", lambda: {"items_per_sec": 12.5})
    check.section("absent", lambda: (_ for _ in ()).throw(gpu_check.Skip("needs CUDA")))
    check.section("broken", lambda: 1 / 0)
    check.start -= 60  # a minute later: past --budget-min 0.5
    check.section("late", lambda: {"never": 1})
    check.write_report()
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert [(s["section"], s["status"]) for s in report["sections"]] == [
        ("fine", "ok"), ("absent", "skipped"), ("broken", "failed"), ("late", "skipped")]
    assert report["sections"][2]["reason"] == "ZeroDivisionError: division by zero"
    assert report["sections"][3]["reason"] == "--budget-min 0.5 reached"
    table = (tmp_path / "gpu_check.md").read_text().splitlines()
    assert "| fine | ok |" in table[6] and table[6].endswith("| items_per_sec 12.5 |")


@pytest.mark.slow
@needs_no_cuda
def test_every_section_runs_or_skips_on_cpu(tmp_path):
    assert gpu_check.main(["-o", str(tmp_path), "--allow-cpu", "--quick"]) == 0
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    status = {s["section"]: s["status"] for s in report["sections"]}
    cuda_only = {"train Tacotron2 amp", "train Tacotron2 tf32", "train WaveGlow amp", "train WaveGlow tf32",
                 "latency fp16 batch 1", "latency fp16 batch 4"}
    assert {name for name, value in status.items() if value == "skipped"} <= cuda_only | {"export onnx fp16"}
    assert all(status[name] == "skipped" for name in cuda_only)
    assert len(status) == 17 and "failed" not in status.values()
    figures = {s["section"]: s.get("figures", {}) for s in report["sections"]}
    assert figures["train WaveGlow fp32"]["items_per_sec"] > 0
    assert figures["ddp nccl"] == {"backend": "gloo", "max_grad_diff": 0.0}
    assert figures["inference.py --fp16"]["wavs"] == 2

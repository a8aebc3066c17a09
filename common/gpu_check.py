"""One prepared pass over every CUDA path of the suite, with a report: `bash scripts/gpu_check.sh [OUT]`.

Sections (each timed; a failure is recorded and the next section still runs):

- training steps and throughput of each model in AMP (fp16 + GradScaler), TF32 and FP32
  (``common.benchmark_train``: forward, backward, clip, Adam on a synthetic batch);
- DDP over nccl: a DistributedDataParallel training step, with and without gradient synchronisation
  (one GPU gives a world of one; the all-reduce path is the same);
- fp16 and fp32 inference: the latency matrix (batch 1 and 4, 128 characters, WN 256) at a few repeats
  (``common.benchmark_infer``), and ``inference.py --fp16`` end to end;
- the fast implementations against the eager ones (Tacotron 2 training and inference, WaveGlow inference);
- fp16 exports: TorchScript and, when the onnx package is installed, ONNX.

Without CUDA, ``--allow-cpu --quick`` runs the sections that have a CPU form at toy sizes (inference.py and
the exports in fp32), so the test suite keeps the script's Python working; the rest report "skipped".

It writes ``OUT/gpu_check.md`` (a table to paste into docs/PERFORMANCE.md) and ``OUT/gpu_check.json``, and
exits 0 when every section passed or was skipped, 1 when one failed, 2 without a CUDA device (unless
``--allow-cpu``). Sized to finish in well under 8 minutes on one A100/H100; ``--budget-min`` skips what
would start later.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

import inference
from common.benchmarks import infer as benchmark_infer
from common.benchmarks import train as benchmark_train
from common.benchmarks.infer import TACOTRON2_CONFIGS, WAVEGLOW_CONFIGS
from common.export.cli import export_checkpoints
from common.models import get_model_spec
from multiproc import free_port
from tacotron2.model import Tacotron2
from waveglow.model import WaveGlow

ROOT = Path(__file__).resolve().parent.parent


class Skip(Exception):
    """A section that cannot run here (the reason is reported)."""


# model flags of benchmark_train for the toy sizes of --quick
QUICK_FLAGS = {
    "Tacotron2": ["--symbols-embedding-dim", "32", "--encoder-embedding-dim", "32",
                  "--encoder-n-convolutions", "1", "--attention-rnn-dim", "32", "--decoder-rnn-dim", "32",
                  "--prenet-dim", "16", "--attention-dim", "16", "--postnet-embedding-dim", "16",
                  "--postnet-n-convolutions", "2",
                  "--text-length", "20", "--mel-length", "30", "--batch-size", "2"],
    "WaveGlow": ["--flows", "2", "--early-every", "1", "--wn-layers", "2", "--wn-channels", "16",
                 "--segment-length", "2048", "--mel-length", "16", "--batch-size", "2"],
}
FULL_FLAGS = {"Tacotron2": ["--batch-size", "48"],  # the reference's FP32 batch
              "WaveGlow": ["--batch-size", "4", "--segment-length", "8000"]}


class GpuCheck:
    """Runs the sections in order and collects their results."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.cuda = torch.cuda.is_available()
        self.device = torch.device("cuda" if self.cuda else "cpu")
        self.out = Path(args.output)
        self.results: list[dict[str, Any]] = []
        self.start = time.perf_counter()

    def need_cuda(self, what: str) -> None:
        if not self.cuda:
            raise Skip(f"{what} needs CUDA")

    def section(self, name: str, fn: Callable[[], dict[str, Any]]) -> None:
        """Run one section, recording ok / skipped / failed, its seconds and its figures."""
        elapsed_min = (time.perf_counter() - self.start) / 60
        record: dict[str, Any] = {"section": name}
        begin = time.perf_counter()
        try:
            if elapsed_min > self.args.budget_min:
                raise Skip(f"--budget-min {self.args.budget_min} reached")
            record.update(status="ok", figures=fn())
        except Skip as why:
            record.update(status="skipped", reason=str(why))
        except Exception as err:  # a section's failure is the finding; the others still run
            last = traceback.format_exception_only(type(err), err)[-1].strip()
            record.update(status="failed", reason=last)
            traceback.print_exc(file=sys.stderr)
        record["seconds"] = round(time.perf_counter() - begin, 2)
        if self.cuda:
            torch.cuda.empty_cache()
        self.results.append(record)
        print(f"gpu_check: {name}: {record['status']} ({record['seconds']} s)"
              + (f": {record['reason']}" if "reason" in record else ""), flush=True)

    # ------------------------------------------------------------------ sections
    def train_throughput(self, model: str, precision: str) -> dict[str, Any]:
        if precision in ("amp", "tf32"):
            self.need_cuda(f"{precision} training" if precision == "tf32" else "fp16 autocast + GradScaler")
        flags = QUICK_FLAGS[model] if self.args.quick else FULL_FLAGS[model]
        argv = ["-m", model, "-o", str(self.out / "bench"), "--log-file", f"train_{model}_{precision}.json",
                "--warmup", "0" if self.args.quick else "2", "--repeats", "1" if self.args.quick else "5",
                *flags, *(["--amp"] if precision == "amp" else []), *([] if self.cuda else ["--cpu"])]
        args = benchmark_train.build_parser(model).parse_args(argv)
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"
        try:
            record = benchmark_train.run(args, get_model_spec(model))
        finally:
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        return {"items_per_sec": round(record["train_items_per_sec"], 1),
                "step_s": round(record["train_step_time_median"], 4), "batch": args.batch_size}

    def fast_vs_eager(self, model: str, mode: str) -> dict[str, Any]:
        full = {"Tacotron2": ["--batch-size", "1" if mode == "infer" else "48", "--text-length", "128",
                              "--mel-length", "200" if mode == "infer" else "600"],
                "WaveGlow": ["--batch-size", "1", "--wn-channels", "256", "--mel-length", "80"]}
        repeats = ["--warmup", "0" if self.args.quick else "1", "--repeats", "1" if self.args.quick else "3"]
        argv = ["-m", model, "--mode", mode, "--compare-impl", "-o", str(self.out / "bench"),
                "--log-file", f"impl_{model}_{mode}.json", *repeats,
                *(QUICK_FLAGS[model] if self.args.quick else full[model]),
                *([] if self.cuda else ["--cpu"])]
        record = benchmark_train.run(benchmark_train.build_parser(model).parse_args(argv),
                                     get_model_spec(model))
        return {"fast_over_eager": round(record["speedup_fast_over_eager"], 3),
                "fast_items_per_sec": round(record[f"fast_{mode}_items_per_sec"], 1)}

    def ddp(self) -> dict[str, Any]:
        backend = "nccl" if self.cuda else "gloo"
        if not self.cuda and not self.args.quick:
            raise Skip("nccl needs CUDA")

        dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1)
        try:
            torch.manual_seed(0)
            model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Tanh(), torch.nn.Linear(64, 1))
            model = model.to(self.device)
            ddp = DistributedDataParallel(model, device_ids=[0] if self.cuda else None)
            x = torch.randn(8, 64, device=self.device)
            with ddp.no_sync():  # an accumulation step: gradients stay local
                ddp(x[:4]).square().mean().backward()
            ddp(x[4:]).square().mean().backward()  # the group's last step all-reduces
            accumulated = [p.grad.clone() for p in model.parameters()]
            model.zero_grad()
            model(x[:4]).square().mean().backward()
            model(x[4:]).square().mean().backward()
            diff = max(float((a - p.grad).abs().max()) for a, p in zip(accumulated, model.parameters()))
            total = torch.ones(1, device=self.device)
            dist.all_reduce(total)
            if diff > 1e-5 or float(total) != 1.0:
                raise AssertionError(f"DDP gradients differ from the local ones by {diff}")
            return {"backend": backend, "max_grad_diff": diff}
        finally:
            dist.destroy_process_group()

    def latency(self, precision: str, batch: int) -> dict[str, Any]:
        if precision == "fp16":
            self.need_cuda("fp16 inference")
        quick = ["--tacotron2-config", "small", "--waveglow-config", "small", "--decoder-steps", "2",
                 "--iterations", "1", "--warmup", "0"]
        argv = ["--batch-size", str(batch), "--input-length", "128", "--precision", precision,
                "--iterations", "3", "--warmup", "1", "--wn-channels", "256",
                "-o", str(self.out / "bench"), "--log-file", f"latency_{precision}_bs{batch}.json",
                *(quick if self.args.quick else ["--decoder-steps", "602"]),
                *([] if self.cuda else ["--cpu"])]
        summary = benchmark_infer.run_benchmark(benchmark_infer.build_parser().parse_args(argv))
        return {"latency_mean_s": round(summary["latency_mean"], 4),
                "latency_p90_s": round(summary["latency_p90"], 4), "rtf": round(summary["rtf"], 3)}

    def checkpoints(self) -> tuple[Path, Path]:
        """Random-weight Tacotron 2 and WaveGlow (WN 256) checkpoints in the suite's layout."""
        folder = self.out / "checkpoints"
        folder.mkdir(parents=True, exist_ok=True)
        size = "small" if self.args.quick else "full"
        torch.manual_seed(0)
        t2_config = dict(TACOTRON2_CONFIGS[size])
        wg_config = dict(WAVEGLOW_CONFIGS[size]) or {
            "WN_config": {"n_layers": 8, "kernel_size": 3, "n_channels": 256}}
        paths = folder / "tacotron2.pt", folder / "waveglow.pt"
        for path, name, model, config in ((paths[0], "Tacotron2", Tacotron2(**t2_config), t2_config),
                                          (paths[1], "WaveGlow", WaveGlow(**wg_config), None)):
            torch.save({"model_name": name, "config": config if config is not None else model.config,
                        "state_dict": model.state_dict()}, path)
        return paths

    def inference_cli(self) -> dict[str, Any]:
        if not self.cuda and not self.args.quick:
            raise Skip("inference.py --fp16 needs CUDA")
        t2, wg = self.checkpoints()
        phrases = self.out / "phrases.txt"
        phrases.write_text("The quick brown fox.\nJumps over the lazy dog.\n", encoding="utf-8")
        status = inference.main(["-i", str(phrases), "-o", str(self.out / "speech_fp16"), "--tacotron2",
                                 str(t2), "--waveglow", str(wg), "--fp16" if self.cuda else "--cpu",
                                 "--max-decoder-steps", "40" if self.cuda else "3", "--include-warmup"])
        if status != 0:
            raise AssertionError(f"inference.py exited with {status}")
        return {"fp16": self.cuda, "wavs": len(list((self.out / "speech_fp16").glob("*.wav")))}

    def export(self, fmt: str) -> dict[str, Any]:
        if not self.cuda and not self.args.quick:
            raise Skip("fp16 exports need CUDA")
        if fmt == "onnx":
            try:
                # deferred: optional dependency (onnx): the check reports it missing
                import onnx  # noqa: F401
            except ImportError as err:
                raise Skip("the onnx package is not installed") from err
        t2, wg = self.checkpoints()
        written = export_checkpoints(fmt, self.out / f"export_{fmt}", t2, wg, fp16=self.cuda)
        return {"fp16": self.cuda, "files": len(written),
                "mb": round(sum(p.stat().st_size for p in written) / 1e6, 1)}

    # ------------------------------------------------------------------ run and report
    def run(self) -> int:
        for model in ("Tacotron2", "WaveGlow"):
            for precision in ("amp", "tf32", "fp32"):
                self.section(f"train {model} {precision}",
                             lambda m=model, p=precision: self.train_throughput(m, p))
        self.section("ddp nccl", self.ddp)
        for precision in ("fp16", "fp32"):
            for batch in (1, 4):
                self.section(f"latency {precision} batch {batch}",
                             lambda p=precision, b=batch: self.latency(p, b))
        self.section("inference.py --fp16", self.inference_cli)
        for model, mode in (("Tacotron2", "train"), ("Tacotron2", "infer"), ("WaveGlow", "infer")):
            self.section(f"fast vs eager {model} {mode}", lambda m=model, o=mode: self.fast_vs_eager(m, o))
        for fmt in ("torchscript", "onnx"):
            self.section(f"export {fmt} fp16", lambda f=fmt: self.export(f))
        self.write_report()
        return 1 if any(r["status"] == "failed" for r in self.results) else 0

    def device_name(self) -> str:
        return torch.cuda.get_device_name(0) if self.cuda else "CPU (no CUDA device)"

    def write_report(self) -> None:
        total = round(time.perf_counter() - self.start, 1)
        meta = {"device": self.device_name(), "torch": torch.__version__, "quick": self.args.quick,
                "cuda": torch.version.cuda, "total_seconds": total}
        (self.out / "gpu_check.json").write_text(json.dumps({**meta, "sections": self.results}, indent=1))
        lines = [f"# gpu_check on {meta['device']}", "",
                 f"torch {meta['torch']}, CUDA {meta['cuda']}, {total} s in all"
                 + (" (--quick: toy sizes)" if self.args.quick else ""), "",
                 "| section | status | seconds | figures |", "|---|---|---|---|"]
        for r in self.results:
            figures = ", ".join(f"{k} {v}" for k, v in r.get("figures", {}).items()) or r.get("reason", "")
            lines.append(f"| {r['section']} | {r['status']} | {r['seconds']} | {figures} |")
        (self.out / "gpu_check.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"gpu_check: report in {self.out / 'gpu_check.md'} ({total} s)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m common.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="gpu_check", help="report folder (default gpu_check/)")
    parser.add_argument("--quick", action="store_true", help="toy model sizes and repeat counts")
    parser.add_argument("--allow-cpu", action="store_true",
                        help="run without CUDA too (the CUDA-only sections are reported as skipped)")
    parser.add_argument("--budget-min", type=float, default=7.0,
                        help="sections that would start after this many minutes are skipped (default 7)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the check; returns 0 (all passed or skipped), 1 (a section failed) or 2 (no CUDA device)."""
    args = build_parser().parse_args(argv)
    if not torch.cuda.is_available() and not args.allow_cpu:
        print("gpu_check: no CUDA device: nothing checked (--allow-cpu runs the parts that need no GPU)",
              file=sys.stderr)
        return 2
    Path(args.output).mkdir(parents=True, exist_ok=True)
    return GpuCheck(args).run()


if __name__ == "__main__":
    sys.exit(main())

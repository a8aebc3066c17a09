"""CPU latency of VITS synthesis per ``--quality`` preset, PyTorch and ONNX (onnxruntime), in wall seconds
per second of audio (Piper publishes its ONNX figures in this unit).

``python -m common.benchmarks.vits --qualities x-low medium high --threads 1 2 --output results.json``

Weights are random (speed does not depend on them), weight norm is folded, noise is zero. An untrained
duration predictor gives unnatural durations, so ``length_scale`` is calibrated once per model to make
the test sentence last ``--audio-seconds`` (natural speaking rate), and the same ids and scales go to
both backends. Each measurement is the median of ``--repeats`` runs after one warm-up run.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from common.export.piper import export_piper_voice
from vits.model import SAMPLE_RATE, SynthesizerTrn, preset_keywords
from vits.text import default_phoneme_id_map, phonemes_to_ids

# "The quick brown fox jumps over the lazy dog, and then it runs back home." as espeak-ng en-us IPA
SENTENCE_IPA = "ðə kwˈɪk bɹˈaʊn fˈɑːks dʒˈʌmps ˌoʊvɚ ðə lˈeɪzi dˈɑːɡ, ænd ðˈɛn ɪt ɹˈʌnz bˈæk hˈoʊm."
PIPER_ONNX_5950X = {"x-low": 0.019, "medium": 0.030, "high": 0.082}  # Piper's 'low' figure for x-low


def _frames(model: SynthesizerTrn, ids: torch.Tensor, length_scale: float) -> int:
    with torch.inference_mode():
        out = model.infer(ids, torch.tensor([ids.size(1)]), noise_scale=0.0, noise_scale_w=0.0,
                          length_scale=length_scale)
    return int(out.y_mask.sum())


def calibrate_length_scale(model: SynthesizerTrn, ids: torch.Tensor, audio_seconds: float) -> float:
    """The length_scale that makes ``ids`` last about ``audio_seconds`` (frames grow about linearly with
    it: a few proportional corrections)."""
    target = audio_seconds * SAMPLE_RATE / model.hop_length
    scale = 1.0
    for _ in range(4):
        scale *= target / max(_frames(model, ids, scale), 1)
    return scale


def _infer_torch(model: SynthesizerTrn, ids: torch.Tensor, lengths: torch.Tensor,
                 length_scale: float) -> None:
    with torch.inference_mode():
        model.infer(ids, lengths, noise_scale=0.0, noise_scale_w=0.0, length_scale=length_scale)


def _median_wall(run, repeats: int) -> float:
    run()
    walls = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        walls.append(time.perf_counter() - start)
    return statistics.median(walls)


def benchmark(qualities: Sequence[str], threads: Sequence[int], repeats: int = 3,
              audio_seconds: float = 5.0) -> list[dict]:
    """One row per (quality, backend, threads): wall s per audio s and the audio length."""
    # deferred: onnxruntime, optional
    import onnxruntime as ort


    torch.manual_seed(0)
    ids = torch.tensor([phonemes_to_ids(SENTENCE_IPA, default_phoneme_id_map())])
    rows = []
    for quality in qualities:
        model = SynthesizerTrn(**preset_keywords(quality)).eval()
        length_scale = calibrate_length_scale(model, ids, audio_seconds)
        model.remove_weight_norm()
        lengths = torch.tensor([ids.size(1)])
        with torch.inference_mode():
            samples = model.infer(ids, lengths, noise_scale=0.0, noise_scale_w=0.0,
                                  length_scale=length_scale).audio.shape[-1]
        seconds = samples / SAMPLE_RATE
        with tempfile.TemporaryDirectory() as tmp:
            onnx_path, _ = export_piper_voice(model, tmp, "bench", default_phoneme_id_map())
            feeds = {"input": ids.numpy(), "input_lengths": lengths.numpy(),
                     "scales": torch.tensor([0.0, length_scale, 0.0]).numpy()}
            for n in threads:
                torch.set_num_threads(n)

                options = ort.SessionOptions()
                options.intra_op_num_threads = n
                options.inter_op_num_threads = 1
                session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
                onnx_samples = session.run(None, feeds)[0].shape[-1]
                if onnx_samples != samples:
                    raise RuntimeError(f"{quality}: ONNX gave {onnx_samples} samples, PyTorch {samples}")
                run_torch = functools.partial(_infer_torch, model, ids, lengths, length_scale)
                run_onnx = functools.partial(session.run, None, feeds)
                for backend, run in (("pytorch", run_torch), ("onnx", run_onnx)):
                    wall = _median_wall(run, repeats)
                    rows.append({"quality": quality, "backend": backend, "threads": n,
                                 "audio_s": round(seconds, 3), "wall_s": round(wall, 4),
                                 "wall_per_audio_s": round(wall / seconds, 4),
                                 "piper_onnx_5950x": PIPER_ONNX_5950X.get(quality)})
                    print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.benchmarks.vits",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--qualities", nargs="+", default=["x-low", "medium", "high"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--audio-seconds", type=float, default=5.0)
    parser.add_argument("--output", type=Path, default=None, help="write the rows and the machine as JSON")
    args = parser.parse_args(argv)
    rows = benchmark(args.qualities, args.threads, args.repeats, args.audio_seconds)
    if args.output is not None:
        load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
        args.output.write_text(json.dumps({"machine": platform.processor() or platform.machine(),
                                           "torch": torch.__version__, "load_average": load, "rows": rows},
                                          indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

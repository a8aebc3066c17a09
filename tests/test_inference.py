"""inference.py and common/synthesis/: checkpoints of both layouts, batching, splitting, errors, run log.

Tiny random-weight models keep every run well under a second. The gate bias is forced to -100 (never stop:
every item is exactly max_decoder_steps * r frames) or +100 (stop after the first step), so lengths are
known in advance.
"""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import inference
from common.checkpoint import CheckpointError
from common.log_reader import read_nvlog, summary
from common.synthesis import (
    MEL_SILENCE,
    Phrase,
    StageTimes,
    SynthesisError,
    Synthesizer,
    detect_tacotron2_config,
    detect_waveglow_config,
    join_audio,
    load_tacotron2,
    load_waveglow,
    plot_alignment,
    read_phrases,
    split_sentences,
)
from common.text import text_to_sequence
from tacotron2.model import MaxDecoderStepsWarning, Tacotron2
from waveglow.model import WaveGlow, remove_weightnorm

LAYOUT = Path("/work/shared/reference/ngc_checkpoint_layout.json")
HOP = 256
SR = 22050
T2 = dict(n_mel_channels=8, symbols_embedding_dim=16, encoder_kernel_size=3, encoder_n_convolutions=1,
          encoder_embedding_dim=16, attention_rnn_dim=16, attention_dim=8, attention_location_n_filters=4,
          attention_location_kernel_size=3, decoder_rnn_dim=16, prenet_dim=8, max_decoder_steps=50,
          postnet_embedding_dim=16, postnet_kernel_size=3, postnet_n_convolutions=2)
WG = dict(n_mel_channels=8, n_flows=4, n_group=8, n_early_every=2, n_early_size=2,
          WN_config={"n_layers": 2, "kernel_size": 3, "n_channels": 8})


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_tacotron2(gate_bias: float | None = None, **overrides) -> Tacotron2:
    torch.manual_seed(0)
    model = Tacotron2(**{**T2, **overrides})
    if gate_bias is not None:
        with torch.no_grad():
            model.decoder.gate_layer.linear_layer.bias.fill_(gate_bias)
    return model.eval()


def tiny_waveglow(n_channels: int = 8) -> WaveGlow:
    """Weight-norm WaveGlow whose zero-initialised end layers are randomised (couplings do something)."""
    torch.manual_seed(1)
    model = WaveGlow(**{**WG, "WN_config": {**WG["WN_config"], "n_channels": n_channels}})
    with torch.no_grad():
        for wn in model.WN:
            wn.end.weight.normal_(0.0, 0.1)
            wn.end.bias.normal_(0.0, 0.1)
    return model


def ours(model: torch.nn.Module, name: str, config: dict) -> dict:
    """Our layout, as saved under DDP (module. prefixes)."""
    return {"model_name": name, "epoch": 3, "config": config,
            "state_dict": {"module." + k: v for k, v in model.state_dict().items()}}


def ngc(model: torch.nn.Module, config: dict | None) -> dict:
    """The published layout: state_dict with module. prefixes, and a config only when given."""
    out = {"state_dict": {"module." + k: v for k, v in model.state_dict().items()}}
    if config is not None:
        out["config"] = config
    return out


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("checkpoints")
    paths = {
        "never_stops": folder / "t2_never_stops.pt",
        "stops_at_once": folder / "t2_stops.pt",
        "waveglow": folder / "wg_ngc.pt",
    }
    torch.save(ours(tiny_tacotron2(gate_bias=-100.0), "Tacotron2", T2), paths["never_stops"])
    torch.save(ngc(tiny_tacotron2(gate_bias=100.0), T2), paths["stops_at_once"])
    torch.save(ngc(tiny_waveglow(), None), paths["waveglow"])
    return paths


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = inference.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def read_wav(path: Path) -> np.ndarray:
    data, rate = sf.read(str(path), dtype="int16")
    assert rate == SR
    assert sf.info(str(path)).subtype == "PCM_16"
    return data


# ------------------------------------------------------------------------------------------ end to end

def test_cli_waveglow_writes_wavs_plots_and_log(tmp_path, capsys, ckpt):
    text = write(tmp_path / "in.txt", "Hello world.\n\n   \nSecond line, a bit longer!\n")
    out = tmp_path / "out"
    steps = 7
    rc, stdout, stderr = run_cli(capsys, "-i", text, "-o", out, "--tacotron2", ckpt["never_stops"],
                                 "--waveglow", ckpt["waveglow"], "--cpu", "--decoder-no-early-stopping",
                                 "--max-decoder-steps", steps, "--seed", 0, "--wn-channels", 256)
    assert rc == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "alignment_0.png", "alignment_1.png", "audio_0.wav", "audio_1.wav", "nvlog.json"]
    for i in range(2):
        audio = read_wav(out / f"audio_{i}.wav").astype(np.float64)
        assert len(audio) == steps * HOP  # 7 frames (r = 1) * 256 samples
        assert np.abs(audio).max() >= 32767  # normalised to peak 1
        assert np.sqrt(np.mean(audio**2)) > 0.05 * 32767  # not silent
        assert (out / f"alignment_{i}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # blank lines 2 and 3 skipped with a warning; both phrases hit max_decoder_steps (gate never fires)
    assert "blank lines 2, 3 skipped" in stderr
    assert "lines 1, 4: reached max_decoder_steps=7" in stderr
    assert "--wn-channels 256 ignored: the WaveGlow checkpoint has 8" in stderr
    assert "RTF = audio seconds / wall seconds; > 1 is faster than real time" in stdout

    records = read_nvlog(out / "nvlog.json")
    s = summary(records)
    samples = 2 * steps * HOP
    assert s["mel_frames"] == 2 * steps and s["audio_samples"] == samples
    assert s["audio_seconds"] == pytest.approx(samples / SR)
    assert s["tacotron2_items_per_sec"] == pytest.approx(2 * steps / s["tacotron2_latency"])
    assert s["waveglow_items_per_sec"] == pytest.approx(samples / s["waveglow_latency"])
    assert s["denoiser_latency"] > 0
    assert s["latency"] >= s["tacotron2_latency"] + s["waveglow_latency"] + s["denoiser_latency"]
    assert s["rtf"] == pytest.approx(s["audio_seconds"] / s["latency"])
    assert s["rtf_wall_per_audio"] == pytest.approx(s["latency"] / s["audio_seconds"])
    assert s["max_decoder_steps_hit"] == [1, 4]
    params = next(r["data"] for r in records if r.get("step") == "PARAMETER")
    assert params["max_decoder_steps"] == steps and params["sigma_infer"] == 0.9


def test_cli_griffin_lim_batches_and_suffix(tmp_path, capsys, ckpt):
    lines = ["First phrase.", "A second, longer phrase of text.", "Three."]
    text = write(tmp_path / "in.txt", "\n".join(lines) + "\n")
    out = tmp_path / "gl"
    rc, _, stderr = run_cli(capsys, "-i", text, "-o", out, "--tacotron2", ckpt["never_stops"], "--cpu",
                            "--max-decoder-steps", 5, "--batch-size", 2, "--griffin-lim-iters", 2,
                            "--suffix", "_gl")
    assert rc == 0, stderr
    for i in range(3):
        audio = read_wav(out / f"audio_{i}_gl.wav").astype(np.float64)
        assert len(audio) == 5 * HOP and np.abs(audio).max() >= 32767  # normalised, not silent
        assert (out / f"alignment_{i}_gl.png").is_file()
    s = summary(read_nvlog(out / "nvlog.json"))
    assert "waveglow_latency" not in s and s["griffin_lim_latency"] > 0
    assert s["griffin_lim_items_per_sec"] == pytest.approx(3 * 5 * HOP / s["griffin_lim_latency"])
    assert s["num_phrases"] == 3


def test_cli_long_line_is_split_and_joined(tmp_path, capsys, ckpt):
    first, second = "The first sentence is here.", "And a second one follows!"
    text = write(tmp_path / "in.txt", f"{first} {second}\n")
    out = tmp_path / "split"
    steps, pause = 4, 0.1
    rc, stdout, stderr = run_cli(capsys, "-i", text, "-o", out, "--tacotron2", ckpt["never_stops"],
                                 "--waveglow", ckpt["waveglow"], "--cpu", "--max-decoder-steps", steps,
                                 "--max-chars-per-chunk", 30, "--chunk-pause", pause)
    assert rc == 0, stderr
    audio = read_wav(out / "audio_0.wav")
    gap = int(round(pause * SR))
    assert len(audio) == 2 * steps * HOP + gap
    assert not audio[steps * HOP: steps * HOP + gap].any()  # the pause is silent
    assert "2 chunks" in stdout


# ------------------------------------------------------------------------------- synthesis (library API)

@pytest.mark.parametrize("flag, expected_passes",
                         [([], 1), (["--include-warmup"], 1 + inference.WARMUP_PASSES)])
def test_include_warmup_runs_untimed_passes_first_as_the_reference(tmp_path, capsys, ckpt, monkeypatch,
                                                                    flag, expected_passes):
    calls = []
    synthesize = inference.Synthesizer.synthesize

    def counting(self, phrases, batch_size=None):
        calls.append(len(phrases))
        return synthesize(self, phrases, batch_size)

    monkeypatch.setattr(inference.Synthesizer, "synthesize", counting)
    text = write(tmp_path / "in.txt", "One.\nTwo.\n")
    rc, _, stderr = run_cli(capsys, "-i", text, "-o", tmp_path / "out", "--tacotron2", ckpt["never_stops"],
                            "--cpu", "--max-decoder-steps", 2, "--griffin-lim-iters", 1, "--batch-size", 1,
                            *flag)
    assert rc == 0, stderr
    # warm-up passes take the first batch (one phrase); the timed pass takes both lines
    assert calls == [1] * (expected_passes - 1) + [2]


def test_batching_restores_input_order_and_matches_single_items():
    model = tiny_tacotron2(max_decoder_steps=6)  # random gate: lengths differ between items
    model.decoder.prenet.p_dropout = 0.0  # deterministic, so batched and single results must agree
    synth = Synthesizer(model, None, griffin_lim_iters=0)
    phrases = ["Hi.", "A somewhat longer phrase, with a comma.", "Mid length one.", "Okay then"]
    results = {bs: synth.synthesize(phrases, batch_size=bs) for bs in (None, 1, 3)}
    for bs, result in results.items():
        assert [u.phrase.text for u in result.utterances] == phrases
        for u, text in zip(result.utterances, phrases, strict=True):
            assert u.alignment.shape[1] == len(text_to_sequence(text, ["english_cleaners"]))
            assert u.audio.numel() == u.mel.shape[1] * HOP
        for u, ref in zip(result.utterances, results[1].utterances, strict=True):
            assert u.mel.shape == ref.mel.shape, bs
            assert torch.allclose(u.mel, ref.mel, atol=1e-4), bs
            assert torch.allclose(u.alignment, ref.alignment, atol=1e-5), bs


def test_lengths_follow_the_gate_and_reduction_factor(ckpt):
    stops = Synthesizer(load_tacotron2(ckpt["stops_at_once"]), None, griffin_lim_iters=1)
    result = stops.synthesize(["One.", "Two words."])
    assert [u.audio.numel() for u in result.utterances] == [HOP, HOP] and result.unfinished == []

    r2 = tiny_tacotron2(gate_bias=-100.0, n_frames_per_step=2, max_decoder_steps=3)
    with pytest.warns(MaxDecoderStepsWarning, match=r"text lines 1, 2: reached max_decoder_steps=3"):
        result = Synthesizer(r2, None, griffin_lim_iters=1).synthesize(["One.", "Two words."])
    assert [u.mel.shape[1] for u in result.utterances] == [6, 6]  # 3 steps * r = 2
    assert [u.alignment.shape[0] for u in result.utterances] == [3, 3]
    assert [p.line for p in result.unfinished] == [1, 2]
    # trim_to_gate=False (fixed-length benchmarks) keeps the full decoded length and reports nothing
    fixed = Synthesizer(load_tacotron2(ckpt["stops_at_once"], overrides={
        "decoder_no_early_stopping": True, "max_decoder_steps": 4}), None, griffin_lim_iters=1,
        trim_to_gate=False)
    assert [u.audio.numel() for u in fixed.synthesize(["One.", "Two."]).utterances] == [4 * HOP] * 2


def test_batched_vocoder_pads_with_silence(monkeypatch):
    """On GPU WaveGlow runs on padded batches: frames past each item's end must be silent, not 0 (loud)."""
    synth = Synthesizer(tiny_tacotron2(), tiny_waveglow(), denoising_strength=0.0, batch_vocoder=True)
    seen = {}

    def fake_infer(mel, sigma):
        seen["mel"], seen["sigma"] = mel.clone(), sigma
        return torch.zeros(mel.size(0), mel.size(2) * HOP)

    monkeypatch.setattr(synth.waveglow, "infer", fake_infer)
    mel = torch.randn(2, 8, 5)
    synth._waveglow(mel, torch.tensor([5, 2]), StageTimes())
    assert torch.equal(seen["mel"][0], mel[0]) and torch.equal(seen["mel"][1, :, :2], mel[1, :, :2])
    assert (seen["mel"][1, :, 2:] == MEL_SILENCE).all() and MEL_SILENCE == pytest.approx(math.log(1e-5))
    assert seen["sigma"] == 0.9
    assert Synthesizer(tiny_tacotron2(), None).batch_vocoder is False  # CPU default: item by item


def test_split_sentences_hand_cases():
    assert split_sentences("  Short   text. ", 20) == ["Short text."]
    assert split_sentences("One two. Three four! Five six? Seven; eight", 12) == [
        "One two.", "Three four!", "Five six?", "Seven;", "eight"]
    assert split_sentences("alpha, beta, gamma, delta epsilon.", 14) == [
        "alpha, beta,", "gamma,", "delta epsilon."]
    assert split_sentences("aaaa bbbb cccc dddd", 9) == ["aaaa bbbb", "cccc dddd"]
    assert split_sentences("say {HH AH0 L OW1} now please", 16) == ["say", "{HH AH0 L OW1}", "now please"]
    assert split_sentences("abcdefghij", 4) == ["abcd", "efgh", "ij"]
    assert split_sentences("   ", 10) == []
    paragraph = ("It was late, and the road was long; nobody spoke. The rain kept falling, steadily, on "
                 "the roof of the old car! Would they arrive before dawn? Perhaps, perhaps not.")
    for limit in (10, 25, 60):
        chunks = split_sentences(paragraph, limit)
        assert all(len(c) <= limit for c in chunks)
        assert " ".join(chunks) == paragraph  # nothing lost, nothing reordered
    with pytest.raises(ValueError, match="max_chars"):
        split_sentences("x", 0)


def test_join_audio_inserts_silence():
    a, b = torch.ones(3), torch.full((5,), 2.0)
    joined = join_audio([a, b], sampling_rate=100, pause_seconds=0.1)
    assert joined.tolist() == [1.0] * 3 + [0.0] * 10 + [2.0] * 5
    assert join_audio([a], 100).tolist() == [1.0] * 3


def test_read_phrases_and_symbol_errors():
    phrases, blank = read_phrases(["Hello", "", "  ", " World "], "in.txt")
    assert phrases == [Phrase("Hello", 1, "in.txt"), Phrase("World", 4, "in.txt")] and blank == [2, 3]
    synth = Synthesizer(tiny_tacotron2(), None, griffin_lim_iters=0)
    with pytest.raises(SynthesisError, match=r"in.txt line 4: '#\*~' has no symbol the model knows"):
        synth.synthesize([Phrase("Fine.", 1, "in.txt"), Phrase("#*~", 4, "in.txt")])


def test_plot_alignment_writes_png(tmp_path):
    path = plot_alignment(torch.rand(12, 5), tmp_path / "sub" / "a.png", "title")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    height, width = matplotlib.image.imread(str(path)).shape[:2]
    assert (width, height) == (800, 450)
    with pytest.raises(ValueError, match="2-D"):
        plot_alignment(torch.rand(3), tmp_path / "b.png")


# ------------------------------------------------------------------------------------------ checkpoints

def test_ngc_layout_loads_and_matches_the_original_models(tmp_path):
    original = tiny_tacotron2()
    ids, lengths = torch.tensor([[20, 30, 40, 11, 50]]), torch.tensor([5])
    torch.manual_seed(5)
    want = original.infer(ids, lengths)
    for name, config in (("with_config", T2), ("no_config", None)):
        path = tmp_path / f"t2_{name}.pt"
        torch.save(ngc(original, config), path)
        loaded = load_tacotron2(path, overrides={"max_decoder_steps": T2["max_decoder_steps"]})
        torch.manual_seed(5)
        got = loaded.infer(ids, lengths)
        for g, w in zip(got, want, strict=True):
            assert torch.equal(g, w), name

    mel = torch.randn(1, 8, 6, generator=torch.Generator().manual_seed(2))
    for channels in (8, 16):  # the 256-vs-512 question on a small config
        model = tiny_waveglow(channels)
        reference = remove_weightnorm(copy.deepcopy(model)).eval()
        path = tmp_path / f"wg_{channels}.pt"
        torch.save(ngc(model, None), path)
        loaded = load_waveglow(path)
        assert loaded.wn_config == {"n_layers": 2, "kernel_size": 3, "n_channels": channels}
        assert not any(k.endswith("weight_v") for k in loaded.state_dict())  # weight norm removed
        assert not loaded.training
        torch.manual_seed(3)
        want_audio = reference.infer(mel, sigma=0.9)
        torch.manual_seed(3)
        assert torch.allclose(loaded.infer(mel, sigma=0.9), want_audio, atol=1e-6)
        # a checkpoint whose weight norm was already folded loads too
        folded = tmp_path / f"wg_{channels}_folded.pt"
        torch.save({"state_dict": reference.state_dict()}, folded)
        loaded = load_waveglow(folded)  # building a model draws random numbers: seed afterwards
        torch.manual_seed(3)
        assert torch.allclose(loaded.infer(mel, sigma=0.9), want_audio, atol=1e-6)


@pytest.mark.skipif(not LAYOUT.is_file(), reason="reference checkpoint layout not available")
def test_config_detection_on_the_published_layouts():
    layout = json.loads(LAYOUT.read_text())

    def meta(shapes: dict) -> dict:
        return {k: torch.empty(v, device="meta") for k, v in shapes.items()}

    for key, channels in (("waveglow_wn256", 256), ("waveglow_wn512", 512)):
        assert detect_waveglow_config(meta(layout[key])) == {
            "n_mel_channels": 80, "n_flows": 12, "n_group": 8, "n_early_every": 4, "n_early_size": 2,
            "WN_config": {"n_layers": 8, "kernel_size": 3, "n_channels": channels}}
    assert detect_tacotron2_config(meta(layout["tacotron2"])) == {
        "mask_padding": False, "n_mel_channels": 80, "n_symbols": 148, "symbols_embedding_dim": 512,
        "encoder_kernel_size": 5, "encoder_n_convolutions": 3, "encoder_embedding_dim": 512,
        "attention_rnn_dim": 1024, "attention_dim": 128, "attention_location_n_filters": 32,
        "attention_location_kernel_size": 31, "n_frames_per_step": 1, "decoder_rnn_dim": 1024,
        "prenet_dim": 256, "max_decoder_steps": 2000, "gate_threshold": 0.5, "p_attention_dropout": 0.1,
        "p_decoder_dropout": 0.1, "postnet_embedding_dim": 512, "postnet_kernel_size": 5,
        "postnet_n_convolutions": 5, "decoder_no_early_stopping": False}


def test_overrides_change_inference_settings_only(ckpt):
    model = load_tacotron2(ckpt["never_stops"], overrides={
        "max_decoder_steps": 9, "gate_threshold": 0.25, "decoder_no_early_stopping": True})
    assert (model.decoder.max_decoder_steps, model.decoder.gate_threshold) == (9, 0.25)
    assert model.decoder.early_stopping is False and not model.training
    with pytest.raises(CheckpointError, match=r"t2_never_stops.pt.*shape mismatch.*embedding"):
        load_tacotron2(ckpt["never_stops"], overrides={"symbols_embedding_dim": 32})
    with pytest.raises(ValueError, match="unknown Tacotron 2 setting"):
        load_tacotron2(ckpt["never_stops"], overrides={"no_such_setting": 1})


# ------------------------------------------------------------------------------------------ user errors

@pytest.mark.parametrize("case", ["missing_input", "blank_input", "no_symbols", "missing_checkpoint",
                                  "swapped_checkpoints", "no_tacotron2", "fp16_without_cuda",
                                  "negative_attention_stop"])
def test_cli_errors_are_one_line(tmp_path, capsys, ckpt, case):
    good = write(tmp_path / "good.txt", "Hello there.\n")
    argv = ["-i", good, "-o", tmp_path / "out", "--tacotron2", ckpt["never_stops"], "--cpu",
            "--max-decoder-steps", 3, "--griffin-lim-iters", 1]
    expected = {
        "missing_input": r"-i/--input: file not found: .*nope\.txt",
        "blank_input": r"-i/--input: .*blank\.txt holds no phrases",
        "no_symbols": r"bad\.txt line 3: '#\*~' has no symbol the model knows",
        "missing_checkpoint": r"checkpoint not found: .*missing\.pt",
        "swapped_checkpoints": r"wg_ngc\.pt is a WaveGlow checkpoint, but a Tacotron 2 checkpoint was "
                               r"expected \(pass it to --waveglow instead of --tacotron2\)",
        "no_tacotron2": r"--tacotron2 CHECKPOINT is required",
        "fp16_without_cuda": r"--fp16 needs a CUDA GPU",
        "negative_attention_stop": r"--attention-stop-frames must be >= 0, got -3",
    }[case]
    if case == "missing_input":
        argv[1] = tmp_path / "nope.txt"
    elif case == "blank_input":
        argv[1] = write(tmp_path / "blank.txt", "\n   \n\n")
    elif case == "no_symbols":
        argv[1] = write(tmp_path / "bad.txt", "Fine words.\n\n#*~\n")
    elif case == "missing_checkpoint":
        argv[5] = tmp_path / "missing.pt"
    elif case == "swapped_checkpoints":
        argv[5] = ckpt["waveglow"]
    elif case == "no_tacotron2":
        del argv[4:6]
    elif case == "fp16_without_cuda":
        if torch.cuda.is_available():
            pytest.skip("CUDA is available")
        argv[6] = "--fp16"
    elif case == "negative_attention_stop":
        argv += ["--attention-stop-frames", -3]
    rc, _, stderr = run_cli(capsys, *argv)
    assert rc == 1
    errors = [line for line in stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and errors[0].startswith("inference.py: error: ")
    assert all(line.startswith("inference.py: ") for line in stderr.splitlines())
    assert re.search(expected, errors[0]), errors[0]
    assert "Traceback" not in stderr


def test_math_of_reference_rtf_convention():
    """The two RTF conventions are reciprocal: 7 s of audio in 2 s of wall time."""
    result = type("R", (), {})()
    result.times = type("T", (), dict(tacotron2=0.5, waveglow=1.0, denoiser=0.1, griffin_lim=0.0,
                                      total=2.0))()
    result.mel_frames, result.generated_samples = 600, 7 * SR
    result.audio_samples, result.audio_seconds, result.utterances = 7 * SR, 7.0, []
    metrics = inference.summary_metrics(result, "waveglow")
    assert metrics["rtf"] == 3.5 and metrics["rtf_wall_per_audio"] == pytest.approx(2 / 7)
    assert metrics["tacotron2_items_per_sec"] == 1200.0 and metrics["waveglow_items_per_sec"] == 7 * SR
    assert math.isinf(inference._rate(1.0, 0.0))

"""Model export: TorchScript and ONNX (onnxruntime, CPU) against eager PyTorch, save/load, the CLI."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from common import export
from common.export import (
    ExportError,
    OnnxTacotron2,
    OnnxWaveGlow,
    export_tacotron2_onnx,
    export_waveglow_onnx,
    load_torchscript,
    save_torchscript,
    script_tacotron2,
    script_waveglow,
)
from tacotron2.layers import lengths_to_mask
from tacotron2.model import DecoderState, Encoder, Tacotron2
from tacotron2.multilingual import MultilingualTacotron2
from waveglow.model import WaveGlow

ort = pytest.importorskip("onnxruntime")
ROOT = Path(__file__).resolve().parents[1]

N_MEL = 6
T2_CONFIG = dict(
    mask_padding=False, n_mel_channels=N_MEL, n_symbols=20, symbols_embedding_dim=16, encoder_kernel_size=3,
    encoder_n_convolutions=2, encoder_embedding_dim=16, attention_rnn_dim=24, attention_dim=8,
    attention_location_n_filters=4, attention_location_kernel_size=5, n_frames_per_step=1,
    decoder_rnn_dim=24, prenet_dim=12, max_decoder_steps=14, gate_threshold=0.5, p_attention_dropout=0.1,
    p_decoder_dropout=0.1, postnet_embedding_dim=16, postnet_kernel_size=3, postnet_n_convolutions=3,
    decoder_no_early_stopping=False,
)
WG_CONFIG = dict(n_mel_channels=4, n_flows=5, n_group=8, n_early_every=2, n_early_size=2,
                 WN_config={"n_layers": 2, "kernel_size": 3, "n_channels": 8})


@pytest.fixture(autouse=True, scope="module")
def _fast_cpu_settings():
    """Speed only (eager and exported runs share these settings, so comparisons are unaffected):
    one thread, since tiny ops are dominated by thread hand-off on a shared 2-core machine; oneDNN off,
    since its float32 ConvTranspose1d (WaveGlow's upsampler) costs ~4 s per new batch>1 input shape here."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "TF32 acceleration on top of oneDNN ..."
        with torch.backends.mkldnn.flags(enabled=False):
            yield
    torch.set_num_threads(threads)


def max_err(got, want) -> float:
    got = torch.as_tensor(np.asarray(got)) if not isinstance(got, torch.Tensor) else got
    want = torch.as_tensor(np.asarray(want)) if not isinstance(want, torch.Tensor) else want
    assert tuple(got.shape) == tuple(want.shape), (got.shape, want.shape)
    return (got.double() - want.double()).abs().max().item() if got.numel() else 0.0


def text_batch(lengths=(7, 4, 5), seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded ids; the padding holds real symbols so a missing mask changes the result."""
    gen = torch.Generator().manual_seed(seed)
    text = torch.randint(1, T2_CONFIG["n_symbols"], (len(lengths), max(lengths)), generator=gen)
    return text, torch.tensor(lengths)


def _gate_threshold_splitting(model: Tacotron2, text, lengths, **ids) -> float:
    """A gate threshold under which the batch's items stop at as many different steps as possible, as
    late as possible (so the recurrence runs for a while).

    The gate does not feed back into decoding, so one dropout-free run without early stopping gives every
    step's gate. Candidates are midpoints between consecutive gate values at least 1e-5 apart, so float
    rounding in an export cannot flip a stop decision.
    """
    model.decoder.early_stopping = False
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no item stops: MaxDecoderStepsWarning
        memory = model.encode(text, lengths, **ids)
        _, gates, _, _ = model.decoder.infer(memory, lengths)
    model.decoder.early_stopping = True
    probs = torch.sigmoid(gates.double())
    values = probs.flatten().unique()
    best = (0, 0, 0.5)
    for low, high in zip(values[:-1].tolist(), values[1:].tolist()):
        if high - low < 1e-5:
            continue
        threshold = (low + high) / 2
        above = probs > threshold
        stops = torch.where(above.any(dim=1), above.int().argmax(dim=1), probs.size(1))
        best = max(best, (len(set(stops.tolist())), int(stops.sum()), threshold))
    return best[2]


@pytest.fixture(scope="module")
def tacotron2() -> Tacotron2:
    """Tiny Tacotron 2 with a sharp gate and a threshold that stops the test batch's items at
    different steps (so mel lengths and the postnet masking are exercised)."""
    torch.manual_seed(0)
    model = Tacotron2(**T2_CONFIG).eval()
    with torch.no_grad():
        model.decoder.gate_layer.linear_layer.weight.mul_(-8.0)  # gates rise over the first steps
        for bn in model.modules():
            if isinstance(bn, torch.nn.BatchNorm1d):  # non-trivial running statistics
                bn.running_mean.uniform_(-0.2, 0.2)
                bn.running_var.uniform_(0.5, 1.5)
    model.decoder.prenet.p_dropout = 0.0
    text, lengths = text_batch()
    model.decoder.gate_threshold = _gate_threshold_splitting(model, text, lengths)
    model.decoder.prenet.p_dropout = 0.5
    return model


@pytest.fixture(scope="module")
def waveglow() -> WaveGlow:
    """Tiny WaveGlow whose zero-initialised end layers are randomised so every coupling acts."""
    torch.manual_seed(0)
    model = WaveGlow(**WG_CONFIG)
    with torch.no_grad():
        for wn in model.WN:
            wn.end.weight.normal_(0.0, 0.2)
            wn.end.bias.normal_(0.0, 0.2)
    return model.eval()


@pytest.fixture(scope="module")
def onnx_tacotron2(tacotron2, tmp_path_factory) -> list[Path]:
    return export_tacotron2_onnx(tacotron2, tmp_path_factory.mktemp("t2onnx"))


def eager_infer(model: Tacotron2, text, lengths, seed: int, **ids):
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.infer(text, lengths, **ids)


# ---------------------------------------------------------------------------------------------- TorchScript


def test_torchscript_tacotron2_matches_eager_and_round_trips(tacotron2, tmp_path) -> None:
    """Prenet dropout ON: the scripted loop draws the RNG exactly like eager, so the same seed must give
    the same mels, stop lengths and alignments."""
    scripted = script_tacotron2(tacotron2)
    assert isinstance(scripted, torch.jit.ScriptModule)
    loaded = load_torchscript(save_torchscript(scripted, tmp_path / "t2.pt"))
    text, lengths = text_batch()
    want_mel, want_len, want_align = eager_infer(tacotron2, text, lengths, seed=3)
    assert len(set(want_len.tolist())) > 1  # the threshold really splits the batch
    for module in (scripted, loaded):
        torch.manual_seed(3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mel, mel_len, align = module.infer(text, lengths)
        assert torch.equal(mel_len, want_len)
        assert max_err(mel, want_mel) <= 1e-5
        assert max_err(align, want_align) <= 1e-5
    # A batch whose items all stop (the loop's early exit), here the first item alone.
    want_one = eager_infer(tacotron2, text[:1], lengths[:1], seed=3)
    torch.manual_seed(3)
    one = loaded.infer(text[:1], lengths[:1])
    assert want_one[1].item() < tacotron2.decoder.max_decoder_steps and one[0].shape == want_one[0].shape
    assert torch.equal(one[1], want_one[1]) and max_err(one[0], want_one[0]) <= 1e-5
    with pytest.raises(torch.jit.Error, match="input_lengths must lie in"):
        loaded.infer(text, torch.tensor([8, 1, 1]))
    # Another seed draws other dropout masks: the outputs really depend on the RNG.
    torch.manual_seed(4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        other = loaded.infer(text, lengths)[0]
    assert other.shape != want_mel.shape or max_err(other, want_mel) > 1e-3
    # The caller's model is untouched (exports work on a copy).
    assert tacotron2.decoder.prenet.p_dropout == 0.5 and not tacotron2.training


def test_torchscript_waveglow_matches_eager_and_round_trips(waveglow, tmp_path) -> None:
    scripted = script_waveglow(waveglow)
    assert not [name for name in scripted.state_dict() if "weight_g" in name or "weight_v" in name]
    loaded = load_torchscript(save_torchscript(scripted, tmp_path / "wg.pt"))
    gen = torch.Generator().manual_seed(2)
    mel = torch.randn(2, 4, 5, generator=gen)
    z = 0.8 * torch.randn(2, 8, 5 * 256 // 8, generator=gen)
    with torch.no_grad():
        want = waveglow.infer(mel, z=z)
    assert want.shape == (2, 5 * 256) and want.abs().max() > 0.1
    for module in (scripted, loaded):
        assert max_err(module(mel, z), want) <= 1e-5
    # infer(mel, sigma) draws z exactly like eager infer.
    torch.manual_seed(5)
    got = loaded.infer(mel, 0.6)
    torch.manual_seed(5)
    with torch.no_grad():
        assert max_err(got, waveglow.infer(mel, sigma=0.6)) <= 1e-5
    # The caller's model keeps its weight norm.
    assert "WN.0.start.weight_g" in waveglow.state_dict()


# ---------------------------------------------------------------------------------------------- ONNX parts


def test_onnx_encoder_matches_eager(tacotron2, onnx_tacotron2) -> None:
    """Different batch and text length than traced; padded items equal the eager encoder."""
    session = ort.InferenceSession(str(onnx_tacotron2[0]), providers=["CPUExecutionProvider"])
    for lengths in ((6, 3, 5), (4,)):
        text, lens = text_batch(lengths, seed=7)
        memory, processed, mask = session.run(None, {"text": text.numpy(), "input_lengths": lens.numpy()})
        with torch.no_grad():
            want = tacotron2.encode(text, lens)
            want_processed = tacotron2.decoder.attention_layer.memory_layer(want)
        assert max_err(memory, want) <= 1e-4
        assert max_err(processed, want_processed) <= 1e-4
        assert np.array_equal(mask, lengths_to_mask(lens, text.size(1)).numpy())
    # An item in a padded batch equals the item encoded alone (the reversed-LSTM trick is exact).
    text, lens = text_batch((6, 3), seed=8)
    alone = session.run(None, {"text": text[1:, :3].numpy(), "input_lengths": lens[1:].numpy()})[0]
    memory = session.run(None, {"text": text.numpy(), "input_lengths": lens.numpy()})[0]
    assert max_err(memory[1, :3], alone[0]) <= 1e-5 and np.all(memory[1, 3:] == 0)


def test_onnx_decoder_step_matches_eager(tacotron2, onnx_tacotron2) -> None:
    session = ort.InferenceSession(str(onnx_tacotron2[1]), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(11)
    batch, t_in = 3, 6
    dec = tacotron2.decoder
    memory = torch.randn(batch, t_in, dec.memory_dim, generator=gen)
    processed = dec.attention_layer.memory_layer(memory).detach()
    mask = lengths_to_mask(torch.tensor([6, 2, 4]), t_in)
    weights = torch.softmax(torch.randn(batch, t_in, generator=gen), dim=1)
    a, d, m = dec.attention_rnn_dim, dec.decoder_rnn_dim, dec.memory_dim
    state = DecoderState(
        torch.randn(batch, a, generator=gen), torch.randn(batch, a, generator=gen),
        torch.randn(batch, d, generator=gen), torch.randn(batch, d, generator=gen),
        weights, weights + torch.rand(batch, t_in, generator=gen), torch.randn(batch, m, generator=gen),
    )
    frame = torch.randn(batch, N_MEL, generator=gen)
    masks = (torch.rand(2, batch, 12, generator=gen) > 0.5).float() * 2.0
    feed = {"decoder_input": frame.numpy(), "prenet_dropout_masks": masks.numpy(),
            **{name: t.numpy() for name, t in zip(export.DECODER_STATE_NAMES, state)},
            "memory": memory.numpy(), "processed_memory": processed.numpy(), "memory_mask": mask.numpy()}
    got = session.run(None, feed)
    with torch.no_grad():  # independent prenet: Linear, ReLU, times the given mask
        x = frame
        for i, layer in enumerate(dec.prenet.layers):
            x = F.relu(x @ layer.linear_layer.weight.T) * masks[i]
        frames, gate, new = dec.decode(x, state, memory, processed, mask)
    want = [frames, gate, *new]
    assert [o.name for o in session.get_outputs()] == list(export.DECODER_OUTPUTS)
    for g, w in zip(got, want):
        assert max_err(g, w) <= 1e-4
    assert np.all(got[6][1, 2:] == 0)  # attention weights are 0 on padded memory


def test_onnx_postnet_matches_eager(tacotron2, onnx_tacotron2) -> None:
    """Each item equals the eager postnet run on that item alone; frames past its length are 0."""
    session = ort.InferenceSession(str(onnx_tacotron2[2]), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(12)
    mel = torch.randn(3, N_MEL, 11, generator=gen)
    lens = torch.tensor([11, 4, 8])
    (got,) = session.run(None, {"mel": mel.numpy(), "mel_lengths": lens.numpy()})
    for b, n in enumerate(lens.tolist()):
        item = mel[b:b + 1, :, :n]
        with torch.no_grad():
            want = item + tacotron2.postnet(item)
        assert max_err(got[b:b + 1, :, :n], want) <= 1e-4
        assert np.all(got[b, :, n:] == 0)


# ---------------------------------------------------------------------------------------------- ONNX loops


def test_onnx_tacotron2_loop_matches_eager_without_dropout(tacotron2, onnx_tacotron2) -> None:
    runner = OnnxTacotron2(*onnx_tacotron2)
    text, lengths = text_batch()
    tacotron2.decoder.prenet.p_dropout = 0.0
    try:
        want_mel, want_len, want_align = eager_infer(tacotron2, text, lengths, seed=0)
        want_single = eager_infer(tacotron2, text[:1], None, seed=0)
    finally:
        tacotron2.decoder.prenet.p_dropout = 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mel, mel_len, align = runner.infer(text, input_lengths=lengths, prenet_dropout=0.0)
        single = runner.infer(text[:1].numpy(), prenet_dropout=0.0)
    assert len(set(want_len.tolist())) > 1
    assert np.array_equal(mel_len, want_len.numpy())
    assert max_err(mel, want_mel) <= 1e-3
    assert max_err(align, want_align) <= 1e-3
    assert np.array_equal(single[1], want_single[1].numpy())
    assert max_err(single[0], want_single[0]) <= 1e-3


def test_onnx_tacotron2_loop_matches_seeded_eager_with_dropout(tacotron2, onnx_tacotron2) -> None:
    """The driver's masks are drawn like F.dropout's (per layer, per step), so seeds line up."""
    runner = OnnxTacotron2(*onnx_tacotron2)
    assert runner.meta["prenet_dropout"] == 0.5
    text, lengths = text_batch()
    want_mel, want_len, _ = eager_infer(tacotron2, text, lengths, seed=9)
    torch.manual_seed(9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mel, mel_len, _ = runner.infer(text, input_lengths=lengths)
        short = runner.infer(text, max_decoder_steps=2, gate_threshold=0.999, input_lengths=lengths)
    assert np.array_equal(mel_len, want_len.numpy())
    assert max_err(mel, want_mel) <= 1e-3
    assert short[0].shape == (3, N_MEL, 2) and short[1].tolist() == [2, 2, 2]
    with pytest.raises(ExportError, match="input_lengths"):
        runner.infer(text, input_lengths=[1, 2])


def test_onnx_tacotron2_loop_several_frames_per_step(tmp_path) -> None:
    """n_frames_per_step=3: each step's output is split into 3 frames, its last one fed back."""
    torch.manual_seed(2)
    model = Tacotron2(**{**T2_CONFIG, "n_frames_per_step": 3, "max_decoder_steps": 5}).eval()
    runner = OnnxTacotron2(*export_tacotron2_onnx(model, tmp_path))
    text, lengths = text_batch()
    want = eager_infer(model, text, lengths, seed=8)
    torch.manual_seed(8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mel, mel_len, align = runner.infer(text, input_lengths=lengths)
    assert mel.shape[2] % 3 == 0 and np.array_equal(mel_len, want[1].numpy())
    assert max_err(mel, want[0]) <= 1e-3 and max_err(align, want[2]) <= 1e-3


def test_onnx_waveglow_matches_eager(waveglow, tmp_path) -> None:
    import onnx

    path = export_waveglow_onnx(waveglow, tmp_path / "waveglow.onnx")
    onnx.checker.check_model(onnx.load(str(path)))
    runner = OnnxWaveGlow(path)
    assert [i.name for i in runner.session.get_inputs()] == ["mel", "z"]
    gen = torch.Generator().manual_seed(3)
    for batch, frames in ((2, 6), (1, 2)):  # traced with (1, 3): batch and frames are dynamic
        mel = torch.randn(batch, 4, frames, generator=gen)
        z = 0.9 * torch.randn(batch, 8, frames * 32, generator=gen)
        with torch.no_grad():
            want = waveglow.infer(mel, z=z)
        assert max_err(runner.infer(mel, z), want) <= 1e-4
    with pytest.raises(ExportError, match="z must have shape"):
        runner.infer(mel, z[:, :, :-1])


# ---------------------------------------------------------------------------------------------- CLI


def _save(path: Path, name: str, model: torch.nn.Module, config: dict) -> Path:
    torch.save({"model_name": name, "config": config, "state_dict": model.state_dict()}, path)
    return path


def test_cli_writes_expected_files(tacotron2, waveglow, tmp_path, capsys) -> None:
    threshold = tacotron2.decoder.gate_threshold
    t2 = _save(tmp_path / "t2.pt", "Tacotron2", tacotron2, {**T2_CONFIG, "gate_threshold": threshold})
    wg = _save(tmp_path / "wg.pt", "WaveGlow", waveglow, waveglow.config)
    ts_dir = tmp_path / "ts"
    assert export.main(["torchscript", "--tacotron2", str(t2), "--waveglow", str(wg), "-o", str(ts_dir)]) == 0
    assert sorted(p.name for p in ts_dir.iterdir()) == ["tacotron2_torchscript.pt", "waveglow_torchscript.pt"]
    loaded = load_torchscript(ts_dir / "waveglow_torchscript.pt")
    mel, z = torch.randn(1, 4, 3), torch.randn(1, 8, 96)
    with torch.no_grad():
        assert max_err(loaded(mel, z), waveglow.infer(mel, z=z)) <= 1e-5
    text, lengths = text_batch()
    want = eager_infer(tacotron2, text, lengths, seed=6)
    torch.manual_seed(6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = load_torchscript(ts_dir / "tacotron2_torchscript.pt").infer(text, lengths)
    assert torch.equal(got[1], want[1]) and max_err(got[0], want[0]) <= 1e-5

    # --fp16 ONNX: half-precision graphs that onnxruntime runs on the CPU.
    onnx_dir = tmp_path / "onnx"
    assert export.main(["onnx", "--tacotron2", str(t2), "-o", str(onnx_dir), "--fp16"]) == 0
    assert sorted(p.name for p in onnx_dir.iterdir()) == ["decoder_iter.onnx", "encoder.onnx", "postnet.onnx"]
    runner = OnnxTacotron2(*(onnx_dir / name for name in export.ONNX_TACOTRON2_FILES))
    assert runner.dtype == np.float16
    # The checkpoint's settings (gate threshold, 14 steps) travel in the decoder graph's metadata.
    assert runner.meta["gate_threshold"] == threshold and runner.meta["max_decoder_steps"] == 14
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mel16, len16, _ = runner.infer(text, max_decoder_steps=3, input_lengths=lengths, prenet_dropout=0.0)
    tacotron2.decoder.prenet.p_dropout = 0.0
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want_mel, gates, _, _ = tacotron2.decoder.infer(tacotron2.encode(text, lengths), lengths)
    finally:
        tacotron2.decoder.prenet.p_dropout = 0.5
    stops = torch.sigmoid(gates[:, :3]) > threshold  # the fp32 stop steps within 3 steps
    want_len = torch.where(stops.any(dim=1), stops.int().argmax(dim=1) + 1, torch.tensor(3))
    assert mel16.dtype == np.float16 and len16.tolist() == want_len.tolist()
    with torch.no_grad():  # Tacotron2.infer's postnet step on the fp32 frames
        mask = lengths_to_mask(want_len, 3).unsqueeze(1)
        frames = want_mel[:, :, :3].masked_fill(~mask, 0.0)
        want16 = (frames + tacotron2.postnet(frames, mask)).masked_fill(~mask, 0.0)
    assert max_err(mel16.astype(np.float32), want16) <= 2e-2

    capsys.readouterr()
    assert export.main(["onnx", "--waveglow", str(t2), "-o", str(tmp_path / "bad")]) == 2
    assert "holds a Tacotron2 checkpoint, expected WaveGlow" in capsys.readouterr().err
    assert export.main(["torchscript", "--tacotron2", str(tmp_path / "nope.pt"), "-o", str(tmp_path)]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


def test_shell_wrapper_exports_fp16_torchscript(waveglow, tmp_path) -> None:
    wrapper = ROOT / "scripts" / "export_models.sh"
    bad = subprocess.run(["bash", str(wrapper), "tflite"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "usage:" in bad.stderr
    _save(tmp_path / "wg.pt", "WaveGlow", waveglow, waveglow.config)
    out = tmp_path / "half"
    command = ["bash", str(wrapper), "torchscript", "--waveglow", "wg.pt", "-o", "half", "--fp16"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            env={"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    loaded = load_torchscript(out / "waveglow_torchscript.pt")
    mel, z = torch.randn(1, 4, 3), 0.5 * torch.randn(1, 8, 96)
    got = loaded(mel.half(), z.half())
    with torch.no_grad():
        want = waveglow.infer(mel, z=z)
    assert got.dtype == torch.float16
    assert max_err(got.float(), want) <= 2e-2 * max(1.0, want.abs().max().item())


# ---------------------------------------------------------------------------------------------- multi-speaker


ML_SPEAKERS, ML_LANGUAGES = ["ann", "bob", "cid"], ["en", "de"]
# variant -> MultilingualTacotron2 keywords: the reference encoder with speaker ids only, and each encoder
# type (the separate one with no language embedding: languages act only through the encoders).
ML_VARIANTS = {
    "speakers": dict(speaker_embedding_dim=4),
    "shared": dict(speaker_embedding_dim=4, language_embedding_dim=3, speaker_classifier_hidden_dim=5),
    "separate": dict(speaker_embedding_dim=4, encoder_type="separate"),
    "generated": dict(speaker_embedding_dim=4, language_embedding_dim=3, encoder_type="generated",
                      generator_bottleneck_dim=4),
}
# Per-symbol language ids for text_batch() (lengths 7, 4, 5): item 0 switches twice, item 1 once, item 2
# only inside its padding (which must not count as a span).
CODE_SWITCHED = torch.tensor([[0, 0, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1, 1]])


def ml_config(variant: str) -> dict:
    return {**T2_CONFIG, "speakers": ML_SPEAKERS, "languages": ML_LANGUAGES, **ML_VARIANTS[variant]}


def ml_ids(variant: str, speakers, languages) -> dict:
    """infer keywords: speaker ids always, language ids where the variant uses languages."""
    ids = {"speaker_ids": torch.as_tensor(speakers)}
    if variant != "speakers":
        ids["language_ids"] = torch.as_tensor(languages)
    return ids


# Id sets whose outputs must match eager: one speaker and language per item; other speakers with
# code-switched per-symbol language ids; one speaker id and one language id for the whole batch.
ID_SETS = [([0, 1, 2], [0, 1, 0]), ([2, 0, 1], CODE_SWITCHED), ([1], [1])]


def build_ml_model(variant: str) -> MultilingualTacotron2:
    """Tiny multi-speaker multilingual Tacotron 2, gate threshold split as for `tacotron2`."""
    torch.manual_seed(0)
    model = MultilingualTacotron2(**ml_config(variant)).eval()
    with torch.no_grad():
        model.decoder.gate_layer.linear_layer.weight.mul_(-8.0)
        for bn in model.modules():
            if isinstance(bn, torch.nn.BatchNorm1d):
                bn.running_mean.uniform_(-0.2, 0.2)
                bn.running_var.uniform_(0.5, 1.5)
    model.decoder.prenet.p_dropout = 0.0
    text, lengths = text_batch()
    ids = ml_ids(variant, *ID_SETS[0])
    model.decoder.gate_threshold = _gate_threshold_splitting(model, text, lengths, **ids)
    model.decoder.prenet.p_dropout = 0.5
    return model


@pytest.fixture(scope="module", params=list(ML_VARIANTS))
def ml_model(request) -> tuple[str, MultilingualTacotron2]:
    return request.param, build_ml_model(request.param)


def _differs(a, b) -> bool:
    return tuple(a.shape) != tuple(b.shape) or max_err(a, b) > 1e-3


def test_torchscript_conditioned_matches_eager(ml_model, tmp_path) -> None:
    """Speaker and language ids are inputs of the scripted infer; with the same seed (prenet dropout on)
    it equals eager `MultilingualTacotron2.infer` for each id set, and different ids change the output."""
    variant, model = ml_model
    loaded = load_torchscript(save_torchscript(script_tacotron2(model), tmp_path / "t2.pt"))
    assert loaded.speakers == ML_SPEAKERS and loaded.languages == ML_LANGUAGES
    text, lengths = text_batch()
    outputs = []
    for speakers, languages in ID_SETS:
        ids = ml_ids(variant, speakers, languages)
        want_mel, want_len, want_align = eager_infer(model, text, lengths, seed=3, **ids)
        torch.manual_seed(3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mel, mel_len, align = loaded.infer(text, lengths, **ids)
        assert torch.equal(mel_len, want_len)
        assert max_err(mel, want_mel) <= 1e-5 and max_err(align, want_align) <= 1e-5
        outputs.append(mel)
        if len(outputs) == 1:
            assert len(set(want_len.tolist())) > 1  # the threshold splits the batch: postnet masking acts
    assert _differs(outputs[0], outputs[1])

    def run(speakers, languages):
        torch.manual_seed(3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return loaded(text, lengths, **ml_ids(variant, speakers, languages))[0]

    # The ids really act: one speaker (or language) against another, all else equal.
    assert _differs(run([0], [0]), run([1], [0]))
    if variant != "speakers":
        assert _differs(run([0], [0]), run([0], [1]))
    with pytest.raises(torch.jit.Error, match="this model has 3 speakers"):
        loaded.infer(text, lengths)
    with pytest.raises(torch.jit.Error, match=r"speaker_ids must lie in \[0, 2\]"):
        loaded.infer(text, lengths, **ml_ids(variant, [0, 3, 1], [0]))
    if variant == "speakers":
        with pytest.raises(torch.jit.Error, match="uses no languages"):
            loaded.infer(text, lengths, torch.tensor([0]), torch.tensor([0]))
    else:
        with pytest.raises(torch.jit.Error, match="language_ids must have shape"):
            loaded.infer(text, lengths, **ml_ids(variant, [0], [[0, 1]]))


def test_onnx_conditioned_matches_eager(ml_model, tmp_path) -> None:
    """The encoder graph takes the ids and outputs eager `encode`'s conditioned memory; the runner matches
    seeded eager synthesis for each id set (code-switched separate encoders: span by span)."""
    variant, model = ml_model
    paths = export_tacotron2_onnx(model, tmp_path)
    runner = OnnxTacotron2(*paths)
    names = [item.name for item in runner.encoder.get_inputs()]
    language_rank = {"speakers": None, "shared": 2, "separate": 1, "generated": 2}[variant]
    assert names == ["text", "input_lengths", "speaker_ids"] + (["language_ids"] if language_rank else [])
    if language_rank:
        assert len(runner.encoder.get_inputs()[3].shape) == language_rank
    assert runner.speakers == ML_SPEAKERS and runner.languages == ML_LANGUAGES
    assert runner.meta["memory_dim"] == model.decoder.memory_dim > T2_CONFIG["encoder_embedding_dim"]

    # The encoder graph alone, at another batch and length than traced, equals eager encode (all rows).
    text, lengths = text_batch()
    for speakers, languages in ID_SETS[:2]:
        if variant == "separate" and torch.as_tensor(languages).dim() == 2:
            continue  # its graph encodes single-language items; the runner splits (checked below)
        ids = ml_ids(variant, speakers, languages)
        feed = {"text": text.numpy(), "input_lengths": lengths.numpy(),
                "speaker_ids": ids["speaker_ids"].numpy()}
        if language_rank:
            languages = ids["language_ids"]
            if language_rank == 2 and languages.dim() == 1:
                languages = languages.unsqueeze(1).expand(-1, text.size(1))
            feed["language_ids"] = np.ascontiguousarray(languages.numpy())
        memory, processed, mask = runner.encoder.run(None, feed)
        with torch.no_grad():
            want = model.encode(text, lengths, **ids)
            want_processed = model.decoder.attention_layer.memory_layer(want)
        assert max_err(memory, want) <= 1e-5 and max_err(processed, want_processed) <= 1e-5
        assert np.array_equal(mask, lengths_to_mask(lengths, text.size(1)).numpy())

    outputs = []
    for speakers, languages in ID_SETS:
        ids = ml_ids(variant, speakers, languages)
        want_mel, want_len, want_align = eager_infer(model, text, lengths, seed=9, **ids)
        torch.manual_seed(9)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mel, mel_len, align = runner.infer(text, input_lengths=lengths, **ids)
        assert np.array_equal(mel_len, want_len.numpy())
        assert max_err(mel, want_mel) <= 1e-4 and max_err(align, want_align) <= 1e-4
        outputs.append(torch.from_numpy(mel))
    assert _differs(outputs[0], outputs[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = runner.infer(text, input_lengths=lengths, prenet_dropout=0.0, **ml_ids(variant, [0], [0]))[0]
        other = runner.infer(text, input_lengths=lengths, prenet_dropout=0.0, **ml_ids(variant, [2], [0]))[0]
    assert _differs(torch.from_numpy(one), torch.from_numpy(other))
    with pytest.raises(ExportError, match="this model has 3 speakers"):
        runner.infer(text, input_lengths=lengths)
    with pytest.raises(ExportError, match=r"speaker_ids must lie in \[0, 2\]"):
        runner.infer(text, input_lengths=lengths, **ml_ids(variant, [0, 1, 3], [0]))
    if variant == "speakers":
        with pytest.raises(ExportError, match="uses no languages"):
            runner.infer(text, input_lengths=lengths, speaker_ids=[0], language_ids=[0])


@pytest.mark.parametrize("variant", ["separate", "generated"])
def test_cli_exports_conditioned_checkpoint(variant, tmp_path) -> None:
    """`python -m common.export` rebuilds a MultilingualTacotron2 from its checkpoint config and writes
    exports that take the ids (TorchScript through a subprocess, ONNX through main)."""
    model = build_ml_model(variant)
    config = {**ml_config(variant), "gate_threshold": model.decoder.gate_threshold}
    ckpt = _save(tmp_path / "ml.pt", "Tacotron2", model, config)
    command = [sys.executable, "-m", "common.export", "torchscript", "--tacotron2", str(ckpt), "-o",
               str(tmp_path / "ts")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert export.main(["onnx", "--tacotron2", str(ckpt), "-o", str(tmp_path / "onnx")]) == 0
    scripted = load_torchscript(tmp_path / "ts" / "tacotron2_torchscript.pt")
    runner = OnnxTacotron2(*(tmp_path / "onnx" / name for name in export.ONNX_TACOTRON2_FILES))
    text, lengths = text_batch()
    ids = ml_ids(variant, [2, 1, 0], CODE_SWITCHED)
    want_mel, want_len, _ = eager_infer(model, text, lengths, seed=6, **ids)
    torch.manual_seed(6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mel, mel_len, _ = scripted.infer(text, lengths, **ids)
        torch.manual_seed(6)
        onnx_mel, onnx_len, _ = runner.infer(text, input_lengths=lengths, **ids)
    assert torch.equal(mel_len, want_len) and max_err(mel, want_mel) <= 1e-5
    assert np.array_equal(onnx_len, want_len.numpy()) and max_err(onnx_mel, want_mel) <= 1e-4


def test_export_rejects_unknown_conditioning(tmp_path) -> None:
    """A model overriding the hooks, or an encoder class without an export wrapper, is a clear ExportError."""

    class OwnHooks(MultilingualTacotron2):
        def condition(self, memory, text_ids, speaker_ids=None, language_ids=None):
            return memory * 2.0

    class OwnEncoder(Encoder):
        pass

    own_hooks = OwnHooks(**ml_config("speakers")).eval()
    own_encoder = MultilingualTacotron2(**ml_config("speakers")).eval()
    encoder = own_encoder.encoder
    own_encoder.encoder = OwnEncoder(2, 16, 3, 16)
    own_encoder.encoder.load_state_dict(encoder.state_dict())
    with pytest.raises(ExportError, match="OwnHooks overrides the conditioning hooks"):
        script_tacotron2(own_hooks)
    with pytest.raises(ExportError, match="OwnHooks overrides the conditioning hooks"):
        export_tacotron2_onnx(own_hooks, tmp_path)
    with pytest.raises(ExportError, match="cannot export the encoder OwnEncoder"):
        script_tacotron2(own_encoder)
    with pytest.raises(ExportError, match="cannot export the encoder OwnEncoder"):
        export_tacotron2_onnx(own_encoder, tmp_path)

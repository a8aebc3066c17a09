"""Fast paths against the eager reference on random inputs: the Tacotron 2 decoder (teacher-forced outputs
and every parameter gradient, synthesis) and WaveGlow inference; the flags and the side-by-side benchmark.

The eager path is `Decoder.decode` stepped by `Decoder.forward`/`infer` and `WaveGlow.infer`
(tacotron2/model.py, waveglow/model.py); the fast ones are tacotron2/fast_decoder.py and
waveglow/fast_infer.py. Float64 comparisons are tight (the two differ only in how sums are grouped); float32
ones use the suite's float tolerance. Dropout is on wherever the reference has it: both paths draw the same
masks from the same seed.
"""

from __future__ import annotations

import argparse
import copy
import warnings

import pytest
import torch
from torch.nn import functional as F

from common.benchmarks import train as benchmark_train
from common.log_reader import read_nvlog, summary
from common.models import build_model, get_model_spec
from tacotron2 import fast_decoder
from tacotron2.fast_decoder import DecoderImplError, set_decoder_impl
from tacotron2.model import Decoder, MaxDecoderStepsWarning, Tacotron2
from waveglow.fast_infer import (
    WaveGlowImplError,
    _winograd_accumulate,
    _winograd_filter,
    set_waveglow_impl,
    winograd_matrices,
)
from waveglow.model import WaveGlow, remove_weightnorm

N_MEL = 5
TINY = dict(
    n_mel_channels=N_MEL, n_symbols=20, symbols_embedding_dim=8, encoder_kernel_size=3,
    encoder_n_convolutions=1, encoder_embedding_dim=8, attention_rnn_dim=12, attention_dim=6,
    attention_location_n_filters=3, attention_location_kernel_size=5, decoder_rnn_dim=10, prenet_dim=7,
    postnet_embedding_dim=8, postnet_kernel_size=3, postnet_n_convolutions=2, max_decoder_steps=12,
    p_attention_dropout=0.3, p_decoder_dropout=0.2,
)


def pair(dtype: torch.dtype = torch.float64, **overrides) -> tuple[Tacotron2, Tacotron2]:
    """(eager model, fast copy with the same weights), training mode."""
    torch.manual_seed(0)
    eager = Tacotron2(**{**TINY, **overrides}).to(dtype).train()
    return eager, set_decoder_impl(copy.deepcopy(eager), "fast")


def batch(r: int, ragged: bool, dtype: torch.dtype) -> tuple:
    """(text, input lengths, mel, max_len, output lengths) with 8 decoder steps; ragged: padded items."""
    gen = torch.Generator().manual_seed(1)
    t_out = 8 * r
    in_lengths = torch.tensor([6, 4, 5] if ragged else [6, 6, 6])
    out_lengths = torch.tensor([t_out, t_out - r - 1, 3] if ragged else [t_out] * 3)
    text = torch.randint(1, TINY["n_symbols"], (3, 6), generator=gen)
    mel = torch.randn(3, N_MEL, t_out, generator=gen, dtype=dtype)
    return text, in_lengths, mel, t_out, out_lengths


def loss_of(outputs: list[torch.Tensor]) -> torch.Tensor:
    """A scalar touching every output element (alignments included) with fixed random weights."""
    gen = torch.Generator().manual_seed(5)
    return sum((o * torch.randn(o.shape, generator=gen, dtype=o.dtype)).sum() for o in outputs)


def forward_backward(model: torch.nn.Module, x: tuple, seed: int = 3) -> tuple[list, dict]:
    torch.manual_seed(seed)  # the same dropout masks for both paths
    outputs = model(x)
    model.zero_grad(set_to_none=True)
    loss_of(outputs).backward()
    return outputs, {name: p.grad for name, p in model.named_parameters()}


def assert_grads_close(fast: dict, eager: dict, rtol: float, atol_scale: float) -> None:
    """Every parameter gradient exists in both and agrees to rtol, plus an absolute floor relative to the
    largest gradient (conv biases before training-mode BatchNorm have true gradient 0: pure rounding)."""
    assert fast.keys() == eager.keys()
    scale = max(g.abs().max().item() for g in eager.values() if g is not None)
    for name, want in eager.items():
        got = fast[name]
        assert (got is None) == (want is None), name
        if want is not None:
            torch.testing.assert_close(got, want, rtol=rtol, atol=atol_scale * scale, msg=name)


@pytest.mark.parametrize("r", [1, 2])
@pytest.mark.parametrize("mask_padding", [False, True])
@pytest.mark.parametrize("ragged", [False, True])
def test_training_outputs_and_all_gradients_match_eager(r: int, mask_padding: bool, ragged: bool) -> None:
    eager, fast = pair(n_frames_per_step=r, mask_padding=mask_padding)
    x = batch(r, ragged, torch.float64)
    want, want_grads = forward_backward(eager, x)
    got, got_grads = forward_backward(fast, x)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)
    assert_grads_close(got_grads, want_grads, rtol=1e-8, atol_scale=1e-12)
    assert got[3].abs().sum() > 0 and want_grads["decoder.attention_rnn.weight_hh"].abs().sum() > 0


def test_float32_parity_with_default_dropout() -> None:
    eager, fast = pair(torch.float32, p_attention_dropout=0.1, p_decoder_dropout=0.1)
    x = batch(1, True, torch.float32)
    want, want_grads = forward_backward(eager, x)
    got, got_grads = forward_backward(fast, x)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)
    assert_grads_close(got_grads, want_grads, rtol=1e-4, atol_scale=1e-5)


def test_conditioning_dim_widens_memory_and_input_gradients_match() -> None:
    """A conditioned decoder (memory = encoder outputs + a 3-wide conditioning vector): outputs, parameter
    gradients and the gradients of its inputs (memory, target mels) agree."""
    config = dict(n_mel_channels=N_MEL, n_frames_per_step=2, encoder_embedding_dim=8, attention_dim=6,
                  attention_rnn_dim=12, attention_location_n_filters=3, attention_location_kernel_size=5,
                  decoder_rnn_dim=10, prenet_dim=7, max_decoder_steps=10, gate_threshold=0.5,
                  p_attention_dropout=0.3, p_decoder_dropout=0.2, conditioning_dim=3)
    torch.manual_seed(0)
    eager = Decoder(**config).double().train()
    fast = set_decoder_impl(copy.deepcopy(eager), "fast")
    assert fast.memory_dim == 11 and fast.attention_rnn.input_size == 7 + 11
    gen = torch.Generator().manual_seed(2)
    memory = torch.randn(2, 5, 11, generator=gen, dtype=torch.float64)
    targets = torch.randn(2, N_MEL, 12, generator=gen, dtype=torch.float64)
    lengths = torch.tensor([5, 3])
    results = []
    for model in (eager, fast):
        mem, tgt = memory.clone().requires_grad_(), targets.clone().requires_grad_()
        torch.manual_seed(4)
        outputs = model(mem, tgt, lengths)
        loss_of(list(outputs)).backward()
        results.append((outputs, mem.grad, tgt.grad, {n: p.grad for n, p in model.named_parameters()}))
    (want, want_mem, want_tgt, want_grads), (got, got_mem, got_tgt, got_grads) = results
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(got_mem, want_mem, rtol=1e-8, atol=1e-12)
    torch.testing.assert_close(got_tgt, want_tgt, rtol=1e-8, atol=1e-12)
    assert_grads_close(got_grads, want_grads, rtol=1e-8, atol_scale=1e-12)
    assert want[2][1, :, 3:].abs().max() == 0  # padded encoder positions get no attention


def test_eval_forward_without_grad_matches() -> None:
    """Validation: eval mode (no LSTM dropout), no autograd graph."""
    eager, fast = pair()
    x = batch(2, True, torch.float64)
    with torch.no_grad():
        torch.manual_seed(1)
        want = eager.eval()(x)
        torch.manual_seed(1)
        got = fast.eval()(x)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)


def test_autocast_runs_the_fast_decoder_in_float32() -> None:
    """Under autocast the fast decoder computes in float32 (eager autocast would round to bfloat16)."""
    eager, fast = pair(torch.float32)
    gen = torch.Generator().manual_seed(2)
    memory = torch.randn(2, 5, 8, generator=gen)
    targets = torch.randn(2, N_MEL, 6, generator=gen)
    torch.manual_seed(3)
    want = eager.decoder(memory, targets, None)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch.manual_seed(3)
        got = fast.decoder(memory, targets, None)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == torch.float32
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("r", [1, 2])
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("project", [False, True])
def test_synthesis_matches_eager_with_the_same_seed(r: int, training: bool, project: bool,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Prenet dropout on (and LSTM dropout in training mode): same mels, gates, alignments and lengths,
    the same warning for items that hit max_decoder_steps, and the generator left in the same state;
    with the context multiplied per step and with the projected memory (`project`)."""
    monkeypatch.setattr(fast_decoder, "projects_context", lambda *shape: project)
    eager, fast = pair(torch.float32, n_frames_per_step=r, gate_threshold=0.52)
    eager.train(training)
    fast.train(training)
    text = torch.randint(1, TINY["n_symbols"], (3, 6), generator=torch.Generator().manual_seed(7))
    lengths = torch.tensor([6, 4, 5])
    results = []
    for model in (eager, fast):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.manual_seed(11)
            mel, mel_lengths, alignments = model.infer(text, lengths)
            after = torch.rand(3)
        results.append((mel, mel_lengths, alignments, after, model.last_unfinished,
                        [(w.category, w.filename) for w in caught]))
    (mel_e, len_e, ali_e, rng_e, unf_e, warn_e), (mel_f, len_f, ali_f, rng_f, unf_f, warn_f) = results
    torch.testing.assert_close(mel_f, mel_e, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ali_f, ali_e, rtol=1e-4, atol=1e-6)
    assert torch.equal(len_f, len_e) and torch.equal(rng_f, rng_e)
    assert unf_f == unf_e and warn_f == warn_e
    assert all(category is MaxDecoderStepsWarning and filename == __file__ for category, filename in warn_f)


@pytest.mark.parametrize("project", [False, True])
def test_synthesis_matches_eager_in_float64(project: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The projected memory changes only how sums are grouped: float64 agrees to 1e-10."""
    monkeypatch.setattr(fast_decoder, "projects_context", lambda *shape: project)
    eager, fast = pair(torch.float64, gate_threshold=0.52)
    text = torch.randint(1, TINY["n_symbols"], (2, 6), generator=torch.Generator().manual_seed(4))
    lengths = torch.tensor([6, 3])
    outputs = []
    for model in (eager, fast):
        torch.manual_seed(8)
        outputs.append(model.infer(text, lengths))
    for got, want in zip(outputs[1], outputs[0], strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_projecting_the_context_pays_for_short_inputs_at_small_batch() -> None:
    assert fast_decoder.projects_context(1, 128, 512)  # the benchmark's batch-1 sentence
    assert fast_decoder.projects_context(1, 384, 512) and not fast_decoder.projects_context(1, 385, 512)
    assert not fast_decoder.projects_context(4, 128, 512)  # batch 4 reads the weights once for all items


def test_synthesis_stops_where_the_gate_fires() -> None:
    eager, fast = pair(torch.float32)
    for model in (eager, fast):
        model.eval()
        with torch.no_grad():
            model.decoder.gate_layer.linear_layer.bias.fill_(20.0)  # sigmoid ~ 1 at step 1
    text = torch.randint(1, TINY["n_symbols"], (2, 6), generator=torch.Generator().manual_seed(7))
    torch.manual_seed(2)
    want = eager.infer(text)
    torch.manual_seed(2)
    got = fast.infer(text)
    assert got[0].shape == want[0].shape == (2, N_MEL, 1) and got[1].tolist() == [1, 1]
    torch.testing.assert_close(got[0], want[0], rtol=1e-4, atol=1e-5)


def test_impl_is_an_attribute_not_a_constructor_keyword_or_state() -> None:
    torch.manual_seed(0)
    model = Tacotron2(**TINY)
    assert model.decoder.impl == "eager"
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert set_decoder_impl(model, "fast") is model and model.decoder.impl == "fast"
    after = model.state_dict()
    assert after.keys() == state.keys() and all(torch.equal(after[k], v) for k, v in state.items())
    with pytest.raises(DecoderImplError, match="--decoder-impl"):
        set_decoder_impl(model, "turbo")
    with pytest.raises(DecoderImplError, match="no Tacotron 2 decoder"):
        set_decoder_impl(torch.nn.Linear(2, 2), "fast")


def test_flag_and_model_spec_apply_the_impl() -> None:
    spec = get_model_spec("Tacotron2")
    parser = spec.parser(argparse.ArgumentParser(add_help=False), False)
    assert parser.parse_args([]).decoder_impl == "fast"  # parity proven above
    args = parser.parse_args(["--decoder-impl", "eager", "--n-mel-channels", "5", "--prenet-dim", "4"])
    assert "decoder_impl" not in spec.model_config(args)  # not a checkpoint config key
    model = build_model(spec, spec.model_config(args), args=args)
    assert model.decoder.impl == "eager"
    args.decoder_impl = "fast"
    assert spec.step_hook(model, args, 0, 0) == {}  # applied once, when built: the per-step hook leaves it
    assert model.decoder.impl == "eager"
    assert build_model(spec, spec.model_config(args), args=args).decoder.impl == "fast"
    with pytest.raises(SystemExit):
        parser.parse_args(["--decoder-impl", "turbo"])


def waveglow_pair(dtype: torch.dtype, remove_norm: bool) -> tuple[WaveGlow, WaveGlow]:
    torch.manual_seed(0)
    model = WaveGlow(n_mel_channels=6, n_flows=5, n_group=8, n_early_every=2, n_early_size=2,
                     WN_config={"n_layers": 3, "kernel_size": 3, "n_channels": 10})
    with torch.no_grad():  # the end layers start at zero (identity couplings): make the flows do something
        for wn in model.WN:
            wn.end.weight.normal_(0.0, 0.1)
            wn.end.bias.normal_(0.0, 0.1)
    if remove_norm:
        remove_weightnorm(model)
    model = model.to(dtype).eval()
    return model, set_waveglow_impl(copy.deepcopy(model), "fast")


@pytest.mark.parametrize("dtype, rtol", [(torch.float64, 1e-12), (torch.float32, 1e-4)])
@pytest.mark.parametrize("remove_norm", [False, True])
def test_waveglow_fast_infer_matches_eager_with_the_same_z(dtype: torch.dtype, rtol: float,
                                                           remove_norm: bool) -> None:
    eager, fast = waveglow_pair(dtype, remove_norm)
    gen = torch.Generator().manual_seed(3)
    mel = torch.randn(2, 6, 3, generator=gen).to(dtype)
    z = torch.randn(2, 8, 3 * 32, generator=gen).to(dtype)
    want = eager.infer(mel, z=z)
    got = fast.infer(mel, z=z)
    assert want.shape == got.shape == (2, 3 * 256)
    scale = want.abs().max().item()
    torch.testing.assert_close(got, want, rtol=rtol, atol=rtol * scale)
    assert (want - z.transpose(1, 2).reshape(2, -1)).abs().max() > 0.1  # the couplings did act
    torch.manual_seed(9)
    want = eager.infer(mel, sigma=0.7)
    torch.manual_seed(9)
    got = fast.infer(mel, sigma=0.7)  # the same noise draw
    torch.testing.assert_close(got, want, rtol=rtol, atol=rtol * scale)


def test_winograd_matrices_compute_a_3_tap_correlation() -> None:
    a_t, g, b_t = winograd_matrices()
    assert a_t.shape == (4, 6) and g.shape == (6, 3) and b_t.shape == (6, 6)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        taps, d = torch.randn(3, generator=gen, dtype=torch.float64), torch.randn(6, generator=gen,
                                                                                 dtype=torch.float64)
        want = torch.stack([taps @ d[i : i + 3] for i in range(4)])
        torch.testing.assert_close(a_t @ ((g @ taps) * (b_t @ d)), want, rtol=1e-13, atol=1e-13)
    with pytest.raises(ValueError, match="needs 5 finite points"):
        winograd_matrices(points=(0.0, 1.0))


@pytest.mark.parametrize("length, dilation", [(96, 1), (96, 8), (100, 3), (7, 1), (513, 128), (1024, 128),
                                              (40, 16)])
@pytest.mark.parametrize("dtype, rtol", [(torch.float64, 1e-12), (torch.float32, 2e-5)])
def test_winograd_convolution_matches_conv1d(length: int, dilation: int, dtype: torch.dtype,
                                             rtol: float) -> None:
    """Whole tiles, a ragged last tile, and the direct fallback (513 with d = 128; 40 with d = 16) all
    give conv1d's 'same' dilated convolution, added to what `out` held."""
    gen = torch.Generator().manual_seed(length + dilation)
    x = torch.randn(5, length, generator=gen, dtype=torch.float64)
    weight = torch.randn(6, 5, 3, generator=gen, dtype=torch.float64)
    start = torch.randn(6, length, generator=gen, dtype=torch.float64)
    want = start + F.conv1d(x.unsqueeze(0), weight, padding=dilation, dilation=dilation)[0]
    taps = weight.permute(2, 0, 1).to(dtype).contiguous()
    out = start.to(dtype)
    _winograd_accumulate(out, _winograd_filter(taps), taps, x.to(dtype), dilation)
    torch.testing.assert_close(out.double(), want, rtol=rtol, atol=rtol * want.abs().max().item())


def test_waveglow_impl_rejects_unknown_names() -> None:
    model = WaveGlow(n_mel_channels=4, n_flows=2, n_group=4, n_early_every=1, n_early_size=0,
                     WN_config={"n_layers": 1, "kernel_size": 3, "n_channels": 4})
    assert model.impl == "eager"
    with pytest.raises(WaveGlowImplError, match="eager, fast"):
        set_waveglow_impl(model, "turbo")


BENCH_TACOTRON2 = ["--symbols-embedding-dim", "8", "--encoder-embedding-dim", "8", "--encoder-n-convolutions",
                   "1", "--attention-rnn-dim", "12", "--decoder-rnn-dim", "12", "--prenet-dim", "8",
                   "--postnet-embedding-dim", "8", "--postnet-n-convolutions", "2", "--text-length", "10",
                   "--mel-length", "12"]
BENCH_WAVEGLOW = ["--flows", "2", "--early-every", "1", "--wn-layers", "2", "--wn-channels", "8",
                  "--mel-length", "4"]


@pytest.mark.parametrize("model, mode, extra", [("Tacotron2", "train", BENCH_TACOTRON2),
                                                ("Tacotron2", "infer", BENCH_TACOTRON2),
                                                ("WaveGlow", "infer", BENCH_WAVEGLOW)])
def test_benchmark_reports_both_impls_and_their_ratio(tmp_path, capsys, model: str, mode: str,
                                                      extra: list[str]) -> None:
    argv = ["-m", model, "--mode", mode, "-o", str(tmp_path), "--cpu", "--batch-size", "2", "--warmup", "0",
            "--repeats", "2", "--compare-impl", *extra]
    assert benchmark_train.main(argv) == 0
    result = summary(read_nvlog(tmp_path / "nvlog_benchmark.json"))
    items = {"Tacotron2": 2 * 12, "WaveGlow": 2 * 4 * 256}[model]
    assert result["items_per_step"] == items and result["impl"] == "eager+fast"
    medians = {impl: result[f"{impl}_{mode}_step_time_median"] for impl in ("eager", "fast")}
    for impl, median in medians.items():
        assert result[f"{impl}_{mode}_items_per_sec"] == pytest.approx(items / median)
    assert result["speedup_fast_over_eager"] == pytest.approx(medians["eager"] / medians["fast"])
    out = capsys.readouterr().out
    assert "| eager |" in out and "| fast |" in out
    assert f"{result['speedup_fast_over_eager']:.2f}x" in out

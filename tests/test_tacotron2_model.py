"""Tacotron 2 model and loss: reference layout, wiring against hand computations, masking, inference stop."""

from __future__ import annotations

import inspect
import json
import math
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from common.data import BadItem, CollatedBatch, DatasetError, NotedItem
from tacotron2.batch import Inputs, Outputs, Targets, TextMelBatch, as_outputs, as_targets
from tacotron2.data_function import TextMelCollate, batch_to_device
from tacotron2.layers import ConvNorm, LinearNorm, lengths_to_mask
from tacotron2.loss_function import Tacotron2Loss, Tacotron2LossError, gate_target_from_lengths
from tacotron2.model import (
    MaxDecoderStepsWarning,
    Tacotron2,
    Tacotron2ConfigError,
    Tacotron2InputError,
)

LAYOUT = Path("/work/shared/reference/ngc_checkpoint_layout.json")
REFERENCE_PARAMETERS = 28_193_153
REFERENCE_KEYWORDS = [
    "mask_padding", "n_mel_channels", "n_symbols", "symbols_embedding_dim", "encoder_kernel_size",
    "encoder_n_convolutions", "encoder_embedding_dim", "attention_rnn_dim", "attention_dim",
    "attention_location_n_filters", "attention_location_kernel_size", "n_frames_per_step",
    "decoder_rnn_dim", "prenet_dim", "max_decoder_steps", "gate_threshold", "p_attention_dropout",
    "p_decoder_dropout", "postnet_embedding_dim", "postnet_kernel_size", "postnet_n_convolutions",
    "decoder_no_early_stopping",
]
N_MEL = 6
TINY = dict(
    mask_padding=False, n_mel_channels=N_MEL, n_symbols=20, symbols_embedding_dim=16, encoder_kernel_size=3,
    encoder_n_convolutions=2, encoder_embedding_dim=16, attention_rnn_dim=24, attention_dim=8,
    attention_location_n_filters=4, attention_location_kernel_size=5, n_frames_per_step=1,
    decoder_rnn_dim=24, prenet_dim=12, max_decoder_steps=8, gate_threshold=0.5, p_attention_dropout=0.1,
    p_decoder_dropout=0.1, postnet_embedding_dim=16, postnet_kernel_size=3, postnet_n_convolutions=3,
    decoder_no_early_stopping=False,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny ops are dominated by thread hand-off on a shared 2-core machine: one thread is ~20x faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def assert_close(got, want, atol: float = 1e-6) -> None:
    """Element-wise |got - want| <= atol (torch.testing's first call costs seconds of imports)."""
    assert got.shape == want.shape, (got.shape, want.shape)
    err = (got - want).abs().max().item() if got.numel() else 0.0
    assert err <= atol, f"max abs error {err:.3g} > {atol:g}"


def tiny(**overrides) -> Tacotron2:
    torch.manual_seed(0)
    return Tacotron2(**{**TINY, **overrides})


def batch(r: int = 1, input_lengths=(7, 4, 5), output_lengths=None, pad_id: int = 3, mel_pad: float = 7.0):
    """Padded text/mel batch; padding holds garbage (pad_id, large mel values) to expose missing masks."""
    gen = torch.Generator().manual_seed(1)
    if output_lengths is None:
        output_lengths = (4 * r, 3 * r - 1, 2 * r) if r > 1 else (5, 3, 2)
    t_in = max(input_lengths)
    t_out = -(-max(output_lengths) // r) * r
    text = torch.full((len(input_lengths), t_in), pad_id, dtype=torch.long)
    mel = torch.full((len(input_lengths), N_MEL, t_out), mel_pad)
    for b, (li, lo) in enumerate(zip(input_lengths, output_lengths)):
        text[b, :li] = torch.randint(1, TINY["n_symbols"], (li,), generator=gen)
        mel[b, :, :lo] = torch.randn(N_MEL, lo, generator=gen)
    in_len = torch.tensor(input_lengths)
    out_len = torch.tensor(output_lengths)
    gate = gate_target_from_lengths(out_len, t_out)
    return (text, in_len, mel, t_in, out_len), (mel, gate)


# ---------------------------------------------------------------- layout and configuration


def test_default_layout_matches_reference_checkpoint():
    model = Tacotron2()
    assert sum(p.numel() for p in model.parameters()) == REFERENCE_PARAMETERS
    if not LAYOUT.exists():
        pytest.skip(f"{LAYOUT} missing: only the parameter count was checked")
    reference = json.loads(LAYOUT.read_text())["tacotron2"]
    state = model.state_dict()
    assert list(state) == list(reference)
    assert {k: list(v.shape) for k, v in state.items()} == reference
    # A checkpoint with exactly these names loads strictly.
    model.load_state_dict({k: torch.zeros(v) for k, v in reference.items()}, strict=True)


def test_constructor_takes_exactly_the_reference_keywords():
    assert list(inspect.signature(Tacotron2).parameters) == REFERENCE_KEYWORDS
    model = Tacotron2(**TINY)  # a checkpoint's config dict, passed as **kwargs
    assert model.decoder.max_decoder_steps == 8
    assert Tacotron2(**{**TINY, "decoder_no_early_stopping": True}).decoder.early_stopping is False


@pytest.mark.parametrize("flag, value", [("n_frames_per_step", 0), ("encoder_embedding_dim", 15),
                                         ("postnet_kernel_size", 4), ("gate_threshold", 1.5)])
def test_bad_config_names_the_flag(flag, value):
    with pytest.raises(Tacotron2ConfigError, match=flag.replace("_", "-")):
        Tacotron2(**{**TINY, flag: value})


def test_init_statistics():
    model = Tacotron2(**TINY)
    bound = math.sqrt(3) * math.sqrt(2 / (20 + 16))
    w = model.embedding.weight
    assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound
    lin = LinearNorm(300, 200, w_init_gain="tanh").linear_layer.weight
    xavier_bound = 5 / 3 * math.sqrt(6 / (300 + 200))
    assert lin.abs().max() <= xavier_bound and lin.abs().max() > 0.95 * xavier_bound
    conv = ConvNorm(4, 6, kernel_size=5, dilation=2)
    assert conv.conv.padding == (4,)
    with pytest.raises(ValueError, match="odd kernel"):
        ConvNorm(4, 6, kernel_size=4)


# ---------------------------------------------------------------- wiring against hand computations


def _lstm_cell(x, h, c, cell: nn.LSTMCell):
    gates = x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
    i, f, g, o = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def _location_conv(weights_cat, weight):
    """Conv1d with zero 'same' padding written as an explicit sum over kernel taps."""
    k = weight.size(2)
    padded = F.pad(weights_cat, ((k - 1) // 2, (k - 1) // 2))
    t = weights_cat.size(2)
    return sum(torch.einsum("fc,bct->bft", weight[:, :, j], padded[:, :, j:j + t]) for j in range(k))


def _manual_step(dec, prenet_out, state, memory, mask):
    att = dec.attention_layer
    att_h, att_c, dec_h, dec_c, w_prev, w_cum, ctx = state
    att_h, att_c = _lstm_cell(torch.cat([prenet_out, ctx], 1), att_h, att_c, dec.attention_rnn)
    loc = _location_conv(torch.stack([w_prev, w_cum], 1), att.location_layer.location_conv.conv.weight)
    loc = loc.transpose(1, 2) @ att.location_layer.location_dense.linear_layer.weight.T
    keys = memory @ att.memory_layer.linear_layer.weight.T
    query = (att_h @ att.query_layer.linear_layer.weight.T).unsqueeze(1)
    energies = (torch.tanh(query + loc + keys) @ att.v.linear_layer.weight.T).squeeze(2)
    energies = torch.where(mask, energies, torch.full_like(energies, -1e30))
    weights = torch.exp(energies - energies.max(1, keepdim=True).values)
    weights = weights / weights.sum(1, keepdim=True)
    ctx = (weights.unsqueeze(2) * memory).sum(1)
    dec_h, dec_c = _lstm_cell(torch.cat([att_h, ctx], 1), dec_h, dec_c, dec.decoder_rnn)
    out = torch.cat([dec_h, ctx], 1)
    proj = dec.linear_projection.linear_layer
    gate = dec.gate_layer.linear_layer
    return (out @ proj.weight.T + proj.bias, out @ gate.weight.T + gate.bias,
            (att_h, att_c, dec_h, dec_c, weights, w_cum + weights, ctx))


def test_decode_steps_match_hand_computation():
    model = tiny(n_frames_per_step=2).eval()
    dec = model.decoder
    torch.manual_seed(2)
    memory = torch.randn(2, 5, 16)
    lengths = torch.tensor([5, 3])
    mask = lengths_to_mask(lengths, 5)
    processed = dec.attention_layer.memory_layer(memory)
    state = dec.initial_state(memory)
    manual_state = tuple(state)
    with torch.no_grad():
        for _ in range(3):  # later steps exercise the location features of non-zero weights
            prenet_out = torch.randn(2, 12)
            frames, gate, state = dec.decode(prenet_out, state, memory, processed, mask)
            m_frames, m_gate, manual_state = _manual_step(dec, prenet_out, manual_state, memory, mask)
            assert frames.shape == (2, 2 * N_MEL)
            assert_close(frames, m_frames, atol=1e-5)
            assert_close(gate, m_gate, atol=1e-5)
            for got, want in zip(state, manual_state):
                assert_close(got, want, atol=1e-5)
    assert state.attention_weights[1, 3:].eq(0).all()


def test_prenet_dropout_stays_on_in_eval():
    model = tiny().eval()
    x = torch.ones(1000, N_MEL)
    out = model.decoder.prenet(x)
    zero_fraction = out.eq(0).float().mean().item()
    assert 0.5 < zero_fraction < 0.95  # ReLU zeros plus ~half dropped
    model.decoder.prenet.p_dropout = 0.0
    layers = model.decoder.prenet.layers
    want = F.relu(layers[1](F.relu(layers[0](x))))
    assert_close(model.decoder.prenet(x), want)


def test_postnet_is_residual_with_tanh_between_layers():
    model = tiny().eval()
    mel = torch.randn(2, N_MEL, 9)
    x = mel
    for i, layer in enumerate(model.postnet.convolutions):
        conv, bn = layer[0].conv, layer[1]
        x = F.conv1d(x, conv.weight, conv.bias, padding=1)
        x = (x - bn.running_mean[:, None]) / torch.sqrt(bn.running_var[:, None] + bn.eps)
        x = x * bn.weight[:, None] + bn.bias[:, None]
        x = torch.tanh(x) if i < 2 else x
    with torch.no_grad():
        assert_close(model.postnet(mel), x, atol=1e-5)


@pytest.mark.parametrize("r", [2, 3])
def test_teacher_forcing_feeds_the_last_frame_of_each_group(r):
    model = tiny(n_frames_per_step=r).eval()
    model.decoder.prenet.p_dropout = 0.0
    inputs, _ = batch(r=r)
    text, in_len, mel, t_in, out_len = inputs
    with torch.no_grad():
        base = model(inputs)[0]
        other = mel.clone()
        other[:, :, 0:r - 1] += 5.0  # not a group end: never fed back
        same = model((text, in_len, other, t_in, out_len))[0]
        other[:, :, r - 1] += 5.0  # end of group 0: fed to step 1
        changed = model((text, in_len, other, t_in, out_len))[0]
    assert_close(same, base)
    assert_close(changed[:, :, :r], base[:, :, :r])
    assert (changed[:, :, r:2 * r] - base[:, :, r:2 * r]).abs().max() > 1e-4


# ---------------------------------------------------------------- training pass


@pytest.mark.parametrize("mask_padding", [False, True])
@pytest.mark.parametrize("r", [1, 2, 3])
def test_forward_backward(r, mask_padding):
    model = tiny(n_frames_per_step=r, mask_padding=mask_padding).train()
    inputs, targets = batch(r=r)
    out_len = inputs[4]
    t_out = inputs[2].size(2)
    mel, mel_post, gate, align = model(inputs)
    assert mel.shape == mel_post.shape == (3, N_MEL, t_out)
    assert gate.shape == (3, t_out // r)
    assert align.shape == (3, t_out // r, 7)
    criterion = Tacotron2Loss()
    loss = criterion([mel, mel_post, gate, align], targets, out_len if mask_padding else None)
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(sum(criterion.last_parts.values()), rel=1e-5)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        if not name.endswith("0.conv.bias"):  # conv biases feeding BatchNorm get ~0 in training mode
            assert p.grad.abs().sum() > 0, name
    frame_pad = ~lengths_to_mask(out_len, t_out).unsqueeze(1).expand_as(mel)
    if mask_padding:
        assert mel[frame_pad].eq(0).all() and mel_post[frame_pad].eq(0).all()
        step_pad = ~lengths_to_mask(out_len, t_out)[:, ::r]
        assert gate[step_pad].eq(1e3).all()
        assert gate[~step_pad].abs().lt(1e3).all()  # the step holding the last real frame is kept
        assert step_pad.any()
    else:
        assert mel[frame_pad].ne(0).all()


def test_forward_rejects_bad_inputs():
    model = tiny(n_frames_per_step=2)
    inputs, _ = batch(r=2)
    text, in_len, mel, t_in, out_len = inputs
    with pytest.raises(Tacotron2InputError, match="n_mel_channels"):
        model((text, in_len, mel[:, :4], t_in, out_len))
    with pytest.raises(Tacotron2InputError, match="multiple of n_frames_per_step"):
        model((text, in_len, mel[:, :, :-1], t_in, out_len))
    with pytest.raises(Tacotron2InputError, match="input_lengths"):
        model((text, torch.tensor([8, 4, 5]), mel, t_in, out_len))
    with pytest.raises(Tacotron2InputError, match="integer"):
        model((text.float(), in_len, mel, t_in, out_len))


def test_training_reduces_loss():
    model = tiny(n_frames_per_step=2).train()
    inputs, targets = batch(r=2, pad_id=0, mel_pad=0.0)  # padded as the collate does
    mel = inputs[2]
    frames = torch.arange(mel.size(2)).float()
    channels = torch.arange(N_MEL).float().unsqueeze(1)
    real = lengths_to_mask(inputs[4], mel.size(2)).unsqueeze(1)
    mel.copy_(torch.where(real, -2.0 + torch.sin(0.7 * frames + channels), 0.0))  # learnable, log-mel-like
    criterion = Tacotron2Loss()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-2)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.35 * losses[0], losses  # ~0.13-0.19 over seeds 0-4


# ---------------------------------------------------------------- attention masking and padding


def test_attention_ignores_padded_encoder_positions():
    model = tiny().train()
    inputs, _ = batch(input_lengths=(7, 2, 5))
    align = model(inputs)[3]
    in_len = inputs[1]
    padded = ~lengths_to_mask(in_len, 7).unsqueeze(1).expand_as(align)
    assert align[padded].eq(0).all()
    assert_close(align.sum(2), torch.ones(3, align.size(1)))


def test_padding_invariance_of_encoder_decoder_and_infer():
    model = tiny(mask_padding=True, n_frames_per_step=2).eval()
    model.decoder.prenet.p_dropout = 0.0
    inputs, _ = batch(r=2, input_lengths=(7, 4, 5), output_lengths=(8, 6, 4))
    text, in_len, mel, t_in, out_len = inputs
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", MaxDecoderStepsWarning)  # random weights rarely stop: compare all
        memory = model.encode(text, in_len)
        outputs = model(inputs)
        inferred, inf_len, inf_align = model.infer(text, in_len)
        for b in range(3):
            li, lo = int(in_len[b]), int(out_len[b])
            alone_text = text[b:b + 1, :li]
            alone_memory = model.encode(alone_text, None)
            assert_close(memory[b, :li], alone_memory[0], atol=1e-5)
            assert memory[b, li:].eq(0).all()
            alone = model((alone_text, in_len[b:b + 1], mel[b:b + 1, :, :lo], li, out_len[b:b + 1]))
            for got, want in zip(outputs[:2], alone[:2]):
                assert_close(got[b, :, :lo], want[0], atol=1e-5)
            assert_close(outputs[2][b, :lo // 2], alone[2][0], atol=1e-5)
            assert_close(outputs[3][b, :lo // 2, :li], alone[3][0], atol=1e-5)
            alone_mel, alone_len, alone_align = model.infer(alone_text)
            n = int(inf_len[b])
            assert int(alone_len[0]) == n
            assert_close(inferred[b, :, :n], alone_mel[0, :, :n], atol=1e-5)
            assert_close(inf_align[b, :n // 2, :li], alone_align[0, :n // 2], atol=1e-5)


# ---------------------------------------------------------------- inference stopping


def _force_gate(model: Tacotron2, bias: float) -> None:
    with torch.no_grad():
        model.decoder.gate_layer.linear_layer.weight.zero_()
        model.decoder.gate_layer.linear_layer.bias.fill_(bias)


@pytest.mark.parametrize("r", [1, 3])
def test_infer_stops_at_first_step_when_gate_fires(r):
    model = tiny(n_frames_per_step=r).eval()
    _force_gate(model, 10.0)
    text, in_len = batch()[0][:2]
    with warnings.catch_warnings():
        warnings.simplefilter("error", MaxDecoderStepsWarning)
        mel, lengths, align = model.infer(text, in_len)
    assert lengths.tolist() == [r, r, r] and lengths.dtype == torch.long
    assert mel.shape == (3, N_MEL, r) and align.shape == (3, 1, 7)
    assert model.last_unfinished == []


def test_infer_hits_max_steps_and_warns():
    model = tiny(n_frames_per_step=2).eval()
    _force_gate(model, -10.0)
    text, in_len = batch()[0][:2]
    with pytest.warns(MaxDecoderStepsWarning, match=r"\[0, 1, 2\]"):
        mel, lengths, align = model.infer(text, in_len)
    assert lengths.tolist() == [16, 16, 16]
    assert mel.shape == (3, N_MEL, 16) and align.shape == (3, 8, 7)
    assert model.last_unfinished == [0, 1, 2]


def test_no_early_stopping_runs_max_steps():
    model = tiny(decoder_no_early_stopping=True).eval()
    _force_gate(model, 10.0)
    text, in_len = batch()[0][:2]
    mel, lengths, align = model.infer(text, in_len)
    assert align.shape == (3, 8, 7) and mel.shape == (3, N_MEL, 8)
    assert lengths.tolist() == [1, 1, 1]
    assert mel[:, :, 1:].eq(0).all() and mel[:, :, :1].ne(0).all()
    assert model.last_unfinished == []


class ScriptedGate(nn.Module):
    """Gate logits that fire for item b from decoder step stop_steps[b] (1-based) on."""

    def __init__(self, stop_steps: list[int]) -> None:
        super().__init__()
        self.stop_steps = torch.tensor(stop_steps)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return torch.where(self.calls >= self.stop_steps, 10.0, -10.0).unsqueeze(1)


def test_infer_stops_per_item_and_zeroes_after_the_end():
    model = tiny(n_frames_per_step=2).eval()
    model.decoder.gate_layer = ScriptedGate([3, 1, 5])
    text, in_len = batch()[0][:2]
    mel, lengths, align = model.infer(text, in_len)
    assert lengths.tolist() == [6, 2, 10]
    assert model.decoder.gate_layer.calls == 5 and align.shape == (3, 5, 7)
    valid = lengths_to_mask(lengths, 10).unsqueeze(1).expand_as(mel)
    assert mel[~valid].eq(0).all() and mel[valid].ne(0).all()
    # The postnet saw zeros beyond each end: item 1 equals the same text decoded alone.
    model.decoder.gate_layer = ScriptedGate([1])
    model.decoder.prenet.p_dropout = 0.0
    alone, alone_len, _ = model.infer(text[1:2, :4])
    model.decoder.gate_layer = ScriptedGate([3, 1, 5])
    batched, _, _ = model.infer(text, in_len)
    assert_close(batched[1, :, :2], alone[0], atol=1e-5)


# ---------------------------------------------------------------- loss


def test_loss_matches_hand_computation_with_subsampled_gate():
    mel_target = torch.zeros(1, 2, 4)
    mel_out = torch.ones(1, 2, 4)  # squared error 1 everywhere
    mel_post = torch.full((1, 2, 4), 2.0)  # squared error 4 everywhere
    gate_out = torch.tensor([[0.0, 2.0]])  # r = 2: targets are frames 1 and 3
    gate_target = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    criterion = Tacotron2Loss()
    loss = criterion([mel_out, mel_post, gate_out], (mel_target, gate_target))
    gate_expected = (math.log(2.0) + math.log(1 + math.exp(-2.0))) / 2
    assert loss.item() == pytest.approx(1.0 + 4.0 + gate_expected, rel=1e-6)
    assert criterion.components() == pytest.approx((1.0, 4.0, gate_expected))


def test_masked_loss_averages_over_real_frames_only():
    mel_target = torch.zeros(2, 1, 4)
    mel_out = torch.tensor([[[1.0, 1.0, 9.0, 9.0]], [[2.0, 2.0, 2.0, 2.0]]])
    mel_post = torch.zeros(2, 1, 4)
    gate_out = torch.tensor([[0.0, 50.0], [0.0, 0.0]])  # item 0, step 1 is padding (first frame 2 >= 2)
    out_len = torch.tensor([2, 4])
    gate_target = gate_target_from_lengths(out_len, 4)
    assert gate_target.tolist() == [[0, 1, 1, 1], [0, 0, 0, 1]]
    criterion = Tacotron2Loss()
    loss = criterion([mel_out, mel_post, gate_out], (mel_target, gate_target), out_len)
    mel_expected = (1 + 1 + 4 * 4) / 6
    # real steps: item0 step0 (logit 0, target 1), item1 steps 0, 1 (logit 0, targets 0, 1)
    gate_expected = math.log(2.0)
    assert criterion.last_parts == pytest.approx({"mel": mel_expected, "postnet": 0.0, "gate": gate_expected})
    assert loss.item() == pytest.approx(mel_expected + gate_expected, rel=1e-6)
    # mask_padding takes the lengths from a third target; without it they are ignored there.
    targets = (mel_target, gate_target, out_len)
    assert Tacotron2Loss(mask_padding=True)([mel_out, mel_post, gate_out], targets).item() == \
        pytest.approx(loss.item(), rel=1e-6)
    unmasked = (1 + 1 + 81 + 81 + 4 * 4) / 8 + (math.log(2.0) * 3 + math.log1p(math.exp(-50.0))) / 4
    assert Tacotron2Loss()([mel_out, mel_post, gate_out], targets).item() == pytest.approx(unmasked, rel=1e-6)


def test_loss_rejects_mismatched_shapes():
    with pytest.raises(Tacotron2LossError, match="multiple"):
        Tacotron2Loss()([torch.zeros(1, 2, 5), torch.zeros(1, 2, 5), torch.zeros(1, 2)],
                        (torch.zeros(1, 2, 5), torch.zeros(1, 5)))


def test_forward_returns_named_outputs_in_the_reference_order():
    model = tiny(n_frames_per_step=2)
    x, (mel, gate) = batch(r=2)
    out = model(x)
    assert isinstance(out, Outputs) and len(out) == 4
    mel_out, mel_postnet, gate_out, alignments = out  # the reference's positional reading still works
    assert out.mel is mel_out and out.mel_postnet is mel_postnet and out.gate is gate_out
    assert out.alignments is alignments and out[3] is alignments
    assert out.mel.shape == out.mel_postnet.shape == mel.shape and out.gate.shape == (3, mel.size(2) // 2)
    assert out.alignments.shape == (3, mel.size(2) // 2, 7)
    # the loss and criterion read them by name and still take the reference's plain lists
    assert torch.equal(Tacotron2Loss()(out, (mel, gate)), Tacotron2Loss()(list(out), (mel, gate)))
    assert as_outputs(list(out)) == out and as_outputs(out) is out
    y = (mel, gate, x[4], x[1])
    assert as_targets(y) == Targets(*y) and as_targets(Targets(*y)).input_lengths is x[1]
    with pytest.raises(ValueError, match="got 3 items"):
        as_outputs(list(out)[:3])
    with pytest.raises(ValueError, match="got 2 items"):
        as_targets((mel, gate))


def test_collate_makes_the_typed_batch_that_goes_to_the_device(monkeypatch):
    gen = torch.Generator().manual_seed(0)
    items = [(torch.tensor([1, 2, 3]), torch.randn(N_MEL, 5, generator=gen)),
             BadItem("list.txt:2", "unreadable"),
             NotedItem((torch.tensor([4, 5]), torch.randn(N_MEL, 2, generator=gen)), "long one")]
    batch = TextMelCollate(n_frames_per_step=2)(items)
    assert isinstance(batch, TextMelBatch) and isinstance(batch, CollatedBatch)
    assert batch.size == 2 and batch.bad == [items[1]] and batch.notes == ["long one"]
    assert batch.text_padded.tolist() == [[1, 2, 3], [4, 5, 0]] and batch.input_lengths.tolist() == [3, 2]
    assert batch.mel_padded.shape == (2, N_MEL, 6) and batch.output_lengths.tolist() == [5, 2]
    assert batch.gate_padded.tolist() == [[0, 0, 0, 0, 1, 1], [0, 1, 1, 1, 1, 1]]
    assert batch.speaker_ids is None and batch.language_ids is None
    x, y, frames = batch_to_device(batch, "cpu", skip_bad=True)
    assert isinstance(x, Inputs) and isinstance(y, Targets) and frames == 7
    assert x.text is batch.text_padded and y.gates is batch.gate_padded and x.max_len == 6
    with pytest.raises(DatasetError, match="list.txt:2"):
        batch_to_device(batch, "cpu")
    empty = TextMelCollate()([items[1]])
    assert empty.size == 0 and empty.text_padded is None and batch_to_device(empty, "cpu", True) is None
    # pin_memory=True loaders call the batch's own pin_memory: every tensor field, nothing else
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda t: t + 0, raising=True)
    pinned = torch.utils.data._utils.pin_memory.pin_memory(batch)
    assert isinstance(pinned, TextMelBatch) and pinned.bad == batch.bad and pinned.size == 2
    assert torch.equal(pinned.mel_padded, batch.mel_padded) and pinned.mel_padded is not batch.mel_padded
    assert pinned.speaker_ids is None

"""Inference ends an utterance once attention has reached the end of the text, even without the gate."""

from __future__ import annotations

import warnings

import pytest
import torch

from tacotron2.fast_decoder import set_decoder_impl
from tacotron2.loss_function import Tacotron2Criterion
from tacotron2.model import MaxDecoderStepsWarning, Tacotron2, attention_dwell, attention_stop_steps

N_MEL, VOCAB, FRAMES_PER_SYMBOL, MAX_IN = 8, 12, 4, 10
CONFIG = dict(
    mask_padding=True, n_mel_channels=N_MEL, n_symbols=VOCAB, symbols_embedding_dim=32, encoder_kernel_size=3,
    encoder_n_convolutions=1, encoder_embedding_dim=32, attention_rnn_dim=48, attention_dim=16,
    attention_location_n_filters=4, attention_location_kernel_size=7, n_frames_per_step=1,
    decoder_rnn_dim=48, prenet_dim=16, max_decoder_steps=400, gate_threshold=0.5, p_attention_dropout=0.0,
    p_decoder_dropout=0.0, postnet_embedding_dim=16, postnet_kernel_size=3, postnet_n_convolutions=1,
    decoder_no_early_stopping=False,
)


def _batch(gen: torch.Generator, table: torch.Tensor, size: int = 8) -> tuple[torch.Tensor, ...]:
    """Each symbol is spoken as FRAMES_PER_SYMBOL frames of its own mel vector: a task a model aligns on."""
    lengths = torch.randint(6, MAX_IN + 1, (size,), generator=gen)
    lengths[0] = MAX_IN
    lengths = lengths.sort(descending=True).values
    text = torch.randint(1, VOCAB, (size, MAX_IN), generator=gen) * (torch.arange(MAX_IN) < lengths[:, None])
    out_lengths = lengths * FRAMES_PER_SYMBOL
    t_out = MAX_IN * FRAMES_PER_SYMBOL
    real = torch.arange(t_out) < out_lengths[:, None]
    mel = table[text].repeat_interleave(FRAMES_PER_SYMBOL, dim=1).transpose(1, 2) * real[:, None]
    gate = (torch.arange(t_out)[None] >= out_lengths[:, None] - 1).float()
    return text, lengths, mel, gate, out_lengths


@pytest.fixture(scope="module")
def babbler() -> Tacotron2:
    """A barely trained model (60 steps, guided attention) whose gate never fires."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    table = torch.randn(VOCAB, N_MEL, generator=gen)
    model = Tacotron2(**CONFIG)
    criterion = Tacotron2Criterion(mask_padding=True, guided_attention_weight=10.0)
    optimizer = torch.optim.Adam(model.parameters(), 5e-3)
    for _ in range(60):
        text, lengths, mel, gate, out_lengths = _batch(gen, table)
        outputs = model((text, lengths, mel, mel.size(2), out_lengths))
        loss = criterion(outputs, (mel, gate, out_lengths, lengths))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        model.decoder.gate_layer.linear_layer.bias.fill_(-50.0)
    return model


TEXT = torch.tensor([[3, 5, 7, 2, 9, 4, 6, 8, 1, 10], [2, 4, 6, 8, 10, 1, 3, 5, 0, 0],
                     [5, 4, 3, 2, 1, 6, 0, 0, 0, 0]])
LENGTHS = torch.tensor([10, 8, 6])


@pytest.mark.parametrize("impl", ["eager", "fast"])
def test_a_barely_trained_model_stops_soon_after_the_text_ends(babbler: Tacotron2, impl: str) -> None:
    set_decoder_impl(babbler, impl)
    babbler.decoder.attention_stop_frames = 20
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("error", MaxDecoderStepsWarning)
        _, mel_lengths, _ = babbler.infer(TEXT, LENGTHS)
    spoken = LENGTHS * FRAMES_PER_SYMBOL
    assert torch.all(mel_lengths >= spoken * 3 // 4), mel_lengths  # the text is spoken before the stop
    # 4 frames per symbol, then the 20-frame dwell: a small multiple of the text length (400 without the stop)
    assert torch.all(mel_lengths <= 7 * LENGTHS), mel_lengths


def test_without_the_attention_stop_it_babbles_to_max_decoder_steps(babbler: Tacotron2) -> None:
    set_decoder_impl(babbler, "eager")
    babbler.decoder.attention_stop_frames = 0
    with torch.no_grad(), pytest.warns(MaxDecoderStepsWarning):
        _, mel_lengths, _ = babbler.infer(TEXT, LENGTHS)
    assert mel_lengths.tolist() == [400, 400, 400]
    babbler.decoder.attention_stop_frames = 20


def test_longer_dwell_stops_later_by_that_many_frames(babbler: Tacotron2) -> None:
    set_decoder_impl(babbler, "eager")
    lengths = {}
    for frames in (8, 20):
        babbler.decoder.attention_stop_frames = frames
        with torch.no_grad():
            lengths[frames] = babbler.infer(TEXT, LENGTHS)[1]
    assert (lengths[20] - lengths[8]).tolist() == [12, 12, 12]


def test_dwell_counts_consecutive_steps_on_the_last_symbol() -> None:
    last = torch.tensor([2, 1])
    dwell = torch.zeros(2, dtype=torch.long)
    at_end = torch.tensor([[0.1, 0.2, 0.7], [0.1, 0.8, 0.1]])
    elsewhere = torch.tensor([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1]])
    dwell = attention_dwell(at_end, last, dwell)
    dwell = attention_dwell(elsewhere, last, dwell)
    assert dwell.tolist() == [0, 2]
    assert [attention_stop_steps(20, 4), attention_stop_steps(21, 4), attention_stop_steps(0, 2)] == [5, 6, 0]

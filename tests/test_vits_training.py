"""VITS losses against hand-computed values, the espeak-ng -> phoneme id front end, the dataset, and a
training run whose loss falls on the offline corpus."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from vits.data_function import VitsDataset, collate, linear_spectrogram
from vits.discriminator import MultiPeriodDiscriminator
from vits.loss_function import discriminator_loss, feature_loss, generator_loss, generator_total, kl_loss
from vits.model import SynthesizerTrn, preset_keywords
from vits.text import (
    PhonemeIdError,
    default_phoneme_id_map,
    extend_phoneme_id_map,
    phonemes_to_ids,
)
from vits.train_step import VitsTrainer


def test_lsgan_and_feature_matching_hand_computed() -> None:
    real = [torch.tensor([1.0, 0.0]), torch.tensor([0.5])]
    fake = [torch.tensor([0.0, 1.0]), torch.tensor([-0.5])]
    total, r_losses, g_losses = discriminator_loss(real, fake)
    # D1: mean((1-1)^2, (1-0)^2) = 0.5, mean(0^2, 1^2) = 0.5; D2: 0.25 + 0.25
    assert r_losses == pytest.approx([0.5, 0.25]) and g_losses == pytest.approx([0.5, 0.25])
    assert float(total) == pytest.approx(1.5)
    gen, parts = generator_loss(fake)
    assert float(gen) == pytest.approx(0.5 * (1 + 0) + 2.25)
    fm = feature_loss([[torch.tensor([1.0, 2.0]), torch.tensor([0.0])]],
                      [[torch.tensor([2.0, 2.0]), torch.tensor([3.0])]])
    assert float(fm) == pytest.approx(2 * (0.5 + 3.0))


def test_kl_loss_hand_computed() -> None:
    z_p = torch.tensor([[[1.0, 2.0, 9.0]]])
    m_p = torch.tensor([[[0.0, 0.0, 0.0]]])
    logs_p = torch.tensor([[[0.0, math.log(2.0), 0.0]]])
    logs_q = torch.tensor([[[0.0, 0.0, 0.0]]])
    mask = torch.tensor([[[1.0, 1.0, 0.0]]])
    # frame 1: 0 - 0 - 0.5 + 0.5 * 1 = 0; frame 2: log 2 - 0.5 + 0.5 * 4 / 4 = log 2; frame 3 masked
    assert float(kl_loss(z_p, logs_q, m_p, logs_p, mask)) == pytest.approx(math.log(2.0) / 2)
    totals = generator_total(torch.tensor(2.0), torch.tensor(3.0), torch.tensor([1.0, 0.5]),
                             torch.tensor(4.0), torch.tensor(5.0))
    assert float(totals.mel) == 90.0 and float(totals.duration) == 1.5
    assert float(totals.total) == pytest.approx(90 + 3 + 1.5 + 4 + 5)


def test_phoneme_ids_follow_piper_convention() -> None:
    id_map = default_phoneme_id_map()
    assert (id_map["_"], id_map["^"], id_map["$"], id_map[" "]) == ([0], [1], [2], [3])
    ids = phonemes_to_ids("hə lˈ", id_map)
    h, schwa, ell, stress = id_map["h"][0], id_map["ə"][0], id_map["l"][0], id_map["ˈ"][0]
    assert ids == [1, 0, h, 0, schwa, 0, 3, 0, ell, 0, stress, 0, 2]
    with pytest.raises(PhonemeIdError, match="line 7.*'Ж'"):
        phonemes_to_ids("aЖ", id_map, where="line 7")
    assert phonemes_to_ids("aЖ", id_map, missing="skip") == [1, 0, id_map["a"][0], 0, 2]
    extended = extend_phoneme_id_map(id_map, ["aЖ"])
    assert extended["Ж"] == [max(v[0] for v in id_map.values()) + 1]
    with pytest.raises(PhonemeIdError, match="n_vocab"):
        extend_phoneme_id_map(id_map, ["ЖЗИЙ"], n_vocab=len(id_map) + 2)


def test_espeak_front_end_covers_the_corpus_languages() -> None:
    pytest.importorskip("common.text.phonemes")
    from common.text.phonemes import phonemize

    try:
        ipa = phonemize("Hello there.", "en")
    except Exception as err:  # noqa: BLE001
        pytest.skip(f"espeak-ng unavailable: {err}")
    ids = phonemes_to_ids(ipa, default_phoneme_id_map())
    assert ids[0] == 1 and ids[-1] == 2 and ids[1::2] == [0] * ((len(ids) - 1) // 2)
    for text, lang in [("Bonjour, ça va ?", "fr"), ("Guten Morgen.", "de"), ("¿Qué tal?", "es")]:
        phonemes_to_ids(phonemize(text, lang), default_phoneme_id_map())  # no missing phoneme


def test_linear_spectrogram_framing() -> None:
    audio = torch.sin(torch.arange(256 * 20) * 2 * math.pi * 1000 / 22050).unsqueeze(0)
    spec = linear_spectrogram(audio)
    assert spec.shape == (1, 513, 20)
    assert int(spec[0, :, 10].argmax()) == round(1000 / 22050 * 1024)


def _tiny_keywords(n_speakers: int = 1) -> dict:
    return dict(preset_keywords("x-low", n_speakers=n_speakers), inter_channels=32, hidden_channels=32,
                filter_channels=64, n_layers=2, upsample_initial_channel=64, segment_size=8,
                gin_channels=16 if n_speakers > 1 else 0)


@pytest.mark.slow
def test_loss_falls_on_offline_corpus(tiny_corpus: Path) -> None:
    torch.manual_seed(0)
    dataset = VitsDataset(tiny_corpus / "short_train.txt", tiny_corpus, default_phoneme_id_map())
    batch = collate([dataset[i] for i in range(2)])
    assert batch.ids[0, 0] == 1 and batch.spec.shape[1] == 513
    assert batch.audio.shape[2] == batch.spec.shape[2] * 256
    net_g = SynthesizerTrn(**_tiny_keywords())
    net_d = MultiPeriodDiscriminator(periods=(2,))
    trainer = VitsTrainer(net_g, net_d, learning_rate=1e-3)
    recon = []
    for _ in range(10):
        losses = trainer.step(batch)
        assert all(math.isfinite(v) for v in losses.values())
        recon.append(losses["loss_g_mel"] + losses["loss_g_kl"])
    assert sum(recon[-3:]) / 3 < 0.8 * sum(recon[:3]) / 3, recon


def test_arg_parser_gives_piper_presets_and_names_bad_flags(tmp_path: Path) -> None:
    from common.arg_parser import training_parser
    from vits.arg_parser import check_args, model_config, optimizer_config, vits_parser

    parser = vits_parser(training_parser())
    args = parser.parse_args(["--quality", "x-low"])
    assert model_config(args) == preset_keywords("x-low")
    assert optimizer_config(args) == {"learning_rate": 2e-4, "betas": (0.8, 0.99), "eps": 1e-9,
                                      "lr_decay": 0.999875, "c_mel": 45.0, "c_kl": 1.0}
    assert args.adam_eps == 1e-9 and args.lr_decay == 0.999875 and args.c_mel == 45.0
    assert model_config(parser.parse_args(["--quality", "high", "--n-speakers", "4"]))["gin_channels"] == 512
    with pytest.raises(SystemExit):
        parser.parse_args(["--quality", "ultra"])
    single = tmp_path / "single.ckpt"
    single.write_bytes(b"x")
    args = parser.parse_args(["--resume-from-single-speaker-checkpoint", str(single)])
    assert "--resume-from-single-speaker-checkpoint" in check_args(args)
    assert "--segment-size" in check_args(parser.parse_args(["--segment-size", "1000"]))
    assert check_args(parser.parse_args(["--n-speakers", "3", "--resume-from-single-speaker-checkpoint",
                                         str(single)])) is None


def test_multilingual_multispeaker_dataset(multilingual_corpus: Path) -> None:
    from vits.data_function import phoneme_id_map_for, speaker_id_map

    train = multilingual_corpus / "ml_train.txt"
    speakers = speaker_id_map(train)
    assert speakers == {"spk00": 0, "spk01": 1, "spk02": 2}
    id_map = phoneme_id_map_for([train, multilingual_corpus / "ml_val.txt"])
    dataset = VitsDataset(train, multilingual_corpus, id_map, speaker_ids=speakers)
    by_speaker = {}
    for i in range(len(dataset)):
        item = dataset[i]
        by_speaker.setdefault(item.speaker, []).append(dataset.entries[i].language)
        assert item.ids[0] == 1 and item.ids[-1] == 2 and item.audio.numel() == item.spec.size(1) * 256
    assert by_speaker == {0: ["en"] * 3, 1: ["fr"] * 3, 2: ["en"] * 3}
    french = [dataset.ipa[i] for i in range(len(dataset)) if dataset.entries[i].language == "fr"]
    assert french and all(p in id_map for text in french for p in text)
    batch = collate([dataset[i] for i in range(3)])
    assert batch.speakers.tolist() == [dataset[i].speaker for i in range(3)]
    assert batch.ids.shape == (3, int(batch.id_lengths.max()))
    with pytest.raises(PhonemeIdError, match="ml_train.txt:"):
        VitsDataset(train, multilingual_corpus, {"_": [0], "^": [1], "$": [2], " ": [3]},
                    speaker_ids=speakers)

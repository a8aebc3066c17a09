"""The offline intelligibility measure: high for real speech, near zero for noise, silence and wrong text."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from common.audio import save_wav
from common.data_tools.corpus import Speaker
from common.evaluation import cli
from common.evaluation.asr import Recognizer, ipa_to_arpabet, words_of
from common.evaluation.intelligibility import (
    corpus_vocabulary,
    edit_distance,
    espeak_renderings,
    evaluate_audio,
    evaluate_files,
    phrase_files,
)
from common.metrics.errors import EvaluationError

pytest.importorskip("pocketsphinx")
if shutil.which("espeak-ng") is None:
    pytest.skip("espeak-ng is not installed", allow_module_level=True)

TEXTS = [
    "The little dog ran to the old red house.",
    "We will see her brother on Monday morning.",
    "Please open the window before dinner.",
    "My mother bought seven green apples.",
    "The children played in the garden all day.",
    "He could not find his black shoes.",
]
SPEAKER = Speaker("spk00", "f3", 160, 60, ("en",))  # the quickstart's English voice


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return Recognizer(TEXTS, corpus_vocabulary())


@pytest.fixture(scope="module")
def espeak_wavs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return espeak_renderings(TEXTS, SPEAKER, tmp_path_factory.mktemp("espeak"))


def test_edit_distance_counts_substitutions_insertions_and_deletions() -> None:
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance([], ["a", "b"]) == 2
    assert edit_distance(["a", "b", "c"], ["a", "c"]) == 1
    assert edit_distance(["a"], ["a"]) == 0


def test_words_are_the_spoken_form() -> None:
    assert words_of("Dr. Smith paid $3 at 10 o'clock!") == ["doctor", "smith", "paid", "three", "dollars",
                                                            "at", "ten", "o'clock"]


def test_ipa_maps_to_arpabet() -> None:
    assert ipa_to_arpabet("həlˈoʊ") == ["HH", "AH", "L", "OW"]
    assert ipa_to_arpabet("tʃˈɜːtʃ") == ["CH", "ER", "CH"]


def test_out_of_dictionary_words_get_a_pronunciation() -> None:
    rec = Recognizer(["the zorblax flew"])
    assert rec.pronunciations["zorblax"][0] == "Z" and "B" in rec.pronunciations["zorblax"]


def test_espeak_speech_scores_high(recognizer: Recognizer, espeak_wavs: list[Path]) -> None:
    report = evaluate_files(espeak_wavs, TEXTS, recognizer)
    # pocketsphinx's acoustic model fits espeak-ng's voice poorly: WER ~0.8 and PER ~0.66 on these
    # sentences (noise and wrong text: 1.0 and 0.9-1.0); the closed-set choice is reliable.
    assert report.accuracy >= 5 / 6
    assert report.wer < 0.88
    assert report.per < 0.75


def test_mismatched_text_scores_near_zero(recognizer: Recognizer, espeak_wavs: list[Path]) -> None:
    shifted = TEXTS[1:] + TEXTS[:1]  # every wav is scored against another sentence
    report = evaluate_files(espeak_wavs, shifted, recognizer)
    assert report.accuracy <= 1 / 6
    assert report.wer > 0.95
    assert report.per > 0.85


@pytest.mark.parametrize("kind", ["noise", "silence"])
def test_noise_and_silence_score_near_zero(recognizer: Recognizer, kind: str) -> None:
    rng = np.random.default_rng(0)
    rate = 22050
    audios = [(f"{kind}_{i}", rng.normal(0, 0.1, 3 * rate) if kind == "noise" else np.zeros(3 * rate), rate)
              for i in range(len(TEXTS))]
    report = evaluate_audio(audios, TEXTS, recognizer)
    assert report.accuracy <= 1 / 6
    assert report.wer > 0.95
    assert report.per > 0.95


def test_fraction_of_the_ceiling(recognizer: Recognizer, espeak_wavs: list[Path]) -> None:
    ceiling = evaluate_files(espeak_wavs, TEXTS, recognizer)
    half = evaluate_files(espeak_wavs[:3], TEXTS[:3], recognizer)
    frac = half.fraction_of(ceiling)
    assert frac["accuracy"] == pytest.approx(half.accuracy / ceiling.accuracy)
    assert frac["word_accuracy"] == pytest.approx((1 - half.wer) / (1 - ceiling.wer))


def test_missing_wav_is_named(tmp_path: Path) -> None:
    phrases = tmp_path / "phrases.txt"
    phrases.write_text("one line\n\nanother line\n")
    save_wav(tmp_path / "audio_0.wav", np.zeros(2205, dtype=np.float32), 22050)
    with pytest.raises(EvaluationError, match="audio_1.wav"):
        phrase_files(phrases, tmp_path)


def test_cli_scores_inference_style_output_and_logs(tmp_path: Path, espeak_wavs: list[Path],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "speakers.json").write_text(json.dumps({SPEAKER.id: SPEAKER.to_json()}))
    syn = tmp_path / "syn"
    syn.mkdir()
    for i, wav in enumerate(espeak_wavs[:3]):
        shutil.copy(wav, syn / f"audio_{i}_x.wav")
    phrases = tmp_path / "phrases.txt"
    phrases.write_text("\n".join(TEXTS[:3]) + "\n")
    log = tmp_path / "nvlog.json"
    code = cli.main(["intelligibility", "-i", str(phrases), "--syn-dir", str(syn), "--syn-suffix", "_x",
                     "--corpus", str(corpus), "--json", str(tmp_path / "r.json"), "--log-file", str(log)])
    assert code == 0
    assert "espeak-ng (ceiling)" in capsys.readouterr().out
    data = json.loads(log.read_text().splitlines()[-1].removeprefix("DLLL "))["data"]
    assert data["intelligibility_closed_set_accuracy"] == data["ceiling_closed_set_accuracy"] == 1.0
    assert data["intelligibility_accuracy_of_ceiling"] == 1.0
    report = json.loads((tmp_path / "r.json").read_text())
    assert len(report["synthesized"]["utterances"]) == 3


def test_curve_scores_checkpoints_against_training_minutes(tmp_path: Path) -> None:
    import torch

    from common.checkpoint import save_checkpoint
    from common.evaluation.curve import pick_evenly
    from common.logger import RunLogger
    from tacotron2.model import Tacotron2

    config = dict(n_mel_channels=80, symbols_embedding_dim=16, encoder_kernel_size=3,
                  encoder_n_convolutions=1, encoder_embedding_dim=16, attention_rnn_dim=16, attention_dim=8,
                  attention_location_n_filters=4, attention_location_kernel_size=3, decoder_rnn_dim=16,
                  prenet_dim=8, max_decoder_steps=30, postnet_embedding_dim=16, postnet_kernel_size=3,
                  postnet_n_convolutions=2)
    run = tmp_path / "run"
    run.mkdir()
    torch.manual_seed(0)
    with RunLogger(run / "nvlog.json", stdout=False) as log:
        for epoch, seconds in enumerate([60.0, 120.0, 60.0]):
            for i in range(3):
                log.log((epoch, i), {"train_loss": 1.0, "train_iter_time": 5.0 if (epoch, i) == (1, 2)
                                     else seconds / 3})
            if epoch == 1:  # iteration 2 again after a resume: only this one counts
                log.log((epoch, 2), {"train_loss": 1.0, "train_iter_time": 40.0})
            log.log((epoch,), {"train_loss": 1.0, "train_epoch_time": seconds})
            save_checkpoint(run, "Tacotron2", epoch, {"state_dict": Tacotron2(**config).state_dict(),
                                                      "config": config})
    phrases = tmp_path / "phrases.txt"
    phrases.write_text("\n".join(TEXTS[:2]) + "\n")
    out = tmp_path / "curve"
    code = cli.main(["curve", "--run-dir", str(run), "-i", str(phrases), "-o", str(out), "--points", "2",
                     "--griffin-lim-iters", "2", "--log-file", str(out / "nvlog.json")])
    assert code == 0
    data = json.loads((out / "intelligibility_curve.json").read_text())
    assert [(p["epoch"], p["minutes"]) for p in data["points"]] == [(0, 1.0), (2, 4.0)]
    assert all(p["closed_set_accuracy"] <= 0.5 for p in data["points"])  # untrained: no speech
    assert (out / "intelligibility_curve.png").stat().st_size > 10_000
    assert sorted(p.name for p in (out / "wavs").iterdir()) == ["audio_0.wav", "audio_1.wav"]
    assert pick_evenly(list(range(10)), 4) == [0, 3, 6, 9] and pick_evenly([1, 2], 5) == [1, 2]

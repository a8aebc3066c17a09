"""A plain Tacotron 2 on espeak-ng IPA (`--text-cleaners ipa_cleaners`): its symbol table comes from its
training text, its checkpoint carries the cleaners, and synthesis speaks through them."""

from __future__ import annotations

import pytest
import torch

import run
from common.filelist import read_filelist
from common.models import get_model_spec
from common.synthesis import Phrase, Synthesizer, load_tacotron2
from common.text import phonemes
from common.text.symbols import PAD
from tacotron2.data_function import TextMelLoader


def test_ipa_model_trains_with_its_own_table_and_synthesis_uses_its_cleaners(tiny_corpus, tmp_path):
    train = tiny_corpus / "short_train.txt"
    args = ["-m", "Tacotron2", "-o", str(tmp_path), "-d", str(tiny_corpus), "--training-files", str(train),
            "--validation-files", str(tiny_corpus / "short_val.txt"), "--epochs", "1", "-bs", "3", "--cpu",
            "--seed", "5", "--num-workers", "0", "-lr", "1e-3", "--text-cleaners", "ipa_cleaners",
            *get_model_spec("Tacotron2").tiny_flags]
    assert run.main(args) == 0
    checkpoint = torch.load(tmp_path / "checkpoint_Tacotron2_last.pt", weights_only=True)
    config = checkpoint["config"]
    ipa = phonemes.phonemize_many([e.text for e in read_filelist(train)])
    assert config["text_cleaners"] == ["ipa_cleaners"]
    assert config["symbols"] == [PAD, *sorted(set("".join(ipa)) - {PAD})]
    assert "ə" in config["symbols"] and "ˈ" in config["symbols"]
    assert checkpoint["state_dict"]["embedding.weight"].shape[0] == len(config["symbols"])

    # the synthesizer was given the reference's cleaners: the model's own win
    synth = Synthesizer(load_tacotron2(tmp_path / "checkpoint_Tacotron2_last.pt"), None, griffin_lim_iters=1)
    assert synth.text_cleaners == ["ipa_cleaners"]
    ids = synth.encode_conditioned("the duck", Phrase("the duck", 1))[0]
    assert "".join(config["symbols"][i] for i in ids) == phonemes.phonemize("the duck")


def test_a_dataset_phonemizes_its_filelist_in_one_espeak_run(tiny_corpus, monkeypatch):
    calls = []
    run_espeak = phonemes._run_espeak

    def counting(voice: str, lines: list[str]) -> list[str]:
        calls.append(len(lines))
        return run_espeak(voice, lines)

    monkeypatch.setattr(phonemes, "_CACHE", {})
    monkeypatch.setattr(phonemes, "_run_espeak", counting)
    filelist = tiny_corpus / "filelists/audio_text_train.txt"
    dataset = TextMelLoader(tiny_corpus, filelist, ["ipa_cleaners"], symbols=None)
    assert len(dataset) == len(read_filelist(filelist)) > 5
    assert len(calls) == 1, calls


@pytest.mark.parametrize("cleaners, language", [(["ipa_cleaners"], "en"), (["ipa_cleaners_fr"], "fr"),
                                                (["english_cleaners"], None)])
def test_prefetch_phonemizes_only_for_ipa_cleaners(monkeypatch, cleaners, language):
    seen = []
    monkeypatch.setattr(phonemes, "phonemize_many", lambda texts, lang="en", **_: seen.append(lang))
    phonemes.prefetch_phonemes(["one", "two"], cleaners)
    assert seen == ([language] if language else [])

"""Offline corpus: sentences, spoken forms, espeak-ng synthesis, splits, resume; LJSpeech splitting."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from common.data_tools import corpus
from common.data_tools.corpus import (
    CorpusError,
    build_corpus,
    make_speakers,
    plan_utterances,
    split_utterances,
    trim_silence,
)
from common.data_tools.corpus_text import (
    SUPPORTED_LANGUAGES,
    CorpusTextError,
    generate_sentences,
    normalize_for_language,
)
from common.data_tools.dataset_split import DatasetSplitError, split_ljspeech
from common.filelist import read_filelist

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

HANGUL = re.compile(r"[\uac00-\ud7a3]")
ETHIOPIC = re.compile(r"[\u1200-\u137f]")
LATIN = re.compile(r"[A-Za-z]")


# ---------------------------------------------------------------------------------------------------------
# Sentences and spoken forms


def test_sentences_are_deterministic_per_seed():
    for lang in SUPPORTED_LANGUAGES:
        assert generate_sentences(lang, 40, seed=5) == generate_sentences(lang, 40, seed=5)
        assert generate_sentences(lang, 40, seed=5) != generate_sentences(lang, 40, seed=6)
    # A longer request starts with the shorter one: the stream does not depend on n.
    assert generate_sentences("en", 60, seed=5)[:40] == generate_sentences("en", 40, seed=5)


@pytest.mark.parametrize("lang", ["en", "fr", "de", "es"])
def test_sentences_vary_in_kind_and_length(lang):
    sentences = generate_sentences(lang, 300, seed=1)
    assert len(set(sentences)) >= 290
    words = [len(s.split()) for s in sentences]
    assert min(words) >= 3 and max(words) <= 25
    assert sum(w <= 5 for w in words) >= 30 and sum(w >= 15 for w in words) >= 30
    assert sum(s.endswith("?") for s in sentences) >= 15
    assert sum(s.endswith("!") for s in sentences) >= 10
    assert sum("," in s for s in sentences) >= 30
    assert sum(bool(re.search(r"\d", s)) for s in sentences) >= 60
    assert all(s[0].isupper() or s[0] in "¿¡" for s in sentences)


def test_english_has_abbreviations_prices_years_and_ordinals():
    text = " ".join(generate_sentences("en", 300, seed=2))
    for token in ("Dr.", "Mr.", "Mrs.", "St."):
        assert token in text
    assert re.search(r"\$\d+\.\d\d", text)
    assert re.search(r"\b1[89]\d\d\b|\b20[0-2]\d\b", text)
    assert re.search(r"\b\d+(st|nd|rd|th)\b", text)


def test_korean_and_amharic_use_their_scripts():
    for lang, script in (("ko", HANGUL), ("am", ETHIOPIC)):
        sentences = generate_sentences(lang, 100, seed=3)
        assert len(set(sentences)) >= 90
        assert all(script.search(s) and not LATIN.search(s) for s in sentences)
    assert all(s.endswith(("።", "?", "!")) for s in generate_sentences("am", 50, seed=3))


def test_spoken_forms_spell_numbers():
    assert normalize_for_language("Il a 21 ans.", "fr") == "il a vingt et un ans."
    assert normalize_for_language("Im Jahr 1998 baute sie 21 Häuser.", "de") == (
        "im jahr neunzehnhundertachtundneunzig baute sie einundzwanzig häuser."
    )
    assert normalize_for_language("Hay 35 libros.", "es") == "hay treinta y cinco libros."
    assert normalize_for_language("이 책은 3500원입니다.", "ko") == "이 책은 삼천오백원입니다."
    assert normalize_for_language("መጽሐፉ 12 ብር ነው።", "am") == "መጽሐፉ አሥራ ሁለት ብር ነው።"
    # Beyond num2words' Amharic range the digits are read one by one.
    assert normalize_for_language("1500", "am") == "አንድ አምስት ዜሮ ዜሮ"
    assert normalize_for_language("Dr. Smith paid $3.50 for 2 apples.", "en") == (
        "doctor smith paid three dollars, fifty cents for two apples."
    )


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_spoken_forms_of_generated_sentences_have_no_digits(lang):
    for sentence in generate_sentences(lang, 150, seed=4):
        spoken = normalize_for_language(sentence, lang)
        assert not re.search(r"\d", spoken), (sentence, spoken)
        assert spoken == spoken.lower() and "  " not in spoken


def test_unknown_language_lists_supported_ones():
    with pytest.raises(CorpusTextError, match="supported: en, fr, de, es, ko, am"):
        generate_sentences("xx", 3, seed=1)
    with pytest.raises(CorpusError, match="'it'.*supported"):
        build_corpus("/nonexistent", 4, 1, "en,it", progress=False)


# ---------------------------------------------------------------------------------------------------------
# Planning (no synthesis)


def test_speakers_are_deterministic_and_distinct():
    variants = ["m1", "f2", "m3", "adam", "whisper"]
    a = make_speakers(6, ["en", "fr"], 9, "one", variants)
    assert a == make_speakers(6, ["en", "fr"], 9, "one", variants)
    assert len({(s.variant, s.speed, s.pitch) for s in a}) == 6
    assert {s.variant for s in a} <= {"m1", "f2", "m3", "adam"}  # whisper is not a preferred variant
    assert [s.languages for s in a] == [("en",), ("fr",)] * 3
    assert all(s.languages == ("en", "fr") for s in make_speakers(3, ["en", "fr"], 9, "all", variants))
    # Fewer speakers than languages: speaker k takes every language l with l mod S == k.
    assert [s.languages for s in make_speakers(3, ["en", "fr", "de", "es"], 9, "one", variants)] == [
        ("en", "es"), ("fr",), ("de",)]


def test_utterances_are_spread_evenly_and_deterministic():
    speakers = make_speakers(3, ["es", "de"], 1, "all", ["m1"])
    plan = plan_utterances(speakers, ["es", "de"], 13, seed=1)
    pairs = Counter((u.speaker, u.language) for u in plan)
    assert sorted(pairs.values()) == [2, 2, 2, 2, 2, 3] and len(pairs) == 6
    assert plan == plan_utterances(speakers, ["es", "de"], 13, seed=1)
    assert len({u.id for u in plan}) == 13 and len({u.text for u in plan}) == 13
    assert all(u.id.startswith(f"{u.speaker}_{u.language}_") for u in plan)


def test_split_keeps_every_pair_in_val_and_test():
    speakers = make_speakers(2, ["fr", "de"], 1, "one", ["m1"])
    plan = plan_utterances(speakers, ["fr", "de"], 2 * 3 + 0, seed=1)  # 3 per pair
    splits = split_utterances(plan, seed=1)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [2, 2, 2]
    for name in ("val", "test"):
        assert {(u.speaker, u.language) for u in splits[name]} == {("spk00", "fr"), ("spk01", "de")}
    assert sorted(u.id for items in splits.values() for u in items) == sorted(u.id for u in plan)
    # Pairs with fewer than 3 utterances stay in training.
    small = split_utterances(plan_utterances(speakers, ["fr", "de"], 4, seed=1), seed=1)
    assert [len(small[s]) for s in ("train", "val", "test")] == [4, 0, 0]
    # 20 per pair at 10 % each: 2 val, 2 test, 16 train per pair.
    big = split_utterances(plan_utterances(speakers, ["fr", "de"], 40, seed=1), seed=1)
    assert [len(big[s]) for s in ("train", "val", "test")] == [32, 4, 4]
    assert split_utterances(plan, seed=1) == splits


def test_trim_silence_keeps_50ms_margins():
    audio = np.zeros(22050, dtype=np.float32)
    audio[5000:6000] = 0.5
    trimmed = trim_silence(audio, 22050)
    # Loud frames 19..23 (256 samples each) plus 1102 samples either side.
    assert trimmed.size == (24 - 19) * 256 + 2 * 1102
    assert np.flatnonzero(trimmed)[0] == 5000 - (19 * 256 - 1102)
    # Speech from the first sample (espeak-ng) gets zero padding in front.
    speech = np.full(3000, 0.3, dtype=np.float32)
    padded = trim_silence(speech, 22050)
    assert padded.size == 3000 + 2 * 1102 and not padded[:1102].any() and padded[1102] == np.float32(0.3)
    assert trim_silence(np.zeros(500, dtype=np.float32)).size == 0


def test_missing_espeak_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(corpus.shutil, "which", lambda name: None)
    with pytest.raises(CorpusError, match="apt-get install espeak-ng"):
        build_corpus(tmp_path, 4, 2, "en", progress=False)


# ---------------------------------------------------------------------------------------------------------
# Synthesis


def _wav_ok(path: Path) -> tuple[float, float]:
    info = sf.info(str(path))
    assert (info.samplerate, info.channels, info.subtype, info.format) == (22050, 1, "PCM_16", "WAV")
    audio, _ = sf.read(str(path), dtype="float32")
    return info.frames / info.samplerate, float(np.sqrt(np.mean(audio**2)))


@pytest.fixture(scope="module")
def en_fr(tmp_path_factory):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    root = tmp_path_factory.mktemp("en_fr")
    summary = build_corpus(root, 12, 3, ["en", "fr"], seed=7, jobs=2, progress=False)
    return root, summary


@needs_espeak
def test_corpus_layout_and_wav_format(en_fr):
    root, summary = en_fr
    wavs = sorted((root / "wavs").glob("*.wav"))
    assert len(wavs) == 12 and summary.n_utterances == 12 and summary.n_synthesized == 12
    total = 0.0
    for wav in wavs:
        seconds, rms = _wav_ok(wav)
        assert seconds > 0.3 and rms > 0.01
        total += seconds
    assert summary.total_seconds == pytest.approx(total)
    assert summary.per_language == {"en": 8, "fr": 4}
    assert summary.per_speaker == {"spk00": 4, "spk01": 4, "spk02": 4}


@needs_espeak
def test_metadata_speakers_and_filelists(en_fr):
    root, _ = en_fr
    rows = [line.split("|") for line in (root / "metadata.csv").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 12 and all(len(r) == 3 for r in rows)
    assert {r[0] for r in rows} == {p.stem for p in (root / "wavs").glob("*.wav")}
    for utt_id, text, spoken in rows:
        lang = utt_id.split("_")[1]
        assert spoken == normalize_for_language(text, lang)

    speakers = json.loads((root / "speakers.json").read_text(encoding="utf-8"))
    assert [speakers[s]["languages"] for s in ("spk00", "spk01", "spk02")] == [["en"], ["fr"], ["en"]]
    assert len({(v["variant"], v["speed"], v["pitch"]) for v in speakers.values()}) == 3

    spoken_of = {r[0]: r[2] for r in rows}
    seen = []
    for split, size in (("train", 6), ("val", 3), ("test", 3)):
        single = read_filelist(root / "filelists" / f"audio_text_{split}.txt")
        multi = read_filelist(root / "filelists" / f"audio_text_speaker_language_{split}.txt")
        assert len(single) == len(multi) == size
        raw = (root / "filelists" / f"audio_text_{split}.txt").read_text(encoding="utf-8").splitlines()
        assert all(line.count("|") == 1 and line.startswith("wavs/") for line in raw)
        for a, b in zip(single, multi):
            utt_id = Path(a.audio_path).stem
            assert a.audio_path == b.audio_path == f"wavs/{utt_id}.wav" and (root / a.audio_path).is_file()
            assert a.text == b.text == spoken_of[utt_id]
            assert (b.speaker, b.language) == tuple(utt_id.split("_")[:2])
            # speaker_languages="one": each speaker speaks only its own language.
            assert [b.language] == speakers[b.speaker]["languages"]
        if split != "train":  # every (speaker, language) pair (4 utterances each) is in val and test
            pairs = {(e.speaker, e.language) for e in multi}
            assert pairs == {("spk00", "en"), ("spk01", "fr"), ("spk02", "en")}
        seen += [e.audio_path for e in single]
    assert len(seen) == len(set(seen)) == 12


@needs_espeak
def test_same_seed_gives_the_same_corpus(en_fr, tmp_path):
    root, _ = en_fr
    again = tmp_path / "again"
    build_corpus(again, 12, 3, "en,fr", seed=7, jobs=1, progress=False)
    for name in ("metadata.csv", "speakers.json", "filelists/audio_text_speaker_language_val.txt"):
        assert (again / name).read_bytes() == (root / name).read_bytes()
    for wav in (root / "wavs").glob("*.wav"):
        assert (again / "wavs" / wav.name).read_bytes() == wav.read_bytes()


@needs_espeak
def test_rerun_reuses_existing_wavs(tmp_path):
    root = tmp_path / "resume"
    build_corpus(root, 4, 2, "de", seed=3, jobs=2, progress=False)
    stamps = {p.name: p.stat().st_mtime_ns for p in (root / "wavs").glob("*.wav")}
    again = build_corpus(root, 4, 2, "de", seed=3, jobs=2, progress=False)
    assert (again.n_synthesized, again.n_reused) == (0, 4)
    assert {p.name: p.stat().st_mtime_ns for p in (root / "wavs").glob("*.wav")} == stamps
    victim = sorted(stamps)[0]
    (root / "wavs" / victim).unlink()
    third = build_corpus(root, 4, 2, "de", seed=3, jobs=2, progress=False)
    assert (third.n_synthesized, third.n_reused) == (1, 3) and (root / "wavs" / victim).is_file()
    with pytest.raises(CorpusError, match="other settings.*seed"):
        build_corpus(root, 4, 2, "de", seed=4, progress=False)


@needs_espeak
def test_korean_and_amharic_really_speak(tmp_path):
    for lang, script in (("ko", HANGUL), ("am", ETHIOPIC)):
        root = tmp_path / lang
        summary = build_corpus(root, 2, 1, lang, seed=1, jobs=2, progress=False)
        assert summary.per_language == {lang: 2}
        for line in (root / "metadata.csv").read_text(encoding="utf-8").splitlines():
            utt_id, text, spoken = line.split("|")
            assert script.search(spoken) and not re.search(r"\d", spoken)
            seconds, rms = _wav_ok(root / "wavs" / f"{utt_id}.wav")
            assert seconds > 0.3 and rms > 0.01, (lang, text)


@needs_espeak
def test_cli(tmp_path, capsys):
    out = tmp_path / "cli"
    assert corpus.main(["-o", str(out), "--utterances", "3", "--speakers", "1", "--languages", "es",
                        "--quiet"]) == 0
    report = capsys.readouterr().out
    assert "3 utterances" in report and "es 3" in report
    assert len(read_filelist(out / "filelists" / "audio_text_speaker_language_train.txt")) == 1
    assert corpus.main(["-o", str(out), "--languages", "en,xx", "--quiet"]) == 2
    assert "unsupported language 'xx'" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------
# LJSpeech metadata split


def _fake_metadata(path: Path, n: int) -> Path:
    lines = [f'LJ001-{i:04d}|Text "{i}" on 2 lines.|Text "{i}" on two lines.' for i in range(1, n + 1)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_split_ljspeech_counts_format_and_determinism(tmp_path):
    meta = _fake_metadata(tmp_path / "metadata.csv", 30)
    paths = split_ljspeech(meta, tmp_path / "a", n_val=3, n_test=5, seed=1)
    assert {k: p.name for k, p in paths.items()} == {
        "train": "ljs_audio_text_train_filelist.txt", "val": "ljs_audio_text_val_filelist.txt",
        "test": "ljs_audio_text_test_filelist.txt"}
    lines = {k: p.read_text(encoding="utf-8").splitlines() for k, p in paths.items()}
    assert [len(lines[k]) for k in ("train", "val", "test")] == [22, 3, 5]
    everything = sorted(lines["train"] + lines["val"] + lines["test"])
    assert everything == sorted(f'wavs/LJ001-{i:04d}.wav|Text "{i}" on two lines.' for i in range(1, 31))
    again = split_ljspeech(meta, tmp_path / "b", n_val=3, n_test=5, seed=1)
    assert all(again[k].read_bytes() == paths[k].read_bytes() for k in paths)
    other = split_ljspeech(meta, tmp_path / "c", n_val=3, n_test=5, seed=2, prefix="x")
    assert other["train"].name == "x_train_filelist.txt"
    assert other["val"].read_text() != paths["val"].read_text()


def test_split_ljspeech_errors(tmp_path):
    meta = _fake_metadata(tmp_path / "metadata.csv", 10)
    text = meta.read_text(encoding="utf-8").splitlines()
    text[6] = "LJ001-0007|only two fields"
    meta.write_text("\n".join(text) + "\n", encoding="utf-8")
    with pytest.raises(DatasetSplitError, match=r"metadata\.csv:7: expected 3 fields"):
        split_ljspeech(meta, tmp_path / "out", n_val=1, n_test=1)
    good = _fake_metadata(tmp_path / "good.csv", 10)
    with pytest.raises(DatasetSplitError, match="leave none for training"):
        split_ljspeech(good, tmp_path / "out", n_val=5, n_test=5)
    with pytest.raises(DatasetSplitError, match="not found"):
        split_ljspeech(tmp_path / "missing.csv", tmp_path / "out")

"""Dataset adapters and validation (common/datasets), end to end on small espeak-ng and synthetic data."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from math import gcd
from pathlib import Path

import lameenc
import numpy as np
import pytest
import soundfile as sf
import soxr
from scipy.signal import resample_poly

from common.datasets.cli import main
from common.datasets.convert import trim_silence
from common.datasets.manifest import DatasetError, assign_split, run_parallel, split_point
from common.datasets.validate import validate_filelists

REPO = Path(__file__).resolve().parent.parent
SR = 22050
HEADER = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccents\tlocale\tsegment"
SENTENCES = ["Printing is the art of making books.", "The birch canoe slid on the smooth planks.",
             "Glue the sheet to the dark blue background.", "It is easy to tell the depth of a well."]


# ---------------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    """Four espeak-ng utterances as float32 arrays at 22050 Hz (about 2 s each)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng is not installed")
    folder = tmp_path_factory.mktemp("espeak")
    clips = []
    for i, text in enumerate(SENTENCES):
        path = folder / f"s{i}.wav"
        subprocess.run([exe, "-s", "200", "-w", str(path), text], check=True, capture_output=True, timeout=60)
        audio, rate = sf.read(str(path), dtype="float32")
        assert rate == SR
        clips.append(audio)
    return clips


def _to_rate(audio: np.ndarray, rate: int) -> np.ndarray:
    return audio if rate == SR else soxr.resample(audio, SR, rate).astype(np.float32)


def _write_mp3(path: Path, audio: np.ndarray, rate: int) -> None:
    """Encode float audio of shape (frames,) or (frames, channels) as mp3 with lameenc."""
    frames = audio if audio.ndim == 2 else audio[:, None]
    pcm = np.clip(np.round(frames * 32767.0), -32768, 32767).astype(np.int16)
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(96)
    encoder.set_in_sample_rate(rate)
    encoder.set_channels(frames.shape[1])
    encoder.set_quality(7)
    path.write_bytes(bytes(encoder.encode(pcm.tobytes()) + encoder.flush()))


CV_CLIPS = {  # stem: (sentence index, rate, stereo, client id, tsv)
    "common_voice_en_1": (0, 48000, False, "client-a", "train"),
    "common_voice_en_2": (1, 44100, True, "client-b", "train"),
    "common_voice_en_3": (2, 22050, False, "client-b", "dev"),
    "common_voice_en_4": (3, 32000, False, "client-c", "test"),
}


@pytest.fixture(scope="module")
def cv_dir(tmp_path_factory: pytest.TempPathFactory, speech: list[np.ndarray]) -> Path:
    """A fake Common Voice language folder: 4 good mp3s, one too short, one corrupt."""
    root = tmp_path_factory.mktemp("cv") / "en"
    clips = root / "clips"
    clips.mkdir(parents=True)
    rows: dict[str, list[str]] = {"train": [], "dev": [], "test": []}
    for stem, (k, rate, stereo, client, split) in CV_CLIPS.items():
        audio = _to_rate(speech[k], rate)
        if stereo:  # right channel at half level: the mono mix is 0.75 x the left channel
            audio = np.stack([audio, 0.5 * audio], axis=1)
        _write_mp3(clips / f"{stem}.mp3", audio, rate)
        rows[split].append(f"{client}\t{stem}.mp3\t{SENTENCES[k]}\t2\t0\t\t\t\ten\t")
    t = np.arange(int(0.25 * 48000)) / 48000
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    _write_mp3(clips / "common_voice_en_short.mp3", tone, 48000)
    rows["train"].append("client-c\tcommon_voice_en_short.mp3\tHi.\t2\t0\t\t\t\ten\t")
    (clips / "common_voice_en_bad.mp3").write_bytes(np.random.default_rng(0).bytes(4000))
    rows["train"].append("client-a\tcommon_voice_en_bad.mp3\tA corrupt clip.\t2\t0\t\t\t\ten\t")
    for split, lines in rows.items():
        (root / f"{split}.tsv").write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return root


def _read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _check_outputs(out: Path, manifest: list[dict], val: float, test: float, seed: int = 1234) -> None:
    """Filelists agree with the manifest line for line, and splits follow the documented hash."""
    by_split: dict[str, set[str]] = {"train": set(), "val": set(), "test": set()}
    for item in manifest:
        assert item["split"] == assign_split(item["id"], seed, val, test)
        by_split[item["split"]].add(item["id"])
    for split, ids in by_split.items():
        items = sorted((m for m in manifest if m["id"] in ids), key=lambda m: m["id"])
        assert _read_lines(out / "filelists" / f"{split}.txt") == [f"{m['audio_path']}|{m['text']}"
                                                                   for m in items]
        assert _read_lines(out / "filelists" / f"{split}_multi.txt") == [
            f"{m['audio_path']}|{m['text']}|{m['speaker']}|{m['language']}" for m in items]


def _check_wavs(out: Path, manifest: list[dict]) -> None:
    for item in manifest:
        info = sf.info(str(out / item["audio_path"]))
        assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16")
        assert item["duration"] == pytest.approx(info.frames / SR, abs=1e-6)


# ---------------------------------------------------------------------------------------------------------
# Common Voice


def test_common_voice_end_to_end(cv_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "cv_out"
    args = ["common-voice", "--input", str(cv_dir), "--output", str(out), "--val-fraction", "0.25",
            "--test-fraction", "0.25", "--no-progress"]
    assert main([*args, "--jobs", "2"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert [m["id"] for m in manifest] == sorted(CV_CLIPS)
    _check_wavs(out, manifest)
    _check_outputs(out, manifest, 0.25, 0.25)

    for item in manifest:
        k, rate, stereo, client, _ = CV_CLIPS[item["id"]]
        assert item["text"] == SENTENCES[k]
        assert item["language"] == "en"
        assert item["speaker"] == hashlib.sha1(client.encode()).hexdigest()[:8]
        decoded, rate = sf.read(str(cv_dir / "clips" / f"{item['id']}.mp3"))
        assert item["duration"] == pytest.approx(len(decoded) / rate, abs=1e-4)
    speakers = json.loads((out / "speakers.json").read_text())
    clients = ("client-a", "client-b", "client-c")
    assert speakers == {hashlib.sha1(c.encode()).hexdigest()[:8]: c for c in clients}

    # The stereo 44.1 kHz clip: decoded, channels averaged and resampled independently (scipy polyphase).
    decoded, rate = sf.read(str(cv_dir / "clips" / "common_voice_en_2.mp3"), dtype="float64", always_2d=True)
    g = gcd(SR, rate)
    expected = resample_poly(decoded.mean(axis=1), SR // g, rate // g)
    ours, _ = sf.read(str(out / "wavs" / "common_voice_en_2.wav"), dtype="float64")
    n = min(len(ours), len(expected))
    assert abs(len(ours) - len(expected)) <= 1
    assert np.corrcoef(ours[:n], expected[:n])[0, 1] > 0.999
    rms_ratio = np.sqrt(np.mean(ours[:n] ** 2)) / np.sqrt(np.mean(expected[:n] ** 2))
    assert rms_ratio == pytest.approx(1.0, abs=0.01)  # the left channel alone would give 1.33

    report = json.loads((out / "prepare_report.json").read_text())
    assert report["n_candidates"] == 6 and report["n_utterances"] == 4
    assert report["skipped_by_kind"] == {"too_short": 1, "unreadable": 1}
    unreadable = [s for s in report["skipped"] if s["kind"] == "unreadable"]
    assert unreadable[0]["source"].endswith("common_voice_en_bad.mp3")
    assert "cannot decode audio" in unreadable[0]["reason"] and "Traceback" not in unreadable[0]["reason"]
    assert not (out / "wavs" / "common_voice_en_short.wav").exists()
    assert report["total_seconds"] == pytest.approx(sum(m["duration"] for m in manifest))
    printed = capsys.readouterr().out
    assert "skipped 2 of 6" in printed and "common_voice_en_bad.mp3" in printed

    # Same inputs, one process, another folder: byte-identical filelists.
    other = tmp_path / "cv_again"
    assert main(["common-voice", "--input", str(cv_dir), "--output", str(other), "--val-fraction", "0.25",
                 "--test-fraction", "0.25", "--no-progress", "--jobs", "1"]) == 0
    for name in ("train", "val", "test", "train_multi", "val_multi", "test_multi"):
        first, second = out / "filelists" / f"{name}.txt", other / "filelists" / f"{name}.txt"
        assert first.read_bytes() == second.read_bytes()

    # A rerun reuses the wavs; other conversion settings need --overwrite.
    assert main(args) == 0
    assert json.loads((out / "prepare_report.json").read_text())["n_reused"] == 4
    capsys.readouterr()
    assert main([*args, "--sampling-rate", "16000"]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_common_voice_bad_input_names_file_and_flag(cv_dir: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    out = str(tmp_path / "o")
    assert main(["common-voice", "--input", str(cv_dir), "--output", out, "--splits", "other"]) == 2
    assert "other.tsv" in capsys.readouterr().err
    bad = tmp_path / "cvbad"
    (bad / "clips").mkdir(parents=True)
    (bad / "train.tsv").write_text("client_id\tsentence\nx\thello\n")
    assert main(["common-voice", "--input", str(bad), "--output", out, "--splits", "train"]) == 2
    err = capsys.readouterr().err
    assert "train.tsv:1" in err and "path" in err
    assert main(["common-voice", "--input", str(cv_dir), "--output", out, "--val-fraction", "0.6",
                 "--test-fraction", "0.5"]) == 2
    assert "--val-fraction" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------
# Custom recordings


def test_custom_end_to_end(speech: list[np.ndarray], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    audio_dir = tmp_path / "rec"
    (audio_dir / "sub").mkdir(parents=True)
    pad = lambda a, rate: np.concatenate([np.zeros(rate // 2), a, np.zeros(rate // 2)])  # noqa: E731
    sf.write(str(audio_dir / "a.flac"), pad(_to_rate(speech[0], 44100), 44100), 44100, subtype="PCM_16")
    b = pad(_to_rate(speech[1], 16000), 16000)
    sf.write(str(audio_dir / "sub" / "b.wav"), np.stack([b, b], axis=1), 16000, subtype="PCM_16")
    sf.write(str(audio_dir / "c.wav"), pad(speech[2], SR), SR, subtype="FLOAT")
    sf.write(str(audio_dir / "d.flac"), pad(speech[3], SR), SR)
    transcript = audio_dir / "transcript.txt"
    transcript.write_text("# file|speaker|text or file|text\n"
                          "a.flac|alice|Printing is an art.\n"
                          "sub/b.wav|bob|The birch canoe.\n"
                          "c.wav|Glue the sheet.\n"
                          "\n"
                          "d|carol|No extension given.\n"
                          "gone.wav|dave|This file does not exist.\n", encoding="utf-8")
    out = tmp_path / "custom_out"
    assert main(["custom", "--audio-dir", str(audio_dir), "--transcript", str(transcript),
                 "--output", str(out), "--speaker", "narrator", "--language", "de", "--trim-silence",
                 "--val-fraction", "0", "--test-fraction", "0", "--jobs", "2", "--no-progress"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert {m["id"]: m["speaker"] for m in manifest} == {"a": "alice", "sub_b": "bob", "c": "narrator",
                                                         "d": "carol"}
    assert {m["language"] for m in manifest} == {"de"} and {m["split"] for m in manifest} == {"train"}
    _check_wavs(out, manifest)
    _check_outputs(out, manifest, 0.0, 0.0)
    for item, k in zip(manifest, (0, 2, 3, 1)):  # ids sorted: a, c, d, sub_b
        speech_seconds = len(speech[k]) / SR
        # One second of padding was added; trimming keeps at most 2 x (50 ms margin + one 1024-sample frame).
        assert speech_seconds * 0.5 < item["duration"] < speech_seconds + 2 * (0.05 + 1024 / SR)
    report = json.loads((out / "prepare_report.json").read_text())
    assert report["skipped_by_kind"] == {"missing_file": 1}
    assert report["skipped"][0]["source"] == f"{transcript}:7"

    transcript.write_text("a.flac|alice|fine\nb.wav|too|many|fields\nc.wav|\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["custom", "--audio-dir", str(audio_dir), "--transcript", str(transcript), "--output",
                 str(tmp_path / "x"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{transcript}:2: expected file|text or file|speaker|text, got 4 fields" in err
    assert f"{transcript}:3: empty transcript" in err


# ---------------------------------------------------------------------------------------------------------
# LJSpeech


def test_ljspeech_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ljs = tmp_path / "LJSpeech-1.1"
    (ljs / "wavs").mkdir(parents=True)
    durations = {"LJ001-0001": 1.0, "LJ001-0002": 1.5, "LJ002-0001": 2.0}
    for utt_id, seconds in durations.items():
        t = np.arange(int(seconds * SR)) / SR
        sf.write(str(ljs / "wavs" / f"{utt_id}.wav"), 0.3 * np.sin(2 * np.pi * 200 * t), SR, subtype="PCM_16")
    (ljs / "metadata.csv").write_text(
        'LJ001-0001|Printing, in the only sense|Printing, in the only sense\n'
        'LJ001-0002|in being comparatively modern. "Quoted"|in being comparatively modern. "Quoted"\n'
        'LJ002-0001|Mr. Smith paid $3.|Mister Smith paid three dollars.\n'
        'LJ003-0001|no wav for this one|no wav for this one\n', encoding="utf-8")
    out = tmp_path / "ljs_out"
    assert main(["ljspeech", "--input", str(ljs), "--output", str(out), "--val-fraction", "0.3",
                 "--test-fraction", "0.3", "--no-progress", "--split", "hash"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert {m["id"]: m["duration"] for m in manifest} == durations
    assert next(m for m in manifest if m["id"] == "LJ002-0001")["text"] == "Mister Smith paid three dollars."
    assert {(m["speaker"], m["language"]) for m in manifest} == {("ljs", "en")}
    _check_outputs(out, manifest, 0.3, 0.3)
    assert not (out / "wavs").exists()  # nothing copied
    all_lines = sum((_read_lines(out / "filelists" / f"{s}.txt") for s in ("train", "val", "test")), [])
    assert "wavs/LJ002-0001.wav|Mister Smith paid three dollars." in all_lines
    report = json.loads((out / "prepare_report.json").read_text())
    assert report["dataset_path"] == str(ljs)
    assert report["skipped_by_kind"] == {"missing_file": 1}
    assert report["skipped"][0]["source"] == f"{ljs / 'metadata.csv'}:4"
    assert f"train with -d {ljs}" in capsys.readouterr().out

    (ljs / "metadata.csv").write_text("LJ001-0001|a|b\nLJ001-0002|a|b|c\n", encoding="utf-8")
    assert main(["ljspeech", "--input", str(ljs), "--output", str(out), "--split", "hash"]) == 2
    expected = f"{ljs / 'metadata.csv'}:2: expected id|text|normalized text, got 4 fields"
    assert expected in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------
# Split, trimming, parallel helpers


def test_split_is_a_stable_seeded_hash() -> None:
    ids = [f"utt{i:05d}" for i in range(4000)]
    first = {i: assign_split(i, 7, 0.1, 0.2) for i in ids}
    counts = {s: sum(v == s for v in first.values()) for s in ("train", "val", "test")}
    # Binomial standard deviations are about 19 (val) and 25 (test): allow 4 of them.
    assert abs(counts["val"] - 400) < 80 and abs(counts["test"] - 800) < 100
    more = ids + [f"new{i}" for i in range(1000)]
    assert all(assign_split(i, 7, 0.1, 0.2) == first[i] for i in more[:4000])  # adding data moves nothing
    other_seed = sum(assign_split(i, 8, 0.1, 0.2) != first[i] for i in ids)
    assert other_seed > 1000  # two independent draws differ in about 46 % of cases
    # The documented formula, computed independently.
    for utt_id in ("LJ001-0001", "common_voice_en_1", "a"):
        digest = hashlib.sha256(f"7:{utt_id}".encode()).digest()
        assert split_point(utt_id, 7) == int.from_bytes(digest[:8], "big") / 2**64
    assert assign_split("x", 1, 0.0, 0.0) == "train"


def test_trim_silence_hand_computed() -> None:
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(11025) / SR)
    audio = np.concatenate([np.zeros(SR), tone, np.zeros(SR)])  # tone on samples [22050, 33075)
    trimmed = trim_silence(audio, SR, top_db=40.0, margin=0.05, frame_length=1024, hop_length=256)
    # First loud frame: smallest i with 256 i + 1024 > 22050 -> 83; last: largest i with 256 i < 33075 -> 129.
    # Kept: [83*256 - 1102, 129*256 + 1024 + 1102) = [20146, 35150) (margin round(0.05 * 22050) = 1102).
    assert trimmed.size == 35150 - 20146
    np.testing.assert_array_equal(trimmed, audio[20146:35150])
    assert trim_silence(np.zeros(5000), SR).size == 0
    assert trim_silence(tone, SR).size == tone.size  # nothing to cut: margins clip at the edges


def _fails_on_odd(n: int) -> int:
    if n == 5:
        raise ValueError("five")
    if n % 2:
        raise DatasetError(f"item {n} is odd")
    if n == 4:
        raise KeyError("four")
    return n * 10


def test_run_parallel_returns_worker_errors_as_messages() -> None:
    for jobs in (1, 2):
        results = run_parallel(_fails_on_odd, list(range(7)), jobs=jobs, progress=False)
        assert [r.index for r in results] == list(range(7))
        assert [r.value for r in results] == [0, None, 20, None, None, None, 60]
        assert results[3].error == "item 3 is odd"
        assert results[4].error == "KeyError: 'four'"
        assert results[5].error == "ValueError: five"  # foreign exceptions keep their type name
    with pytest.raises(DatasetError, match="--jobs"):
        run_parallel(_fails_on_odd, [1], jobs=0)


# ---------------------------------------------------------------------------------------------------------
# Validation


def _sine(path: Path, seconds: float, rate: int = SR, channels: int = 1) -> float:
    t = np.arange(int(round(seconds * rate))) / rate
    data = 0.3 * np.sin(2 * np.pi * 220 * t)
    sf.write(str(path), np.stack([data] * channels, axis=1) if channels > 1 else data, rate, subtype="PCM_16")
    return len(t) / rate


@pytest.fixture
def defect_dataset(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "ds"
    wavs = root / "wavs"
    wavs.mkdir(parents=True)
    _sine(wavs / "good1.wav", 1.0)
    _sine(wavs / "good2.wav", 1.2)
    _sine(wavs / "good3.wav", 0.8)
    _sine(wavs / "long.wav", 3.0)
    _sine(wavs / "rate.wav", 1.0, rate=16000)
    _sine(wavs / "stereo.wav", 1.0, channels=2)
    _sine(wavs / "short.wav", 0.1)
    (wavs / "bad.wav").write_bytes(b"RIFF" + np.random.default_rng(1).bytes(500))
    filelist = root / "train.txt"
    filelist.write_text(
        "wavs/good1.wav|Hello world.|spk1|en\n"             # 1 fine
        "wavs/missing.wav|Missing file.|spk1|en\n"          # 2 missing file
        "wavs/bad.wav|Unreadable file.|spk1|en\n"           # 3 unreadable
        "wavs/rate.wav|Wrong rate.|spk2|en\n"               # 4 16 kHz
        "wavs/stereo.wav|Two channels.|spk2|en\n"           # 5 stereo
        "wavs/short.wav|Too short.|spk2|fr\n"               # 6 0.1 s
        "wavs/good2.wav|Salt & pepper {HH AH0 QQ1}.|spk2|fr\n"  # 7 '&' and an unknown phoneme
        "wavs/good3.wav|   |spk1|en\n"                      # 8 empty transcript
        "wavs/good3.wav|too|many|fields|here|x\n"           # 9 malformed
        "wavs/good1.wav|Hello again.|spk1|en\n"             # 10 duplicate of line 1
        "wavs/long.wav|A long one.|spk1|en\n",              # 11 too long (warning)
        encoding="utf-8")
    return root, filelist


def test_validate_catches_each_planted_defect(defect_dataset: tuple[Path, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    root, filelist = defect_dataset
    report_path = tmp_path / "report.json"
    assert main(["validate", "--filelist", str(filelist), "--dataset-path", str(root), "--max-duration", "2",
                 "--report", str(report_path), "--no-progress"]) == 1
    report = json.loads(report_path.read_text())
    issues = {(i["kind"], i["where"]): i for i in report["issues"]}

    def at(line: int) -> str:
        return f"{filelist}:{line}"

    assert issues[("missing_file", at(2))]["severity"] == "error"
    assert issues[("unreadable_audio", at(3))]["severity"] == "error"
    assert issues[("sampling_rate", at(4))]["details"]["sampling_rate"] == 16000
    assert issues[("channels", at(5))]["details"]["channels"] == 2
    assert issues[("too_short", at(6))]["details"]["duration"] == pytest.approx(0.1, abs=1e-4)
    assert set(issues[("unknown_characters", at(7))]["details"]["characters"]) == {"&", "{QQ1}"}
    assert issues[("empty_transcript", at(8))]["severity"] == "error"
    assert "got 6" in issues[("malformed_line", at(9))]["message"]
    assert at(1) in issues[("duplicate_path", at(10))]["message"]
    assert issues[("too_long", at(11))]["severity"] == "warning"
    expected_kinds = {"missing_file", "unreadable_audio", "sampling_rate", "channels", "too_short",
                      "unknown_characters", "empty_transcript", "malformed_line", "duplicate_path"}
    assert set(report["errors_by_kind"]) == expected_kinds  # and nothing else is flagged
    assert all(n == 1 for n in report["errors_by_kind"].values())
    assert report["warnings_by_kind"] == {"too_long": 1}

    # Per-speaker counts and hours: readable audio only (missing/unreadable files count 0 s).
    spk1 = 1.0 + 0.8 + 1.0 + 3.0  # lines 1, 8, 10, 11 (2 and 3 have no audio)
    assert report["per_speaker"]["spk1"] == {"utterances": 6, "seconds": pytest.approx(spk1)}
    assert report["per_speaker"]["spk2"] == {"utterances": 4, "seconds": pytest.approx(1.0 + 1.0 + 0.1 + 1.2)}
    assert report["per_language"]["fr"]["utterances"] == 2
    printed = capsys.readouterr().out
    assert "result: FAILED (9 errors)" in printed and f"{filelist}:9" in printed


def test_validate_clean_dataset_passes(defect_dataset: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = defect_dataset
    clean = root / "clean.txt"
    clean.write_text("wavs/good1.wav|Hello world.\nwavs/good2.wav|Dr. Smith paid, (they say) gladly!\n"
                     "wavs/long.wav|A long one.\n", encoding="utf-8")
    report = validate_filelists([clean], root, max_duration=20.0, progress=False)
    assert report.ok and not report.issues
    assert report.total_seconds == pytest.approx(1.0 + 1.2 + 3.0)
    base = ["validate", "-f", str(clean), "-d", str(root), "--max-duration", "2", "--no-progress"]
    assert main(base) == 0  # a too-long clip is only a warning ...
    assert main([*base, "--strict"]) == 1  # ... unless --strict
    # Letters outside the symbol set are an error (basic_cleaners does not transliterate).
    umlaut = root / "umlaut.txt"
    umlaut.write_text("wavs/good1.wav|Straße\n", encoding="utf-8")
    report = validate_filelists([umlaut], root, text_cleaners=["basic_cleaners"], progress=False)
    assert [(i.kind, i.severity, i.details["characters"]) for i in report.issues] == [
        ("unknown_characters", "error", ["ß"])]
    with pytest.raises(DatasetError, match="--text-cleaners"):
        validate_filelists([clean], root, text_cleaners=["no_such_cleaner"], progress=False)

    # The entry points, as users run them (argument errors exit 2 before the slow text front end loads).
    env = {**os.environ, "PYTHONPATH": ""}
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "prepare_data.py"), "validate", "-f",
                           str(root / "nope.txt")], capture_output=True, text=True, timeout=120, env=env,
                          cwd=tmp_path)
    assert proc.returncode == 2 and f"--filelist {root / 'nope.txt'}: file not found" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "common.datasets", "--help"], capture_output=True, text=True,
                          timeout=120, cwd=REPO)
    assert proc.returncode == 0 and "common-voice" in proc.stdout

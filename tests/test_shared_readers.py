"""Helpers shared by the text-file readers (filelists, transcripts, metadata) and the wav-reuse check.

The callers' messages are asserted to the letter: the helpers replaced per-reader copies, and the CLI
prints these messages as they are.
"""

import random
import re

import numpy as np
import pytest
import soundfile as sf

from common.data_tools.corpus_text import _DE, _ES, _FR
from common.data_tools.dataset_split import DatasetSplitError, read_ljspeech_metadata
from common.datasets.convert import reusable_wav_duration
from common.datasets.custom import read_transcript
from common.datasets.ljspeech import read_metadata
from common.datasets.manifest import DatasetError
from common.filelist import FilelistError, malformed_lines_message, read_filelist, read_numbered_lines


class _Boom(ValueError):
    pass


def _read(path, **kwargs):
    return read_numbered_lines(path, _Boom, not_found="missing {path}", unreadable="bad {path}: {err}",
                               **kwargs)


def test_numbered_lines_skip_blank_lines_and_comments_only_when_asked(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("a|1\n\n   \n# note\n  #indented note\nb|2\r\n", encoding="utf-8")
    assert _read(path) == [(1, "a|1"), (4, "# note"), (5, "  #indented note"), (6, "b|2")]
    assert _read(path, comments=True) == [(1, "a|1"), (6, "b|2")]


def test_numbered_lines_encoding(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffid|é\n".encode())
    assert _read(path, encoding="utf-8-sig") == [(1, "id|é")]
    assert _read(path) == [(1, "id|é")]  # the default drops a byte order mark (issue 17)
    assert _read(path, encoding="utf-8") == [(1, "\ufeffid|é")]


def test_numbered_lines_errors_use_the_callers_class_and_words(tmp_path):
    with pytest.raises(_Boom) as info:
        _read(tmp_path / "nope.txt")
    assert str(info.value) == f"missing {tmp_path / 'nope.txt'}"
    (tmp_path / "latin1.txt").write_bytes(b"ok\ncaf\xe9\n")  # undecodable lines are named by number
    with pytest.raises(_Boom, match=rf"^bad {re.escape(str(tmp_path / 'latin1.txt'))}: line 2 is not valid "
                                    r"utf-8 \(byte 0xe9 at column 4: invalid continuation byte\)$"):
        _read(tmp_path / "latin1.txt")
    with pytest.raises(_Boom, match=rf"^bad {re.escape(str(tmp_path))}: \[Errno"):
        _read(tmp_path)  # a folder: IsADirectoryError is an OSError


def test_braces_in_a_path_are_kept(tmp_path):
    path = tmp_path / "{err}.txt"
    with pytest.raises(_Boom) as info:
        _read(path)
    assert str(info.value) == f"missing {path}"


def test_malformed_lines_message_lists_at_most_limit():
    assert malformed_lines_message(["x:1: a", "x:2: b"], "metadata") == (
        "2 malformed metadata line(s):\n  x:1: a\n  x:2: b")
    problems = [f"x:{i}: bad" for i in range(1, 24)]
    message = malformed_lines_message(problems, "transcript")
    lines = message.split("\n")
    assert lines[0] == "23 malformed transcript line(s):"
    assert lines[1:21] == [f"  x:{i}: bad" for i in range(1, 21)]
    assert lines[21:] == ["  ... and 3 more"]
    assert malformed_lines_message(problems, "t", limit=23).count("\n") == 23


def test_reader_messages_are_unchanged(tmp_path):
    missing = tmp_path / "missing.txt"
    cases = [
        (read_filelist, FilelistError, f"filelist not found: {missing}"),
        (read_transcript, DatasetError, f"--transcript {missing}: file not found"),
        (read_metadata, DatasetError, f"{missing}: metadata file not found (is --input an LJSpeech folder?)"),
        (read_ljspeech_metadata, DatasetSplitError, f"metadata file not found: {missing}"),
    ]
    for reader, error, message in cases:
        with pytest.raises(error) as info:
            reader(missing)
        assert str(info.value) == message, reader.__name__
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"a|caf\xe9\n")
    for reader, prefix in [(read_filelist, f"cannot read filelist {bad}: "),
                           (read_transcript, f"--transcript {bad}: cannot read ("),
                           (read_metadata, f"{bad}: cannot read ("),
                           (read_ljspeech_metadata, f"cannot read metadata file {bad}: ")]:
        with pytest.raises(ValueError) as info:
            reader(bad)
        expected = prefix + "line 1 is not valid utf-8 (byte 0xe9 at column 6: invalid continuation byte)"
        assert str(info.value).startswith(expected), reader.__name__


def test_readers_number_lines_after_skipped_ones(tmp_path):
    transcript = tmp_path / "transcript.txt"
    transcript.write_text("\ufeff# mine\n\na.wav|Hello.\nb.wav|spk|Hi.\n", encoding="utf-8")
    lines = read_transcript(transcript)
    assert [(t.file, t.speaker, t.text, t.where) for t in lines] == [
        ("a.wav", None, "Hello.", f"{transcript}:3"), ("b.wav", "spk", "Hi.", f"{transcript}:4")]
    metadata = tmp_path / "metadata.csv"
    metadata.write_text("\nLJ1|One.|one\n\nLJ2|Two.|two\n", encoding="utf-8")
    assert [r.where for r in read_metadata(metadata)] == [f"{metadata}:2", f"{metadata}:4"]
    assert read_ljspeech_metadata(metadata) == [("LJ1", "One.", "one"), ("LJ2", "Two.", "two")]
    metadata.write_text("LJ1|One.|one\n\nLJ1|Again.|again\n", encoding="utf-8")
    with pytest.raises(DatasetSplitError, match=r"metadata.csv:3: id LJ1 already used on line 1$"):
        read_ljspeech_metadata(metadata)


def test_many_malformed_transcript_lines_are_listed_in_one_error(tmp_path):
    transcript = tmp_path / "transcript.txt"
    transcript.write_text("".join(f"only_a_file_{i}\n" for i in range(25)), encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        read_transcript(transcript)
    lines = str(info.value).split("\n")
    assert lines[0] == "25 malformed transcript line(s):"
    assert lines[1] == (f"  {transcript}:1: expected file|text or file|speaker|text, got 1 fields: "
                        "'only_a_file_0'")
    assert len(lines) == 22 and lines[-1] == "  ... and 5 more"


def _wav(path, rate=22050, channels=1, subtype="PCM_16", frames=2205):
    data = np.zeros((frames, channels), dtype=np.float32) + 0.1
    sf.write(str(path), data, rate, subtype=subtype, format="WAV")
    return path


def test_reusable_wav_duration(tmp_path):
    good = _wav(tmp_path / "good.wav")
    assert reusable_wav_duration(good, 22050) == pytest.approx(0.1)
    assert reusable_wav_duration(good, 16000) is None
    assert reusable_wav_duration(_wav(tmp_path / "st.wav", channels=2), 22050) is None
    assert reusable_wav_duration(_wav(tmp_path / "empty.wav", frames=0), 22050) is None
    assert reusable_wav_duration(tmp_path / "missing.wav", 22050) is None
    (tmp_path / "junk.wav").write_bytes(b"not a wav at all")
    assert reusable_wav_duration(tmp_path / "junk.wav", 22050) is None
    floats = _wav(tmp_path / "float.wav", subtype="FLOAT", frames=4410)
    assert reusable_wav_duration(floats, 22050) is None  # dataset conversion wants PCM_16
    assert reusable_wav_duration(floats, 22050, subtype=None) == pytest.approx(0.2)  # the corpus does not


@pytest.mark.parametrize("spec", [_FR, _DE, _ES], ids=["fr", "de", "es"])
def test_agreeing_number_slots(spec):
    assert sorted(spec.numbers) == ["count", "hour", "minutes", "price", "year"]
    rng = random.Random(0)
    counts = {int(spec.numbers["count"](rng)) for _ in range(2000)}
    assert counts == {v for v in range(2, 100) if v % 10 != 1 or v == 11}
    prices = [int(spec.numbers["price"](rng)) for _ in range(2000)]
    assert min(prices) >= 2 and max(prices) <= 999
    assert all(p % 10 != 1 or p % 100 == 11 for p in prices)
    assert {int(spec.numbers["hour"](rng)) for _ in range(500)} == set(range(2, 13))
    years = [int(spec.numbers["year"](rng)) for _ in range(500)]
    assert 1800 <= min(years) and max(years) <= 2029
    assert _FR.numbers is not _DE.numbers  # each language owns its dict


def test_one_metadata_reader_serves_the_split_and_the_adapter(tmp_path):
    metadata = tmp_path / "metadata.csv"
    metadata.write_text("LJ1|One.|one\nLJ2|Two.\nLJ3|Three.|\n|x|y\nLJ1|Again.|again\n", encoding="utf-8")
    with pytest.raises(DatasetSplitError) as info:  # every malformed line at once, in the split's words
        read_ljspeech_metadata(metadata)
    assert str(info.value).split("\n") == [
        "4 malformed metadata line(s):",
        f"  {metadata}:2: expected 3 fields id|text|normalized text, got 2: 'LJ2|Two.'",
        f"  {metadata}:3: empty normalized text",
        f"  {metadata}:4: empty id",
        f"  {metadata}:5: id LJ1 already used on line 1",
    ]
    with pytest.raises(DatasetError) as info:  # the adapter takes id|text lines and empty normalized texts
        read_metadata(metadata)
    assert str(info.value).split("\n")[1:] == [f"  {metadata}:4: empty id",
                                               f"  {metadata}:5: id LJ1 already used on line 1"]
    metadata.write_text("LJ1|One.|one\nLJ2|Two  words.\n", encoding="utf-8")
    assert [(r.id, r.text, r.normalized) for r in read_metadata(metadata)] == [
        ("LJ1", "One.", "one"), ("LJ2", "Two words.", "")]

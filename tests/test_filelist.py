"""Filelist parsing: both layouts, and errors that name file and line."""

import pytest

from common.filelist import FilelistEntry, FilelistError, read_filelist, resolve_path, write_filelist


def test_reads_both_layouts_and_skips_blank_and_comment_lines(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("# header\nwavs/a.wav|Hello there.\n\nwavs/b.wav|Bonjour.|spk1|fr\n", encoding="utf-8")
    entries = read_filelist(path)
    assert entries[0] == FilelistEntry("wavs/a.wav", "Hello there.", None, None, str(path), 2)
    assert entries[1] == FilelistEntry("wavs/b.wav", "Bonjour.", "spk1", "fr", str(path), 4)


@pytest.mark.parametrize("line, message", [
    ("wavs/a.wav", "expected 2 fields"),
    ("wavs/a.wav|text|spk", "got 3"),
    ("wavs/a.wav|   ", "empty transcript"),
    ("|text", "empty audio path"),
    ("wavs/a.wav|text||en", "empty speaker or language"),
])
def test_malformed_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.txt"
    path.write_text("wavs/ok.wav|fine\n" + line + "\n", encoding="utf-8")
    with pytest.raises(FilelistError, match=rf"bad.txt:2: .*{message}"):
        read_filelist(path)


def test_missing_and_empty_filelists(tmp_path):
    with pytest.raises(FilelistError, match="not found"):
        read_filelist(tmp_path / "nope.txt")
    (tmp_path / "empty.txt").write_text("\n# only a comment\n")
    with pytest.raises(FilelistError, match="no entries"):
        read_filelist(tmp_path / "empty.txt")


def test_write_round_trip_and_resolve(tmp_path):
    entries = [FilelistEntry("wavs/a.wav", "one", "s0", "en"), FilelistEntry("/abs/b.wav", "two", "s1", "de")]
    write_filelist(tmp_path / "out" / "l.txt", entries, multi_speaker=True)
    back = read_filelist(tmp_path / "out" / "l.txt")
    assert [(e.audio_path, e.text, e.speaker, e.language) for e in back] == [
        ("wavs/a.wav", "one", "s0", "en"), ("/abs/b.wav", "two", "s1", "de")]
    write_filelist(tmp_path / "single.txt", entries, multi_speaker=False)
    assert (tmp_path / "single.txt").read_text() == "wavs/a.wav|one\n/abs/b.wav|two\n"
    assert resolve_path(tmp_path, "wavs/a.wav") == tmp_path / "wavs/a.wav"
    assert str(resolve_path(tmp_path, "/abs/b.wav")) == "/abs/b.wav"
    with pytest.raises(FilelistError, match="needs a speaker"):
        write_filelist(tmp_path / "x.txt", [FilelistEntry("a.wav", "t")], multi_speaker=True)


def test_filter_cli_keeps_language_and_writes_single_speaker_lines(tmp_path, capsys):
    from common.filelist import main

    src = tmp_path / "multi.txt"
    src.write_text("a.wav|one|s0|en\nb.wav|deux|s1|fr\nc.wav|three|s1|en\n")
    assert main(["filter", str(src), str(tmp_path / "en.txt"), "--language", "en", "--single"]) == 0
    assert (tmp_path / "en.txt").read_text() == "a.wav|one\nc.wav|three\n"
    with pytest.raises(SystemExit):
        main(["filter", str(src), str(tmp_path / "x.txt"), "--language", "ko"])
    assert "no line matches" in capsys.readouterr().err

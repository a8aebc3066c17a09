"""Tests for the per-language front ends (fr, de, es, ko, am), symbol sets and the espeak-ng IPA path."""

from __future__ import annotations

import random
import re
import shutil
import string
import unicodedata

import pytest

from common.data_tools.corpus_text import generate_sentences, normalize_for_language
from common.text import (
    SUPPORTED_LANGUAGES,
    SymbolTable,
    UnsupportedLanguageError,
    available_cleaners,
    clean_for_language,
    clean_text,
    extended_table,
    language_symbols,
    multilingual_symbol_table,
    sequence_to_text,
    table_from_texts,
    text_to_sequence,
)
from common.text.lang.amharic import SYLLABLES, amharic_cleaners, ethiopic_number
from common.text.lang.french import french_cleaners
from common.text.lang.german import german_cleaners
from common.text.lang.korean import JAMO, korean_cleaners
from common.text.lang.numbers import spell_number
from common.text.lang.shared import PUNCTUATION
from common.text.lang.spanish import spanish_cleaners

HAS_ESPEAK = shutil.which("espeak-ng") is not None

# --------------------------------------------------------------------------------------------------
# French, German, Spanish: exact outputs


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Il a 21 ans.", "il a vingt et un ans."),
        ("En 1998, 2e fois", "en mille neuf cent quatre-vingt-dix-huit, deuxième fois"),
        (
            "M. Dupont et Mme Durand ont payé 12,50 € le 1er mai 2021.",
            "monsieur dupont et madame durand ont payé douze euros et cinquante centimes le premier mai "
            "deux mille vingt et un.",
        ),
        (
            "Le 2e étage, à 14h30 : « Bonjour » — dit-il…",
            "le deuxième étage, à quatorze heures trente: bonjour - dit-il...",
        ),
        ("Il y a 1 000 000 € et 3,14 %.", "il y a un million d'euros et trois virgule quatorze pour cent."),
        ("Prix : 1 £, 21 £ et 0,05 €", "prix: une livre, vingt et une livres et cinq centimes"),
        ("Le Dr Martin, n° 5, etc.", "le docteur martin, numéro cinq, et cetera."),
        ("aujourd’hui -5 degrés, code 007", "aujourd'hui moins cinq degrés, code zéro zéro sept"),
        (
            "ÇA ÉTÉ, Œuvre NOËL naïf Île Hôtel où L'Haÿ âge Æ ÜBER",
            "ça été, œuvre noël naïf île hôtel où l'haÿ âge æ über",
        ),
        ("Señor Müller Øre", "senor müller ore"),  # letters French lacks are transliterated
    ],
)
def test_french_cleaners(text, expected):
    assert french_cleaners(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Am 3. Mai 2021", "am dritten mai zweitausendeinundzwanzig"),
        (
            "Im Jahr 1998 baute sie 21 Häuser.",
            "im jahr neunzehnhundertachtundneunzig baute sie einundzwanzig häuser.",
        ),
        (
            "Hr. Müller zahlte 12,50 € z. B. um 14:30 Uhr.",
            "herr müller zahlte zwölf euro und fünfzig cent zum beispiel um vierzehn uhr dreißig.",
        ),
        ("Er ist 30. Dann ging er.", "er ist dreißig. dann ging er."),  # no ordinal cue: a cardinal
        (
            "Der 2. Weltkrieg, 1 Hund, 3,14 % und 1.000.000 €",
            "der zweite weltkrieg, ein hund, drei komma eins vier prozent und eine million euro",
        ),
        (
            "Das kostet 1 € bzw. 1,01 €, usw.",
            "das kostet ein euro beziehungsweise ein euro und ein cent, und so weiter.",
        ),
        ("Fr. Dr. Schmidt, Hauptstr. 5 — „Zitat“", "frau doktor schmidt, hauptstraße fünf - zitat"),
        ("Straße ẞ Äpfel Öl Übung café", "straße ß äpfel öl übung cafe"),
    ],
)
def test_german_cleaners(text, expected):
    assert german_cleaners(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Tengo 15 años", "tengo quince años"),
        ("Tengo 21 años y 1 perro.", "tengo veintiún años y un perro."),
        (
            "El 1 de mayo de 2021, el Sr. García pagó 12,50 €.",
            "el uno de mayo de dos mil veintiuno, el señor garcía pagó doce euros con cincuenta céntimos.",
        ),
        ("¿Dónde está la 2ª puerta? ¡En el 1.er piso!", "¿dónde está la segunda puerta? ¡en el primer piso!"),
        (
            "A las 14:30, la Dra. Pérez vio 1.000.000 € y 1 £ — 200 £.",
            "a las catorce y treinta, la doctora pérez vio un millón de euros y una libra - doscientas "
            "libras.",
        ),
        ("Vivo en el 3.º, nº 5, pág. 12 etc.", "vivo en el tercero, número cinco, página doce etcétera."),
        ("la 21ª vez", "la vigésima primera vez"),
        ("ÑANDÚ pingüino Árbol él ÍO ÚLTIMO", "ñandú pingüino árbol él ío último"),
    ],
)
def test_spanish_cleaners(text, expected):
    assert spanish_cleaners(text) == expected


def test_latin_cleaners_keep_edge_spaces_only_where_the_input_had_them():
    # text_to_sequence cleans the pieces around {ARPAbet} separately: their outer spaces are word breaks.
    assert french_cleaners(" bonjour ") == " bonjour "
    assert french_cleaners("« Bonjour »") == "bonjour"
    table = extended_table(SymbolTable.default(), ["de"])
    ids = text_to_sequence("Hallo {HH AH0} 2 Welt", ["german_cleaners"], table)
    assert sequence_to_text(ids, table) == "hallo {HH AH0} zwei welt"
    table = multilingual_symbol_table(["de"])
    ids = text_to_sequence("Hallo 2 Welt", ["german_cleaners"], table)
    assert sequence_to_text(ids, table) == "hallo zwei welt"


# --------------------------------------------------------------------------------------------------
# Korean


def _decompose(syllables: str) -> str:
    """Hangul syllables to conjoining jamo by the Unicode arithmetic (independent of unicodedata)."""
    out = []
    for ch in syllables:
        index = ord(ch) - 0xAC00
        if 0 <= index < 11172:
            lead, rest = divmod(index, 588)
            vowel, tail = divmod(rest, 28)
            out += [chr(0x1100 + lead), chr(0x1161 + vowel)] + ([chr(0x11A7 + tail)] if tail else [])
        else:
            out.append(ch)
    return "".join(out)


def test_korean_jamo_and_round_trip():
    jamo = korean_cleaners("한국어")
    assert jamo == "\u1112\u1161\u11ab\u1100\u116e\u11a8\u110b\u1165"  # ᄒ ᅡ ᆫ ᄀ ᅮ ᆨ ᄋ ᅥ
    assert unicodedata.normalize("NFC", jamo) == "한국어"
    assert len(JAMO) == 19 + 21 + 27


@pytest.mark.parametrize(
    "text, spoken",
    [
        ("이 책은 3,500원입니다.", "이 책은 삼천오백원입니다."),
        ("오늘 기온은 -3.5도, 습도 40%입니다!", "오늘 기온은 마이너스 삼 점 오도, 습도 사십퍼센트입니다!"),
        ("KTX를 탔습니다 ₩12000", "ktx를 탔습니다 만 이천원"),
        ("우리 가족은 1964년에", "우리 가족은 천구백육십사년에"),
    ],
)
def test_korean_numbers_are_sino_korean(text, spoken):
    cleaned = korean_cleaners(text)
    assert cleaned == _decompose(spoken)
    assert unicodedata.normalize("NFC", cleaned) == spoken


def test_korean_compatibility_jamo_become_conjoining():
    assert korean_cleaners("ㄱ ㅏ") == "\u1100 \u1161"


# --------------------------------------------------------------------------------------------------
# Amharic


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ሰላም", "selam"),
        ("ሰላም።", "selam."),
        ("ሀ ሁ ሂ ሃ ሄ ህ ሆ ሇ", "he hu hi ha hie h ho hoa"),
        ("ቋ ቍ ጠ ጨ ጸ ፀ አ እ ዓ ፘ ሏ", "qwa qw t'e ch'e ts'e ts'e e i a rya lwa"),
        ("ኢትዮጵያ", "ityop'ya"),
        ("ሰላም፣ ዓለም፤ ነው፧ ነው። ሀ፡ሀ፥ ሀ፦", "selam, alem; new? new. he he: he:"),
        ("መጽሐፉ 12 ብር ነው።", "mets'hefu esra hulet br new."),
        ("መጽሐፉ ፲፪ ብር ነው።", "mets'hefu esra hulet br new."),
        ("በ12 ሰዓት", "beesra hulet seat"),
        ("1500", "end emst ziero ziero"),  # beyond num2words' Amharic range: digit by digit
        ("ልጁ don't", "lju dont"),
    ],
)
def test_amharic_cleaners(text, expected):
    assert amharic_cleaners(text) == expected


def test_ethiopic_numerals():
    cases = {"፩": 1, "፲፪": 12, "፻": 100, "፻፳": 120, "፪፻፳፫": 223, "፲፱፻፺": 1990, "፼": 10000,
             "፪፼፫፻": 20300, "፻፼": 1_000_000}  # fmt: skip
    assert {k: ethiopic_number(k) for k in cases} == cases


_NAME_VOWELS = {"A": "e", "U": "u", "I": "i", "AA": "a", "EE": "ie", "O": "o"}


def test_every_syllable_of_the_basic_block_is_romanised():
    allowed = set(string.ascii_lowercase + "'")
    for cp in range(0x1200, 0x135B):
        ch = chr(cp)
        name = unicodedata.name(ch, "")
        if not name.startswith("ETHIOPIC SYLLABLE"):
            assert ch not in SYLLABLES, hex(cp)
            continue
        roman = SYLLABLES[ch]
        assert roman and set(roman) <= allowed, (hex(cp), name, roman)
        suffix = name.removeprefix("ETHIOPIC SYLLABLE ")
        if cp >= 0x1358:  # RYA, MYA, FYA
            assert roman.endswith("ya"), (name, roman)
        elif cp % 8 == 7:  # the eighth column: a labialised or *OA syllable
            assert roman.endswith("oa" if suffix.endswith("OA") else "wa"), (name, roman)
        else:
            vowel = re.search(r"(AA|EE|A|U|I|E|O)$", suffix).group(1)
            if vowel == "E":  # sixth order: bare consonant, "i" in the vowel rows
                vowel_rows = suffix.startswith(("GLOTTAL", "PHARYNGEAL"))
                assert roman == "i" if vowel_rows else roman[-1] not in "aeiou", (name, roman)
            else:
                assert roman.endswith(_NAME_VOWELS[vowel]), (name, roman)
    assert len(SYLLABLES) == 326


# --------------------------------------------------------------------------------------------------
# Dispatch, symbol sets


def test_dispatch_and_registry():
    assert {"french_cleaners", "german_cleaners", "spanish_cleaners", "korean_cleaners",
            "amharic_cleaners"} <= set(available_cleaners())  # fmt: skip
    assert clean_for_language("Il a 21 ans.", "fr") == "il a vingt et un ans."
    assert clean_for_language("Dr. Smith has 2 cats.", "en") == "doctor smith has two cats."
    with pytest.raises(UnsupportedLanguageError, match="'it'.*supported: en, fr, de, es, ko, am"):
        clean_for_language("ciao", "it")


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_cleaned_corpus_sentences_stay_inside_the_language_symbols(lang):
    symbols = set(language_symbols(lang))
    assert set(PUNCTUATION + " ") <= symbols and "_" not in symbols
    for sentence in generate_sentences(lang, 50, seed=11):
        spoken = normalize_for_language(sentence, lang)
        for source in (sentence, spoken):
            cleaned = clean_for_language(source, lang)
            assert set(cleaned) <= symbols, (source, set(cleaned) - symbols)
        cleaned = clean_for_language(sentence, lang)
        assert cleaned == clean_for_language(spoken, lang) or lang == "en"
        if lang in ("fr", "de", "es"):  # no letter of the sentence was transliterated or dropped
            letters = {c for c in unicodedata.normalize("NFC", spoken) if c.isalpha()}
            assert letters <= set(cleaned), (sentence, letters - set(cleaned))
        elif lang == "ko":
            assert unicodedata.normalize("NFC", cleaned) == spoken
        elif lang == "am":
            assert len(cleaned.split()) == len(spoken.split()), (spoken, cleaned)


@pytest.mark.parametrize("lang", ["fr", "de", "es", "ko", "am"])
def test_any_input_maps_into_the_inventory(lang):
    """Random mixes of digits, symbols, quotes, other scripts and spaces: no error, nothing outside."""
    rng = random.Random(f"fuzz-{lang}")
    pool = ("0123456789 ,.;:!?-'\"%€$£&()[]/@#*+=<>~^_|«»“”’–—…ºª°·abcXYZéÉßẞñÑüÜçœ한국어ㄱㅏ"
            "ሰላም።፣፩፲፻፼中日\u00a0\u202f\t\n١٢٣")  # fmt: skip
    symbols = set(language_symbols(lang))
    for _ in range(300):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 30)))
        cleaned = clean_for_language(text, lang)
        assert set(cleaned) <= symbols and "  " not in cleaned, (text, cleaned)


def test_language_symbol_inventories():
    assert language_symbols("en") == sorted(string.ascii_lowercase + PUNCTUATION + " ")
    assert set("äöüß") <= set(language_symbols("de")) and "é" not in language_symbols("de")
    assert set("ñ¿¡áéíóúü") <= set(language_symbols("es"))
    assert set("àâæçéèêëîïôœùûüÿ") <= set(language_symbols("fr"))
    assert len(language_symbols("ko")) == 67 + 26 + len(PUNCTUATION) + 1
    assert language_symbols("am") == language_symbols("en")  # romanised to ASCII


def test_multilingual_table_is_order_independent():
    table = multilingual_symbol_table(["fr", "de", "es"])
    assert table == multilingual_symbol_table(["es", "de", "fr"])
    union = set(language_symbols("fr")) | set(language_symbols("de")) | set(language_symbols("es"))
    assert table.to_list() == ["_", *sorted(union)]
    assert table.id("_") == 0 and SymbolTable(table.to_list()) == table


def test_extended_table_keeps_every_base_id():
    base = SymbolTable.default()
    table = extended_table(base, ["fr", "de", "es", "ko"])
    assert all(table.id(s) == i for i, s in enumerate(base))
    added = table.to_list()[len(base) :]
    assert added == sorted(set(multilingual_symbol_table(["fr", "de", "es", "ko"])) - set(base))
    assert "ß" in added and "\u1100" in added and "a" not in added
    # Romanised Amharic needs no new symbol: the NGC table already has a-z, "'" and the punctuation.
    assert extended_table(base, ["am"]) == base
    ids = text_to_sequence("Füße", ["german_cleaners"], table)
    assert sequence_to_text(ids, table) == "füße"


def test_table_from_texts():
    texts = ["Élan 2", "ça"]
    table = table_from_texts(texts, "french_cleaners")
    # "élan deux", "ça"
    assert table.to_list() == ["_", " ", "a", "d", "e", "l", "n", "u", "x", "ç", "é"]
    assert table_from_texts(texts, french_cleaners) == table
    extended = table_from_texts(texts, ["french_cleaners"], base=SymbolTable.default())
    assert extended.to_list() == SymbolTable.default().to_list() + ["ç", "é"]


def test_spell_number_falls_back_to_digits():
    assert spell_number(1099, "am") == "አንድ ሺህ ዘጠና ዘጠኝ"
    assert spell_number(1100, "am") == "አንድ አንድ ዜሮ ዜሮ"
    assert spell_number(10**16, "fr").split() == ["un"] + ["zéro"] * 16
    with pytest.raises(UnsupportedLanguageError):
        spell_number(3, "xx")


# --------------------------------------------------------------------------------------------------
# IPA through espeak-ng


@pytest.mark.skipif(not HAS_ESPEAK, reason="espeak-ng not installed")
def test_ipa_for_english_and_french():
    from common.text.phonemes import phonemize

    en = phonemize("Hello, Dr. Smith!", "en")
    fr = phonemize("Il a 21 ans.", "fr")
    assert en.startswith("həlˈoʊ,") and en.endswith("!") and "smˈɪθ" in en
    assert fr.endswith(".") and "vˈɛ̃t" in fr and re.search(r"[ɑɛœ]\u0303", fr)
    assert clean_text("Il a 21 ans.", ["ipa_cleaners_fr"]) == fr
    table = table_from_texts(["Il a 21 ans.", "Bonjour"], "ipa_cleaners_fr")
    assert table.pad == "_" and "ʁ" in table and "\u0303" in table and "." in table


def test_missing_espeak_is_a_clear_error(monkeypatch):
    from common.text import phonemes

    monkeypatch.setattr(phonemes.shutil, "which", lambda name: None)
    with pytest.raises(phonemes.PhonemizerError, match="apt-get install espeak-ng"):
        phonemes.phonemize("a sentence nobody phonemized before 8c1f", "en")

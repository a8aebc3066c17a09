"""The suite's own sentences for the offline speech corpus, and their spoken forms.

Sentences are built from templates and word lists written for this suite in English, French, German,
Spanish, Korean (Hangul) and Amharic (Ethiopic script). They carry what a TTS front end has to cope with:
numbers (counts, prices, years; ordinals in English), English abbreviations (Dr., Mr., Mrs., St.),
commas, questions and exclamations, and lengths from three words to about twenty-five.

``generate_sentences(language, n, seed)`` is deterministic for a seed. ``normalize_for_language`` gives the
spoken form that espeak-ng reads and the filelists hold: English goes through ``english_cleaners_v2``; the
other languages are lower-cased with digits spelled out by num2words.

Number slots are chosen so that the spelled form is grammatical: no counts ending in 1 where the word for
"one" agrees with the noun (fr, de, es), Sino-Korean numbers only before Sino-Korean counters (won, years,
minutes, floors, kilometres, pages), and Amharic numbers below 1100 (num2words' Amharic range).
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass

from common.text import clean_text
from common.text.lang.numbers import YEAR_RANGE
from common.text.lang.numbers import spell_number as _spell_number
from common.text.lang.shared import SUPPORTED_LANGUAGES

__all__ = [
    "SUPPORTED_LANGUAGES",
    "CorpusTextError",
    "generate_sentences",
    "normalize_for_language",
    "spell_number",
]

MAX_WORDS = 25


class CorpusTextError(ValueError):
    """An unsupported language code or an impossible request to the sentence generator."""


def check_language(language: str) -> str:
    """Return ``language`` if supported, else raise naming the supported codes."""
    if language not in SUPPORTED_LANGUAGES:
        raise CorpusTextError(
            f"unsupported language {language!r}; supported: {', '.join(SUPPORTED_LANGUAGES)}"
        )
    return language


# ---------------------------------------------------------------------------------------------------------
# Number slots: each returns the written (digit) form; normalize_for_language spells it out.

NumberSlot = Callable[[random.Random], str]


def _integer(lo: int, hi: int, step: int = 1, no_trailing_one: bool = False) -> NumberSlot:
    """Integers in [lo, hi] on a grid of ``step``; optionally none ending in 1 (11 is allowed)."""
    values = [v for v in range(lo, hi + 1, step) if not (no_trailing_one and v % 10 == 1 and v % 100 != 11)]

    def pick(rng: random.Random) -> str:
        return str(rng.choice(values))

    return pick


def _en_ordinal(lo: int, hi: int) -> NumberSlot:
    def pick(rng: random.Random) -> str:
        n = rng.randint(lo, hi)
        suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
        return f"{n}{suffix}"

    return pick


def _en_price(rng: random.Random) -> str:
    dollars = rng.randint(1, 99)
    if rng.random() < 0.5:
        return f"${dollars}"
    return f"${dollars}.{rng.randrange(5, 100, 5):02d}"


def _en_big(rng: random.Random) -> str:
    return f"{rng.randint(3, 9)},{rng.randrange(0, 1000, 50):03d}"


def _agreeing_numbers() -> dict[str, NumberSlot]:
    """The number slots of fr, de and es: counts, prices and minutes never end in 1 (11 may), as the word
    for "one" agrees with the noun."""
    return {
        "count": _integer(2, 99, no_trailing_one=True),
        "price": _integer(2, 999, no_trailing_one=True),
        "year": _integer(1800, 2029),
        "hour": _integer(2, 12),
        "minutes": _integer(2, 59, no_trailing_one=True),
    }


# ---------------------------------------------------------------------------------------------------------
# Language specifications.


@dataclass(frozen=True)
class LanguageSpec:
    """Word lists and templates of one language.

    Statement templates (``short``, ``medium``) are clauses without final punctuation that may start in
    lower case; questions and exclamations carry their punctuation. ``conjunctions`` join two clauses
    into one long sentence; languages without them (ko, am) form long utterances from two sentences.
    """

    words: dict[str, tuple[str, ...]]
    numbers: dict[str, NumberSlot]
    short: tuple[str, ...]
    medium: tuple[str, ...]
    long: tuple[str, ...]
    questions: tuple[str, ...]
    exclamations: tuple[str, ...]
    conjunctions: tuple[str, ...] = ()
    full_stop: str = "."


def _t(*items: str) -> tuple[str, ...]:
    return tuple(items)


_EN = LanguageSpec(
    words={
        "name": _t("Mary", "John", "Alice", "Peter", "Susan", "Thomas", "Emma", "James", "Laura", "Henry",
                   "Clara", "Oliver", "Grace", "Daniel"),
        "title": _t("Dr.", "Mr.", "Mrs."),
        "surname": _t("Smith", "Brown", "Taylor", "Walker", "Green", "Baker", "Clark", "Hughes", "Turner",
                      "Morgan", "Fisher", "Cooper"),
        "animal": _t("cat", "dog", "horse", "fox", "owl", "rabbit", "goat", "duck"),
        "thing": _t("key", "letter", "lamp", "basket", "bicycle", "piano", "window", "umbrella", "kettle",
                    "map"),
        "things": _t("apples", "books", "letters", "chairs", "tickets", "candles", "boxes", "oranges",
                     "stamps", "bottles", "pencils", "eggs"),
        "adj": _t("quiet", "bright", "small", "heavy", "old", "warm", "narrow", "gentle", "yellow", "cold",
                  "tall", "busy"),
        "verb": _t("found", "painted", "carried", "repaired", "bought", "sold", "borrowed", "cleaned",
                   "moved", "opened", "dropped", "wrapped"),
        "time": _t("this morning", "last night", "on Sunday", "after lunch", "before dinner",
                   "in the evening", "yesterday", "at noon"),
        "place": _t("the market", "the library", "the station", "the harbor", "the bakery", "the old mill",
                    "the post office", "the school"),
        "saint": _t("St. Mary's church", "St. Louis", "St. Paul", "St. Andrew's square",
                    "St. George's hospital"),
        "city": _t("Boston", "Denver", "Chicago", "Seattle", "Dublin", "London", "Glasgow", "Toronto"),
        "month": _t("January", "February", "March", "April", "May", "June", "July", "August", "September",
                    "October", "November", "December"),
        "event": _t("meeting", "concert", "race", "lecture", "festival", "game"),
        "weather": _t("raining", "snowing", "windy", "sunny", "foggy", "cold"),
        "building": _t("bridge", "tower", "museum", "theater", "hospital", "station", "library"),
        "passive": _t("rebuilt", "opened", "painted", "closed", "sold", "repaired"),
    },
    numbers={
        "count": _integer(2, 99),
        "price": _en_price,
        "year": _integer(1800, 2029),
        "ordinal": _en_ordinal(1, 12),
        "day": _en_ordinal(1, 31),
        "hour": _integer(2, 12),
        "big": _en_big,
    },
    short=_t(
        "{name} {verb} the {thing}",
        "the {animal} is {adj}",
        "it is {weather} outside",
        "{title} {surname} arrived {time}",
        "we need {count} {things}",
        "it costs {price}",
        "the {animal} fell asleep",
        "{name} smiled at {name2}",
        "the {building} is closed",
    ),
    medium=_t(
        "{title} {surname} {verb} {count} {things} at {place} {time}",
        "{name} paid {price} for {count} {things} at {place}",
        "in {year}, the {building} near {place} was {passive}",
        "the {ordinal} {event} of the year was held at {saint}",
        "the train to {city} leaves at {hour} o'clock",
        "on {month} {day}, {name} visited {title} {surname} in {city}",
        "{name} and {name2} walked to {saint} {time}",
        "there were {big} people at the {event} in {city}",
        "the {adj} {animal} ran across {place} {time}",
        "{title} {surname} {verb} the {thing} for {name}",
    ),
    long=_t(
        "after the storm had passed, {name} and {name2} walked slowly along the river to see how much "
        "damage the wind had done to the old {building}",
        "when {title} {surname} finally reached {saint} {time}, the doors were already closed and nobody "
        "was there to help",
        "{name} spent {price} on {count} {things} at {place}, and then carried them all the way home in "
        "the rain",
    ),
    questions=_t(
        "where is the {thing}?",
        "is {title} {surname} at {place}?",
        "did you see the {adj} {animal}?",
        "how many {things} did {name} bring to {place}?",
        "did {title} {surname} really pay {price} for that {thing}?",
        "what time does the train to {city} leave?",
        "why did {name} go to {saint} {time}?",
    ),
    exclamations=_t(
        "what a {adj} day!",
        "look at that {animal}!",
        "{name} won {count} games in a row!",
        "the {building} finally opened in {year}!",
        "happy birthday, {name}!",
        "that {thing} costs {price}!",
    ),
    conjunctions=_t("and", "but", "so", "because"),
)

_FR = LanguageSpec(
    words={
        "subj": _t("le chat", "la voisine", "mon frère", "notre professeur", "le boulanger",
                   "la petite fille", "le vieux pêcheur", "ma tante", "Marie", "Julien"),
        "name": _t("Marie", "Julien", "Sophie", "Thomas", "Camille", "Lucas"),
        "verb": _t("trouvé", "réparé", "acheté", "vendu", "peint", "ouvert", "nettoyé", "cherché"),
        "obj": _t("la porte", "le vélo", "une lettre", "un panier", "la fenêtre", "le vieux piano", "la clé",
                  "un livre", "la lampe", "le parapluie"),
        "place": _t("au marché", "à la gare", "à la bibliothèque", "au bord de la rivière", "dans le jardin",
                    "à l'école", "à la boulangerie", "au port"),
        "time": _t("ce matin", "hier soir", "dimanche dernier", "après le déjeuner", "avant le dîner",
                   "la semaine dernière"),
        "city": _t("Paris", "Lyon", "Marseille", "Bordeaux", "Lille", "Nantes", "Genève", "Bruxelles"),
        "things": _t("livres", "timbres", "verres", "crayons", "gâteaux", "billets", "œufs", "citrons"),
        "animal": _t("le chat", "le chien", "le cheval", "le renard", "le hibou", "le lapin"),
        "weather": _t("beau", "froid", "chaud", "doux", "gris"),
    },
    numbers=_agreeing_numbers(),
    short=_t(
        "{animal} dort profondément",
        "il fait {weather} aujourd'hui",
        "{subj} a {verb} {obj}",
        "nous avons {count} {things}",
        "le billet coûte {price} euros",
        "{animal} a faim",
    ),
    medium=_t(
        "{subj} a {verb} {obj} {place} {time}",
        "{subj} a acheté {count} {things} pour {price} euros {place}",
        "en {year}, la ville a construit un nouveau pont près de la rivière",
        "le train pour {city} part à {hour} heures",
        "{subj} a attendu {minutes} minutes devant la gare",
        "il y a {count} {things} sur la table de la cuisine",
        "{subj} et {subj2} ont trouvé {obj} {place}",
    ),
    long=_t(
        "après la pluie, {subj} et {subj2} ont marché lentement le long de la rivière pour voir les dégâts "
        "que le vent avait causés",
    ),
    questions=_t(
        "où est {obj}?",
        "est-ce que {subj} a {verb} {obj}?",
        "combien coûte {obj}?",
        "à quelle heure part le train pour {city}?",
        "avez-vous vu {animal}?",
    ),
    exclamations=_t(
        "quelle belle journée!",
        "{subj} a gagné {count} matchs!",
        "regardez {animal}!",
        "c'est vraiment incroyable!",
        "joyeux anniversaire, {name}!",
    ),
    conjunctions=_t("et", "mais", "puis", "donc"),
)

_DE = LanguageSpec(
    words={
        "subj": _t("der Hund", "die Katze", "mein Bruder", "unsere Lehrerin", "der alte Fischer",
                   "die Nachbarin", "das Kind", "der Bäcker", "Anna", "Lukas"),
        "name": _t("Anna", "Lukas", "Sophie", "Jonas", "Marie", "Felix"),
        "obj": _t("den Schlüssel", "die Tür", "das Fahrrad", "einen Brief", "das alte Klavier", "einen Korb",
                  "das Buch", "die Lampe", "den Regenschirm"),
        "thing": _t("das Fahrrad", "die Lampe", "der Regenschirm", "das Buch", "der Korb", "die Tasche"),
        "participle": _t("gefunden", "repariert", "gekauft", "verkauft", "geputzt", "gesucht", "geöffnet"),
        "place": _t("im Garten", "am Bahnhof", "in der Bibliothek", "auf dem Markt", "in der Schule",
                    "am Fluss", "im Hafen", "in der Bäckerei"),
        "time": _t("heute Morgen", "gestern Abend", "am Sonntag", "nach dem Mittagessen",
                   "vor dem Abendessen", "letzte Woche"),
        "city": _t("Berlin", "Hamburg", "München", "Köln", "Wien", "Zürich", "Leipzig", "Bremen"),
        "things": _t("Bücher", "Äpfel", "Briefe", "Gläser", "Briefmarken", "Kerzen", "Eier", "Zitronen"),
        "animal": _t("der Hund", "die Katze", "das Pferd", "der Fuchs", "die Eule", "das Kaninchen"),
        "weather": _t("kalt", "warm", "windig", "sonnig", "neblig"),
    },
    numbers=_agreeing_numbers(),
    short=_t(
        "{animal} schläft tief",
        "heute ist es {weather}",
        "{subj} hat {obj} {participle}",
        "wir brauchen {count} {things}",
        "das Ticket kostet {price} Euro",
        "{animal} hat Hunger",
    ),
    medium=_t(
        "{subj} hat {time} {obj} {place} {participle}",
        "{subj} hat {count} {things} für {price} Euro gekauft",
        "im Jahr {year} baute die Stadt eine neue Brücke über den Fluss",
        "der Zug nach {city} fährt um {hour} Uhr ab",
        "{subj} hat {minutes} Minuten vor dem Bahnhof gewartet",
        "auf dem Tisch in der Küche liegen {count} {things}",
    ),
    long=_t(
        "nach dem Regen gingen {subj} und {subj2} langsam am Fluss entlang, um zu sehen, was der Sturm in "
        "der Nacht angerichtet hatte",
    ),
    questions=_t(
        "wo ist {subj}?",
        "hast du {obj} gesehen?",
        "wie viel kostet {thing}?",
        "wann fährt der Zug nach {city} ab?",
        "hat {subj} {obj} {participle}?",
    ),
    exclamations=_t(
        "was für ein schöner Tag!",
        "{subj} hat {count} Spiele gewonnen!",
        "schau dir {obj} an!",
        "das ist wirklich wunderbar!",
        "alles Gute zum Geburtstag, {name}!",
    ),
    conjunctions=_t("und", "aber", "denn"),
)

_ES = LanguageSpec(
    words={
        "subj": _t("el perro", "la gata", "mi hermano", "nuestra profesora", "el viejo pescador", "la vecina",
                   "el niño", "el panadero", "María", "Pablo"),
        "name": _t("María", "Pablo", "Lucía", "Diego", "Carmen", "Javier"),
        "verb": _t("encontró", "reparó", "compró", "vendió", "pintó", "abrió", "limpió", "buscó"),
        "obj": _t("la puerta", "la bicicleta", "una carta", "el piano", "la llave", "un libro", "la ventana",
                  "una cesta", "el paraguas", "la lámpara"),
        "place": _t("en el mercado", "en la estación", "en la biblioteca", "junto al río", "en el jardín",
                    "en la escuela", "en el puerto", "en la panadería"),
        "time": _t("esta mañana", "anoche", "el domingo", "después del almuerzo", "antes de la cena",
                   "la semana pasada"),
        "city": _t("Madrid", "Sevilla", "Valencia", "Bilbao", "Granada", "Lima", "Bogotá", "Quito"),
        "things": _t("libros", "sellos", "vasos", "lápices", "pasteles", "billetes", "huevos", "platos"),
        "animal": _t("el perro", "la gata", "el caballo", "el zorro", "el búho", "el conejo"),
        "weather": _t("frío", "calor", "sol", "viento", "buen tiempo"),
    },
    numbers=_agreeing_numbers(),
    short=_t(
        "{animal} duerme tranquilamente",
        "hace {weather} hoy",
        "{subj} {verb} {obj}",
        "necesitamos {count} {things}",
        "el billete cuesta {price} euros",
        "{animal} tiene hambre",
    ),
    medium=_t(
        "{subj} {verb} {obj} {place} {time}",
        "{subj} compró {count} {things} por {price} euros {place}",
        "en {year}, la ciudad construyó un puente nuevo sobre el río",
        "el tren para {city} sale a las {hour}",
        "{subj} esperó {minutes} minutos delante de la estación",
        "hay {count} {things} en la mesa de la cocina",
    ),
    long=_t(
        "después de la tormenta, {subj} y {subj2} caminaron despacio junto al río para ver los daños que "
        "el viento había causado",
    ),
    questions=_t(
        "¿dónde está {obj}?",
        "¿cuánto cuesta {obj}?",
        "¿a qué hora sale el tren para {city}?",
        "¿{subj} {verb} {obj}?",
    ),
    exclamations=_t(
        "¡qué día tan bonito!",
        "¡{subj} ganó {count} partidos!",
        "¡mira {obj}!",
        "¡es realmente increíble!",
        "¡feliz cumpleaños, {name}!",
    ),
    conjunctions=_t("y", "pero", "así que"),
)

# Korean: formal polite style (-ㅂ니다/-습니다); particles are part of the listed words so that 이/가 and
# 을/를 always fit the final consonant. Numbers only before Sino-Korean counters.
_KO_OBJECT_VERBS = {
    "사과를": ("샀습니다", "먹었습니다", "씻었습니다"),
    "책을": ("읽었습니다", "샀습니다", "찾았습니다"),
    "편지를": ("썼습니다", "읽었습니다", "보냈습니다"),
    "자전거를": ("고쳤습니다", "샀습니다", "탔습니다"),
    "창문을": ("열었습니다", "닦았습니다", "닫았습니다"),
    "우산을": ("찾았습니다", "샀습니다", "잃어버렸습니다"),
    "커피를": ("마셨습니다", "만들었습니다"),
    "사진을": ("찍었습니다", "보았습니다"),
}

_KO = LanguageSpec(
    words={
        "subj": _t("제 동생이", "제 친구가", "어린 학생이", "그 남자가", "그 여자가", "민수가", "지수가",
                   "우리 이웃이"),
        "animal": _t("고양이가", "강아지가", "아기가"),
        "objverb": tuple(f"{obj} {verb}" for obj, verbs in _KO_OBJECT_VERBS.items() for verb in verbs),
        "obj": tuple(_KO_OBJECT_VERBS),
        "place": _t("시장에서", "도서관에서", "공원에서", "학교에서", "역 앞에서", "집에서"),
        "time": _t("오늘 아침에", "어제 저녁에", "일요일에", "주말에", "지난주에"),
        "where": _t("기차역은", "도서관은", "제 우산은", "화장실은", "시장은"),
        "this": _t("이 책은", "이 우산은", "이 사과는", "이 자전거는", "이 커피는"),
        "city": _t("서울로", "부산으로", "대구로", "인천으로", "광주로"),
    },
    numbers={
        "won": _integer(500, 50000, step=100),
        "year": _integer(1950, 2029),
        "minutes": _integer(2, 59),
        "floor": _integer(2, 30),
        "km": _integer(2, 40),
        "pages": _integer(5, 300),
        "degrees": _integer(2, 35),
    },
    short=_t(
        "{animal} 조용히 잡니다",
        "오늘은 날씨가 좋습니다",
        "{subj} 노래를 부릅니다",
        "{subj} {objverb}",
        "{subj} 집에 갔습니다",
        "오늘 기온은 {degrees}도입니다",
    ),
    medium=_t(
        "{time} {subj} {place} {objverb}",
        "{subj} {place} {minutes}분 동안 기다렸습니다",
        "{this} {won}원입니다",
        "우리 가족은 {year}년에 {city} 이사했습니다",
        "회의는 {floor}층에서 열립니다",
        "{subj} 오늘 {km}킬로미터를 걸었습니다",
        "{subj} {time} 책을 {pages}쪽 읽었습니다",
        "{subj} {place} {won}원을 냈습니다",
    ),
    long=(),
    questions=_t(
        "{where} 어디에 있습니까?",
        "{this} 얼마입니까?",
        "{subj} 언제 옵니까?",
        "지금 몇 시입니까?",
        "{obj} 좋아합니까?",
    ),
    exclamations=_t(
        "정말 아름다운 날입니다!",
        "{subj} 드디어 왔습니다!",
        "와, 정말 맛있습니다!",
        "생일 축하합니다!",
    ),
)

# Amharic: masculine singular subjects so that the past-tense verbs (3rd person masculine) agree; the
# object nouns carry the definite article and the accusative -ን. Numbers stay below 1100.
_AM_OBJECT_VERBS = {
    "መጽሐፉን": ("ገዛ", "አነበበ", "ወሰደ"),
    "በሩን": ("ከፈተ", "ዘጋ"),
    "ደብዳቤውን": ("ጻፈ", "አነበበ", "ላከ"),
    "ዳቦውን": ("ገዛ", "በላ", "ሸጠ"),
    "ፈረሱን": ("አየ", "ሸጠ", "ገዛ"),
}

_AM = LanguageSpec(
    words={
        "subj": _t("ልጁ", "አስተማሪው", "ወንድሜ", "አባቴ", "ገበሬው", "ነጋዴው"),
        "objverb": tuple(f"{obj} {verb}" for obj, verbs in _AM_OBJECT_VERBS.items() for verb in verbs),
        "time": _t("ትናንት", "ዛሬ ጠዋት", "ማታ", "እሁድ"),
        "thing": _t("መጽሐፉ", "ዳቦው", "ቡናው", "ፈረሱ"),
    },
    numbers={
        "count": _integer(2, 99),
        "price": _integer(2, 999),
        "km": _integer(2, 200),
        "hour": _integer(2, 12),
    },
    short=_t(
        "አየሩ ዛሬ ጥሩ ነው",
        "{subj} ቶሎ ተኛ",
        "{subj} {objverb}",
        "{subj} ቤት ገባ",
        "ዛሬ ዝናብ ዘነበ",
        "{thing} {price} ብር ነው",
    ),
    medium=_t(
        "{subj} {time} {objverb}",
        "{subj} {time} {price} ብር ከፈለ",
        "በክፍሉ ውስጥ {count} ልጆች አሉ",
        "ከተማው {km} ኪሎ ሜትር ይርቃል",
        "ትምህርቱ በ{hour} ሰዓት ይጀምራል",
        "{subj} {time} ወደ ገበያ ሄደ",
    ),
    long=(),
    questions=_t(
        "ስምህ ማን ነው?",
        "{subj} የት ነው?",
        "{thing} ስንት ነው?",
        "ቡና ትፈልጋለህ?",
    ),
    exclamations=_t(
        "እንኳን ደህና መጣህ!",
        "በጣም ጥሩ ነው!",
        "እንዴት ያለ ቆንጆ ቀን ነው!",
    ),
    full_stop="።",
)

_SPECS: dict[str, LanguageSpec] = {"en": _EN, "fr": _FR, "de": _DE, "es": _ES, "ko": _KO, "am": _AM}

# ---------------------------------------------------------------------------------------------------------
# Sentence generation.

_KINDS = ("short", "medium", "long", "question", "exclamation")
_KIND_WEIGHTS = (22, 36, 22, 12, 8)


def _fill(template: str, spec: LanguageSpec, rng: random.Random) -> str:
    """Fill every ``{slot}`` of ``template``; ``slot2`` draws from ``slot``'s list, different if it can."""
    values: dict[str, str] = {}
    for _, name, _, _ in string.Formatter().parse(template):
        if not name or name in values:
            continue
        base = name.rstrip("0123456789")
        if base in spec.words:
            taken = {v for k, v in values.items() if k.rstrip("0123456789") == base}
            choices = [w for w in spec.words[base] if w not in taken] or list(spec.words[base])
            values[name] = rng.choice(choices)
        elif base in spec.numbers:
            values[name] = spec.numbers[base](rng)
        else:
            raise KeyError(f"template slot {{{name}}} has no word list or number rule: {template!r}")
    return template.format(**values)


def _capitalize(sentence: str) -> str:
    """Upper-case the first letter (after any leading ¿ or ¡); scripts without case are unchanged."""
    for i, ch in enumerate(sentence):
        if ch.isalpha():
            return sentence[:i] + ch.upper() + sentence[i + 1:]
    return sentence


def _statement(spec: LanguageSpec, pool: tuple[str, ...], rng: random.Random) -> str:
    return _fill(rng.choice(pool), spec, rng)


def _one_sentence(spec: LanguageSpec, rng: random.Random) -> str:
    kind = rng.choices(_KINDS, weights=_KIND_WEIGHTS)[0]
    if kind == "question":
        return _capitalize(_fill(rng.choice(spec.questions), spec, rng))
    if kind == "exclamation":
        return _capitalize(_fill(rng.choice(spec.exclamations), spec, rng))
    if kind == "short":
        return _capitalize(_statement(spec, spec.short, rng)) + spec.full_stop
    if kind == "medium":
        return _capitalize(_statement(spec, spec.medium, rng)) + spec.full_stop
    # Long: a written-out long template, two clauses joined by a conjunction, or (ko, am) two sentences.
    if spec.long and rng.random() < 0.35:
        return _capitalize(_statement(spec, spec.long, rng)) + spec.full_stop
    first = _statement(spec, spec.medium, rng)
    second = _statement(spec, spec.medium + spec.short, rng)
    if spec.conjunctions:
        return _capitalize(f"{first}, {rng.choice(spec.conjunctions)} {second}") + spec.full_stop
    return f"{_capitalize(first)}{spec.full_stop} {_capitalize(second)}{spec.full_stop}"


def generate_sentences(language: str, n: int, seed: int = 1234) -> list[str]:
    """``n`` sentences in ``language``, the same list for the same seed; duplicates avoided where possible.

    Sentences have 3 to 25 words (counted by whitespace; Korean and Amharic words are longer units).
    """
    spec = _SPECS[check_language(language)]
    if n < 0:
        raise CorpusTextError(f"number of sentences must be >= 0, got {n}")
    rng = random.Random(f"corpus-text:{language}:{seed}")
    seen: set[str] = set()
    sentences: list[str] = []
    while len(sentences) < n:
        sentence = ""
        for _ in range(50):
            sentence = _one_sentence(spec, rng)
            if len(sentence.split()) <= MAX_WORDS and sentence not in seen:
                break
        if len(sentence.split()) > MAX_WORDS:
            sentence = _capitalize(_statement(spec, spec.short, rng)) + spec.full_stop
        seen.add(sentence)
        sentences.append(sentence)
    return sentences


# ---------------------------------------------------------------------------------------------------------
# Spoken forms.

_DIGITS_RE = re.compile(r"\d+")
_SPACES_RE = re.compile(r"\s+")


def spell_number(n: int, language: str, year: bool = False) -> str:
    """``n`` as words in ``language`` (num2words); digit by digit beyond what the converter supports.

    The text front ends' ``common.text.lang.numbers.spell_number``, with this module's language check.
    """
    return _spell_number(n, check_language(language), year=year)


def _spell_digits(text: str, language: str) -> str:
    def replace(match: re.Match[str]) -> str:
        value = int(match.group(0))
        is_year = len(match.group(0)) == 4 and value in YEAR_RANGE and language in ("de", "fr", "es")
        return spell_number(value, language, year=is_year)

    return _DIGITS_RE.sub(replace, text)


def normalize_for_language(text: str, language: str) -> str:
    """The spoken form of ``text``: what espeak-ng reads and what the filelists hold.

    en: ``english_cleaners_v2`` (numbers, currency, decimals, ordinals, abbreviations, lower case).
    fr, de, es, ko, am: lower case, digits spelled out with num2words (four-digit years read as years in
    de/fr/es), whitespace collapsed; punctuation is kept for prosody.
    """
    check_language(language)
    if language == "en":
        return clean_text(text, ["english_cleaners_v2"])
    spoken = _spell_digits(text.lower(), language)
    return _SPACES_RE.sub(" ", spoken).strip()

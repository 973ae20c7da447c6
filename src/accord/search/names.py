"""Person names in any script, brought to comparable Latin parts.

The first half of person matching (issue 8, point 2); :mod:`accord.search.matcher`
compares what this module produces. A name goes through, in order:

1. **Clean-up**: NFKC, case folding, bracketed text dropped, apostrophes and the
   Arabic ʿayn/hamza marks of Latin spellings removed (``O'Brien`` → ``obrien``,
   ``ʿAbd`` → ``abd``), hyphens and punctuation split parts.
2. **Transliteration, per part and per script**:

   - *Arabic and Persian*: our own letter table (:data:`_ARABIC`), not ICU's. ICU
     writes ``محمد`` as ``mḥmd`` and ``عبد`` as ``ʿbd``; we write ``mhmd`` and
     ``abd``, keep the long vowels (``و`` → ``u``, ``ي`` → ``i`` inside a word) so
     that ``يوسف`` → ``yusf`` is close to ``yusuf``, read the short-vowel marks
     when present, and split the article ``ال`` off before transliterating.
   - *Hebrew*: a letter table in the same spirit (vowel letters read as vowels).
   - *Chinese*: ICU ``Han-Latin`` (pinyin); the first syllable is the family
     name, the others are joined as the given name, as Latin documents write it
     (``习近平`` → ``xi jinping``).
   - *Everything else* (Cyrillic, Greek, Armenian, Georgian, Hangul, Devanagari…):
     :func:`rigour.text.ascii_text`, which uses rigour's own romanisation for the
     scripts it admits (``Шевченко`` → ``shevchenko``) and ICU for the rest.

3. **Particles**: connectors (``bin``, ``ibn``, ``bint``, ``ould``, ``al``,
   ``el``, ``de``, ``van``, ``von``, ``da``, ``di``, ``y`` …) and the Arabic
   assimilated articles written with a hyphen (``ad-Din``, ``ash-Shami``) are set
   aside, as long as two real parts remain (``Le Van Thanh`` keeps its parts).
   ``abd``/``abdul``/``abdel``… and ``abu``/``abou`` form one part with the
   following name, as they do in Arabic (``Abd al-Rahman``, ``Abdurrahman`` and
   ``عبد الرحمن`` all become ``abdrahman``; ``Abou Bakr`` and ``Abu Bakr`` become
   ``abubakr``/``aboubakr``, same skeleton).
4. **Keys per part** (:class:`NamePart`):

   - ``skeleton``: a consonant skeleton tailored to transliterated names. Digraphs
     fold (``kh``/``ch``/``sh``/``zh``/``dj``/``ph``/``th``…), ``c``/``q`` → ``k``,
     ``x`` → ``ks``, written double letters count once, vowels and the half-vowels
     ``w``/``y`` drop, a final ``h`` drops, an initial vowel is kept as ``a``. Abjad
     scripts write no short vowels, so this is the form in which ``محمد``,
     ``Mohammed``, ``Muhammad`` and ``Mohamed`` agree (``mhmd``), and ``Aleksandr``
     and ``Alexander`` (``alksndr``).
   - ``phonetic``: Metaphone (rigour's Rust implementation), for English-habit
     spellings and typos.
   - ``symbols``: name identities — rigour's tagger of person names (Wikidata
     given/family names across scripts, e.g. ``Сергей``, ``Sergei`` and
     ``Sergey`` share ``NAME:Q12902079``) plus our list of transliteration
     variants (``src/accord/data/search/name_variants.txt``).

Normalisation is cached per name string (an LRU of 200,000), so a record or a
query pays for it once. Pure functions, no I/O after the variant list is read.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from rigour.names import NameTypeTag, analyze_names
from rigour.text import metaphone
from rigour.text.translit import ascii_text

__all__ = [
    "NamePart", "NormalName", "detect_script", "normalise_name", "skeleton", "transliterate",
    "variant_group",
]

# --- scripts -----------------------------------------------------------------------------

_SCRIPT_PREFIXES = (
    ("ARABIC", "arabic"), ("HEBREW", "hebrew"), ("CYRILLIC", "cyrillic"), ("GREEK", "greek"),
    ("CJK", "han"), ("HANGUL", "hangul"), ("HIRAGANA", "kana"), ("KATAKANA", "kana"),
    ("ARMENIAN", "armenian"), ("GEORGIAN", "georgian"), ("DEVANAGARI", "devanagari"),
    ("THAI", "thai"), ("LATIN", "latin"),
)


@lru_cache(maxsize=4096)
def _char_script(ch: str) -> str:
    name = unicodedata.name(ch, "")
    for prefix, script in _SCRIPT_PREFIXES:
        if name.startswith(prefix):
            return script
    return "other"


def detect_script(text: str) -> str:
    """The script most letters of ``text`` are written in (``latin``, ``arabic``, ``han``…)."""
    counts: dict[str, int] = {}
    for ch in text:
        if ch.isalpha():
            script = _char_script(ch)
            counts[script] = counts.get(script, 0) + 1
    if not counts:
        return "latin"
    return max(counts, key=lambda s: counts[s])


# --- transliteration ---------------------------------------------------------------------

_ARABIC = {
    "ا": "a", "أ": "a", "إ": "i", "آ": "a", "ٱ": "a", "ب": "b", "ت": "t", "ث": "th", "ج": "j",
    "ح": "h", "خ": "kh", "د": "d", "ذ": "dh", "ر": "r", "ز": "z", "س": "s", "ش": "sh", "ص": "s",
    "ض": "d", "ط": "t", "ظ": "z", "ع": "", "غ": "gh", "ف": "f", "ق": "q", "ك": "k", "ل": "l",
    "م": "m", "ن": "n", "ه": "h", "ة": "a", "ى": "a", "ء": "", "ئ": "i", "ؤ": "u",
    # Persian, Urdu
    "پ": "p", "چ": "ch", "ژ": "zh", "گ": "g", "ک": "k", "ی": "i", "ے": "e", "ہ": "h", "ٹ": "t",
    "ڈ": "d", "ڑ": "r", "ں": "n", "ھ": "h",
    # short-vowel marks, when written
    "\u064e": "a", "\u064f": "u", "\u0650": "i",
}
_ARABIC_VOWEL_LETTERS = {"و": ("w", "u"), "ي": ("y", "i"), "ی": ("y", "i")}
_HEBREW = {
    "א": "a", "ב": "b", "ג": "g", "ד": "d", "ה": "h", "ז": "z", "ח": "kh", "ט": "t", "כ": "k",
    "ך": "kh", "ל": "l", "מ": "m", "ם": "m", "נ": "n", "ן": "n", "ס": "s", "ע": "", "פ": "p",
    "ף": "f", "צ": "ts", "ץ": "ts", "ק": "k", "ר": "r", "ש": "sh", "ת": "t",
}
_HEBREW_VOWEL_LETTERS = {"ו": ("v", "o"), "י": ("y", "i")}


def _abjad(word: str, table: dict[str, str], vowel_letters: dict[str, tuple[str, str]]) -> str:
    out: list[str] = []
    for i, ch in enumerate(word):
        if ch in vowel_letters:
            out.append(vowel_letters[ch][0 if i == 0 else 1])
        elif ch in ("ع", "ע") and i == 0:
            out.append("a")  # a word-initial ʿayn is heard as a vowel: عمر → amr (Omar, Umar)
        else:
            out.append(table.get(ch, ""))
    return "".join(out)


class _Han:
    """ICU's Han-Latin transliterator, built once (it is slow to build), used under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tr: Any = None

    def __call__(self, text: str) -> list[str]:
        with self._lock:
            if self._tr is None:
                import icu

                self._tr = icu.Transliterator.createInstance("Han-Latin; Latin-ASCII")
            latin: str = self._tr.transliterate(text)
        syllables = [s for s in re.split(r"[^a-z0-9]+", latin.lower()) if s]
        if len(syllables) <= 1:
            return syllables
        return [syllables[0], "".join(syllables[1:])]


_han = _Han()
_AL = "ال"


def transliterate(word: str) -> list[str]:
    """One part as written, in any script, as ASCII lower-case parts (usually one).

    >>> transliterate("محمد"), transliterate("习近平"), transliterate("Сергей")
    (['mhmd'], ['xi', 'jinping'], ['sergei'])
    """
    script = detect_script(word)
    if script == "arabic":
        latin = _abjad(word, _ARABIC, _ARABIC_VOWEL_LETTERS)
    elif script == "hebrew":
        latin = _abjad(word, _HEBREW, _HEBREW_VOWEL_LETTERS)
    elif script == "han":
        return _han(word)
    else:
        latin = ascii_text(word)
    return [p for p in re.split(r"[^a-z0-9]+", latin.lower()) if p]


# --- particles -----------------------------------------------------------------------------

_CONNECTORS = frozenset({
    "bin", "ibn", "ben", "bint", "binti", "bte", "ould", "uld", "bn", "abn", "bnt", "ibnu",
    "al", "el", "ul",
    "de", "del", "della", "dello", "dei", "der", "den", "des", "di", "da", "das", "dos", "do", "du",
    "van", "von", "vom", "zu", "ter", "la", "le", "lo", "los", "las", "st",
})
# Arabic articles assimilated to a sun letter, recognised only when written with a hyphen.
_HYPHEN_ARTICLES = frozenset({
    "al", "el", "ul", "ad", "ar", "as", "ash", "at", "az", "an", "ed", "er", "es", "esh", "et", "ez",
    "en", "ud", "ur", "us", "un", "uz", "ut", "ush", "ath", "adh",
})
_INNER_CONJUNCTIONS = frozenset({"y", "e", "i", "und", "and"})
_ABD_PREFIXES = ("abdoul", "abdul", "abdel", "abdal", "abdol", "abdil", "abdur", "abder", "abdou",
                 "abdu", "abd")
_ABU_WORDS = frozenset({"abu", "abou", "abo", "abul", "aboul", "abi"})

_APOSTROPHES = re.compile(r"['’‘`´ʿʾʼ]")
_BRACKETS = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_HEBREW_MARKS = re.compile("[\u0591-\u05c7]")
_SPLIT = re.compile(r"[^\w]+|_")


def _keep_vowel_marks(text: str) -> str:
    # Short-vowel marks (fatha, damma, kasra) carry sound; shadda, sukun, tanwin and tatweel do not.
    return _ARABIC_MARKS.sub(lambda m: m.group(0) if m.group(0) in "\u064e\u064f\u0650" else "", text)


def _raw_words(text: str) -> list[tuple[str, bool]]:
    """Words of ``text`` in their script, each with whether a hyphen followed it."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _BRACKETS.sub(" ", text)
    text = _APOSTROPHES.sub("", text)
    text = _keep_vowel_marks(_HEBREW_MARKS.sub("", text))
    out: list[tuple[str, bool]] = []
    for chunk in text.split():
        pieces = re.split(r"[-‐‑–—]", chunk)
        for i, piece in enumerate(pieces):
            for word in (w for w in _SPLIT.split(piece) if w):
                out.append((word, i < len(pieces) - 1))
    return out


# --- keys ----------------------------------------------------------------------------------

_DIGRAPHS = (
    ("sch", "s"), ("tch", "c"), ("dzh", "j"), ("dj", "j"), ("zh", "j"), ("kh", "h"), ("gh", "g"),
    ("ph", "f"), ("th", "t"), ("dh", "d"), ("sh", "s"), ("ch", "s"), ("ck", "k"), ("ts", "s"),
    ("tz", "s"), ("c", "k"), ("q", "k"), ("x", "ks"),
)
_VOWELS = frozenset("aeiouy")
_VOWEL_RUNS = re.compile("[aeiouy]+")


@lru_cache(maxsize=200_000)
def skeleton(part: str) -> str:
    """The consonant skeleton of an ASCII name part (see the module docstring).

    >>> skeleton("mohammed"), skeleton("mhmd"), skeleton("aleksandr"), skeleton("alexander")
    ('mhmd', 'mhmd', 'alksndr', 'alksndr')
    """
    if not part:
        return ""
    s = part
    for a, b in _DIGRAPHS:
        s = s.replace(a, b)
    head = "a" if s[0] in _VOWELS else ("v" if s[0] == "w" else "")
    body = s[1:] if head else s
    if len(body) > 1 and body.endswith("h"):
        body = body[:-1]
    out: list[str] = []
    prev = ""
    for ch in body:
        if ch == prev:  # a written double letter (Mohammed, Hussein); not n-vowel-n (Potanin)
            continue
        prev = ch
        if ch in _VOWELS or ch == "w":
            continue
        out.append(ch)
    if head and out and out[0] == head:
        out = out[1:]
    return head + "".join(out)


def _load_variants() -> dict[str, str]:
    text = resources.files("accord.data").joinpath("search/name_variants.txt").read_text("utf-8")
    groups: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        names = [n.strip() for n in line.split(",") if n.strip()]
        for n in names:
            groups.setdefault(n, names[0])
    return groups


_VARIANTS = _load_variants()


def variant_group(part: str) -> str | None:
    """The group a spelling belongs to in the variant list (its first spelling), if any."""
    return _VARIANTS.get(part)


@lru_cache(maxsize=200_000)
def _symbols(word: str) -> frozenset[str]:
    """rigour's person-name identities (``NAME:Q…``) of one word, in its own script."""
    if len(word) < 2:
        return frozenset()
    out: set[str] = set()
    for name in analyze_names(NameTypeTag.PER, [word], phonetics=False, numerics=False,
                              consolidate=False, rewrite=False):
        for span in name.spans:
            if len(span.parts) == 1 and str(span.symbol).startswith("[NAME:"):
                out.add(str(span.symbol)[1:-1])
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class NamePart:
    """One part of a normalised name and its comparison keys."""

    text: str                    # ASCII, lower case
    skeleton: str
    phonetic: str
    symbols: frozenset[str]      # rigour NAME:Q… identities and our variant group (V:…)
    abjad: bool = False          # written in Arabic or Hebrew script: short vowels unwritten
    vowel_groups: int = 0        # how many runs of vowels: Salman 2, Suleiman 3

    @property
    def initial(self) -> bool:
        return len(self.text) == 1


@dataclass(frozen=True, slots=True)
class NormalName:
    """A name as written and its comparable parts (in written order)."""

    original: str
    script: str
    parts: tuple[NamePart, ...]
    particles: tuple[str, ...]   # set aside, kept for display

    @property
    def latin(self) -> str:
        return " ".join(p.text for p in self.parts)


@lru_cache(maxsize=200_000)
def _part(text: str, original: str) -> NamePart:
    symbols = set(_symbols(original))
    if text != original:
        symbols |= _symbols(text)
    group = _VARIANTS.get(text)
    if group:
        symbols.add("V:" + group)
    return NamePart(text=text, skeleton=skeleton(text), phonetic=metaphone(text) if text.isalpha() else text,
                    symbols=frozenset(symbols), abjad=detect_script(original) in ("arabic", "hebrew"),
                    vowel_groups=len(_VOWEL_RUNS.findall(text)))


def _join_abd_abu(words: list[tuple[str, str]]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(words):
        text, orig = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else None
        if text in _ABD_PREFIXES and nxt is not None:
            out.append(("abd" + nxt[0], orig + nxt[1]))
            i += 2
            continue
        if text in _ABU_WORDS and nxt is not None:
            out.append(("abu" + nxt[0], orig + nxt[1]))
            i += 2
            continue
        if text.startswith("abd") and len(text) > 5:
            for prefix in _ABD_PREFIXES:
                if text.startswith(prefix) and len(text) - len(prefix) >= 3:
                    text = "abd" + text[len(prefix):]
                    break
        out.append((text, orig))
        i += 1
    return out


@lru_cache(maxsize=200_000)
def normalise_name(name: str) -> NormalName:
    """``name`` in any script as comparable Latin parts (cached; see the module docstring)."""
    raw = _raw_words(name)
    script = detect_script(name)
    words: list[tuple[str, str, bool]] = []   # (ascii, original, article-by-hyphen)
    for word, hyphen in raw:
        if _char_script(word[0]) == "arabic" and word.startswith(_AL) and len(word) > 3:
            words.append(("al", _AL, True))
            word = word[2:]
        for text in transliterate(word):
            words.append((text, word, hyphen and text in _HYPHEN_ARTICLES))
    # Particles go, as long as two real parts remain.
    is_particle = [
        text in _CONNECTORS or article or (0 < i < len(words) - 1 and text in _INNER_CONJUNCTIONS)
        for i, (text, _, article) in enumerate(words)
    ]
    if sum(1 for p in is_particle if not p) >= 2:
        kept = [(t, o) for (t, o, _), p in zip(words, is_particle, strict=True) if not p]
        particles = tuple(t for (t, _, _), p in zip(words, is_particle, strict=True) if p)
    else:
        kept, particles = [(t, o) for t, o, _ in words], ()
    kept = _join_abd_abu(kept)
    parts = tuple(_part(t, o) for t, o in kept if t)
    return NormalName(original=name, script=script, parts=parts, particles=particles)

"""Names, scripts and the variant spellings real registries produce.

Three naming styles:

* ``arabic`` — Maghrebi names, held as one entry of :data:`GIVEN_MALE`,
  :data:`GIVEN_FEMALE` or :data:`FAMILY` (Arabic script plus the French-style
  romanisation used on Moroccan identity cards and passports). The other
  romanisations are derived from the French one by the rules in
  :func:`romanise` (Spanish and English practice), with per-name overrides
  where usage is fixed (``Muhammad``, ``Jadiya``, ``Belhach``…), or produced
  from the Arabic script by ICU (``Arabic-Latin; Latin-ASCII``).
* ``spanish`` — given name(s) plus two surnames (father's first, then
  mother's), from the ``es_ES`` faker locale.
* ``western`` — given name(s) plus one surname, from the country's faker
  locale.

All randomness comes from the :class:`random.Random` handed in; faker is only
used to fill per-locale pools once per seed (:class:`NamePools`).
docs/scenarios.md lists the conventions and their sources.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import icu
from faker import Faker

Style = Literal["arabic", "spanish", "western"]
Romanisation = Literal["fr", "es", "en", "icu"]


@dataclass(frozen=True, slots=True)
class ArabicName:
    """One Maghrebi name: Arabic script, French-style form, fixed overrides."""

    arabic: str
    french: str
    english: str | None = None
    spanish: str | None = None

    @property
    def article(self) -> bool:
        """Family names written with the Arabic article ``ال`` (El/Al)."""
        return self.arabic.startswith("ال")

    @property
    def ben(self) -> bool:
        return self.arabic.startswith("بن ")


def _table(text: str) -> tuple[ArabicName, ...]:
    rows: list[ArabicName] = []
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split("|")]
        parts += [""] * (4 - len(parts))
        rows.append(ArabicName(parts[0], parts[1], parts[2] or None, parts[3] or None))
    return tuple(rows)


# arabic | French-style (Moroccan civil registry) | English override | Spanish override
GIVEN_MALE = _table("""
محمد|Mohamed|Muhammad|Mohamed
أحمد|Ahmed|Ahmad
عبد الله|Abdellah|Abdullah
يوسف|Youssef|Yusuf|Yusef
عمر|Omar|Umar
علي|Ali
حسن|Hassan
الحسين|Houcine|Husayn|Husein
خالد|Khalid
رشيد|Rachid
سعيد|Said|Saeed
مصطفى|Mustapha|Mustafa|Mustafa
إبراهيم|Brahim|Ibrahim
إسماعيل|Ismail
عبد الرحمن|Abderrahmane|Abdulrahman
عبد القادر|Abdelkader|Abdulqadir
عبد الكريم|Abdelkrim|Abdulkarim
عبد العزيز|Abdelaziz|Abdulaziz
عبد اللطيف|Abdellatif|Abdullatif
عبد الحق|Abdelhak|Abdulhaqq
عبد السلام|Abdeslam|Abdussalam
عبد الرحيم|Abderrahim|Abdulrahim
هشام|Hicham|Hisham
كريم|Karim
نبيل|Nabil
جمال|Jamal
كمال|Kamal
أمين|Amine
ياسين|Yassine
أيوب|Ayoub|Ayyub
مهدي|Mehdi|Mahdi
حمزة|Hamza
إدريس|Driss|Idris|Idris
عثمان|Othmane|Uthman|Otman
زكرياء|Zakaria|Zakariya
بلال|Bilal
أنس|Anas
طارق|Tarik|Tariq
سفيان|Soufiane|Sufyan
نور الدين|Noureddine|Nuruddin
عادل|Adil
منير|Mounir
فؤاد|Fouad
عزيز|Aziz
مراد|Mourad
ناصر|Nacer|Nasser|Naser
جواد|Jaouad|Jawad
رضوان|Redouane|Ridwan
عماد|Imad
مروان|Marouane|Marwan
حكيم|Hakim
صلاح الدين|Salaheddine|Salahuddin
توفيق|Taoufik|Tawfiq
لحسن|Lahcen|Lahsen
إلياس|Ilyas
""")

GIVEN_FEMALE = _table("""
فاطمة|Fatima
خديجة|Khadija
عائشة|Aicha|Aisha
مريم|Meryem|Maryam|Mariam
زينب|Zineb|Zaynab
نادية|Nadia
سعاد|Souad
حليمة|Halima
أمينة|Amina
سناء|Sanaa
هند|Hind
ليلى|Leila|Layla
نعيمة|Naima
سلمى|Salma
إيمان|Imane
حنان|Hanane
كريمة|Karima
لطيفة|Latifa
رشيدة|Rachida
وفاء|Ouafae|Wafa
سكينة|Soukaina|Sukayna
هاجر|Hajar
ياسمين|Yasmine
نجاة|Najat
سميرة|Samira
جميلة|Jamila
فدوى|Fadoua|Fadwa
بشرى|Bouchra|Bushra
حياة|Hayat
أسماء|Asmae|Asma
""")

FAMILY = _table("""
الإدريسي|Idrissi|Idrisi
العلوي|Alaoui
الوزاني|Ouazzani
بناني|Bennani|Bannani
الفاسي|Fassi
التازي|Tazi
برادة|Berrada
الشاوي|Chaoui
الزياني|Ziani
بن علي|Ben Ali
بنجلون|Benjelloun|Benjellun
بن سليمان|Ben Slimane|Ben Sulayman
المنصوري|Mansouri
الحسني|Hassani|Hasani
الخطابي|Khattabi
العمراني|Amrani
الراشدي|Rachidi
بوعزة|Bouazza
البخاري|Boukhari|Bukhari
بلحاج|Belhaj||Belhach
الصديقي|Seddiki|Siddiqi
الكتاني|Kettani|Kattani
الطاهري|Tahiri
لزرق|Lazrak|Azraq
السعيدي|Saidi
الحداد|Haddad
النجار|Najjar
الحمدوشي|Hamdouchi
أمزيان|Amziane
أوعلي|Ouali
أخنوش|Akhannouch
الغزواني|Ghazouani
الهاشمي|Hachimi
القادري|Kadiri|Qadiri
الشرقاوي|Cherkaoui|Sharqawi
الغربي|Gharbi
البقالي|Bakkali|Baqqali
الريفي|Rifi
التمسماني|Temsamani
الطنجاوي|Tanjaoui
الصنهاجي|Sanhaji
المرابط|Mrabet|Murabit
الزروالي|Zerouali|Zarwali
بنكيران|Benkirane
الفيلالي|Filali
الدكالي|Doukkali
السوسي|Soussi
الحمري|Hamri
بوزيدي|Bouzidi
العثماني|Othmani|Uthmani|Otmani
مرزوق|Marzouk|Marzuq
شكري|Chokri|Shukri
""")

#: Particles that registries drop, add or glue (see docs/scenarios.md).
SPANISH_PARTICLES = ("de", "del", "de la", "de los", "de las")
FRENCH_PARTICLES = ("de", "du", "de la", "des", "le", "la")

_VOWELS = set("aeiouy")


def _is_vowel(ch: str) -> bool:
    return ch.lower() in _VOWELS


def _rules_spanish(text: str) -> str:
    """Spanish practice from the French form: ou→u, j→y, kh→j, gh→g, no doubles."""
    low = text.lower()
    low = low.replace("ou", "u").replace("dj", "y").replace("j", "y").replace("kh", "j")
    low = low.replace("gh", "g")
    out: list[str] = []
    for ch in low:
        if out and ch == out[-1] and ch not in "aeiour ":
            continue
        out.append(ch)
    res = "".join(out)
    if res.endswith("ine") or res.endswith("ane"):
        res = res[:-1]
    return _title(res)


def _rules_english(text: str) -> str:
    """English practice from the French form: ou→w before a vowel else u, ch→sh, dj→j."""
    low = text.lower().replace("dj", "j").replace("ch", "sh")
    out: list[str] = []
    i = 0
    while i < len(low):
        if low.startswith("ou", i):
            nxt = low[i + 2] if i + 2 < len(low) else ""
            out.append("w" if nxt and _is_vowel(nxt) else "u")
            i += 2
            continue
        out.append(low[i])
        i += 1
    res = "".join(out)
    if res.endswith("ine") or res.endswith("ane"):
        res = res[:-1]
    return _title(res)


def _title(text: str) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in text.split(" "))


@lru_cache(maxsize=4096)
def icu_transliterate(text: str, transform: str = "Arabic-Latin; Latin-ASCII") -> str:
    """ICU transliteration (cached per string; ICU instances are not cheap)."""
    return _translit(transform).transliterate(text)  # type: ignore[no-any-return]


@lru_cache(maxsize=16)
def _translit(transform: str) -> icu.Transliterator:
    return icu.Transliterator.createInstance(transform)


@lru_cache(maxsize=8192)
def ascii_fold(text: str) -> str:
    """Accents and ligatures to their ASCII forms (ICU ``Latin-ASCII``)."""
    return icu_transliterate(text, "Latin-ASCII")


def romanise(name: ArabicName, style: Romanisation) -> str:
    """One Maghrebi name in a romanisation convention, without the article."""
    if style == "fr":
        return name.french
    if style == "es":
        return name.spanish or _rules_spanish(name.french)
    if style == "en":
        return name.english or _rules_english(name.french)
    arabic = name.arabic
    if name.article:
        arabic = arabic[2:]
    raw = icu_transliterate(arabic).replace("ʿ", "").replace("ʾ", "").replace("'", "")
    return _title(raw)


def article_forms(style: Romanisation) -> tuple[str, ...]:
    """How the Arabic article is written before a family name."""
    return {
        "fr": ("El ", "El-", "", "El"),
        "es": ("El ", "", "El-"),
        "en": ("Al-", "al-", "", "El "),
        "icu": ("Al", "Al-", ""),
    }[style]


#: Arabic "sun letters": the article assimilates (Et-Tazi, Echchaoui, Ennajjar).
SUN_LETTERS = frozenset("تثدذرزسشصضطظلن")


def family_latin(name: ArabicName, style: Romanisation, rng: random.Random) -> str:
    base = romanise(name, style)
    if name.article:
        if style in ("fr", "es") and name.arabic[2:3] in SUN_LETTERS and rng.random() < 0.3:
            head = base[:2] if base[:2].lower() in ("ch", "th") else base[:1]
            joined = ("-" + base) if rng.random() < 0.4 else base.lower()
            return "E" + head.lower() + joined
        prefix = rng.choice(article_forms(style))
        if prefix and not prefix.endswith((" ", "-")):
            return prefix + base.lower()
        return prefix + base
    if name.ben and rng.random() < 0.3:
        # Ben Ali / Benali / Ibn Ali / Bin Ali
        rest = base.split(" ", 1)[1] if " " in base else base
        glue = rng.choice(("Ben", "Ibn ", "Bin ", "Ben-"))
        return glue + (rest.lower() if glue == "Ben" else rest)
    return base


def family_canonical_fr(name: ArabicName) -> str:
    """The form printed on a Moroccan identity card: ``EL IDRISSI`` style."""
    return ("El " + name.french) if name.article else name.french


# --- faker pools --------------------------------------------------------------


@dataclass(slots=True)
class LocalePool:
    male: tuple[str, ...]
    female: tuple[str, ...]
    last: tuple[str, ...]
    streets: tuple[str, ...]
    postcodes: tuple[str, ...]
    cities: tuple[str, ...]


@dataclass(slots=True)
class NamePools:
    """Per-locale pools, filled once per seed; sampling is then pure ``random``."""

    seed: int
    size: int = 400
    _pools: dict[str, LocalePool] = field(default_factory=dict)

    def get(self, locale: str) -> LocalePool:
        pool = self._pools.get(locale)
        if pool is None:
            fake = Faker(locale)
            fake.seed_instance(f"{self.seed}:{locale}")
            n = self.size
            pool = LocalePool(
                male=_uniq(fake.first_name_male() for _ in range(n)),
                female=_uniq(fake.first_name_female() for _ in range(n)),
                last=_uniq(fake.last_name() for _ in range(n)),
                streets=_uniq(fake.street_address() for _ in range(n // 2)),
                postcodes=_uniq(fake.postcode() for _ in range(n // 2)),
                cities=_uniq(fake.city() for _ in range(n // 4)),
            )
            self._pools[locale] = pool
        return pool


def _uniq(values: object) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for v in values:  # type: ignore[attr-defined]
        seen.setdefault(str(v).strip(), None)
    return tuple(k for k in seen if k)


# --- variants ----------------------------------------------------------------------


def typo(text: str, rng: random.Random) -> tuple[str, str]:
    """A keying error on one word: adjacent swap, a dropped or a doubled letter."""
    letters = [i for i, ch in enumerate(text) if ch.isalpha()]
    if len(letters) < 4:
        return text, ""
    kind = rng.choice(("swap", "drop", "double"))
    i = rng.choice(letters[1:-1])
    if kind == "swap":
        j = i + 1
        if j >= len(text) or not text[j].isalpha() or text[i] == text[j]:
            kind = "double"
        else:
            return text[:i] + text[j] + text[i] + text[j + 1 :], "typo:swap"
    if kind == "drop":
        return text[:i] + text[i + 1 :], "typo:drop"
    return text[:i] + text[i] + text[i:], "typo:double"


def strip_particles(surname: str, particles: Sequence[str]) -> str:
    low = surname.lower()
    for p in sorted(particles, key=len, reverse=True):
        if low.startswith(p + " "):
            return surname[len(p) + 1 :]
        low_idx = low.find(" " + p + " ")
        if low_idx > 0:
            return surname[:low_idx] + surname[low_idx + len(p) + 1 :]
    return surname


def has_particle(surname: str, particles: Sequence[str]) -> bool:
    low = " " + surname.lower() + " "
    return any(f" {p} " in low for p in particles)


def upper_ascii(text: str) -> str:
    """Machine-readable-zone style: ASCII capitals (ICAO 9303 drops diacritics)."""
    return ascii_fold(text).upper()


def is_arabic_script(text: str) -> bool:
    return any("\u0600" <= ch <= "\u06ff" for ch in text)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)

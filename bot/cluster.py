"""Which story cluster a new story joins: wire reprints, and one event across outlets and languages.

Two levels, both only between stories published within ``window_hours`` of each other:
1. Reprint: near-identical text (Jaccard of stem 3-gram shingles, from bottom-k sketches)
   whose tags do not contradict and whose numbers, if both give some, overlap.
2. Event: the tags agree (apps, countries and actions each intersect; a kind missing on one
   side is a wildcard that raises the bar by ``missing_penalty``; a story tagged "unblocked"
   joins only another one) and the texts share enough evidence: names reduced to a Latin
   consonant key ("Дурова" meets "Durov"), numbers, dates, weekdays; in one language, stems.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from itertools import islice

from bot.countries import app_name, country_name, known_apps, known_countries
from bot.models import Story
from bot.text import fold, split_compound, stem, stems

SKETCH_SIZE = 128  # bottom-k hashes kept per story; shorter texts keep every shingle
SHINGLE_WORDS = 400  # words of title + text that feed the shingles
LEAD_WORDS = 150  # words of the text that feed entities, numbers and stems
_SHINGLE = 3
_SMOOTH = 1.0  # added to the evidence denominator: one shared feature is not enough
_VERSION = "c1"
_INF = float("inf")

# Weights of the language-independent features, by their one-letter prefix.
WEIGHTS: dict[str, float] = {
    "e": 1.0,  # a named entity
    "g": 0.3,  # an entity every story on the topic shares (a country, an app, Roskomnadzor)
    "n": 1.5,  # a number (10 or more, not a year)
    "y": 0.5,  # a year
    "s": 0.3,  # a small number
    "d": 2.0,  # a date, month and day
    "w": 0.5,  # a weekday
}
_PREFIXES = frozenset(f"{p}:" for p in WEIGHTS)
# Restoring access is news of its own: it never joins a story that does not restore.
_RESTORING = frozenset({"unblocked"})


@dataclass(frozen=True, slots=True)
class ClusterThresholds:
    """When two stories are the same: ``reprint`` on resemblance, ``event`` on evidence."""

    # Calibrated on the tuning half of tests/data/cluster_pairs.jsonl (bench/cluster.py).
    reprint: float = 0.4
    event: float = 0.2
    window_hours: float = 48.0
    missing_penalty: float = 0.15


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What clustering needs of one story, computed once; ``dumps`` keeps it in Redis."""

    lang: str
    sketch: tuple[int, ...]  # ascending 32-bit shingle hashes, the ``SKETCH_SIZE`` smallest
    complete: bool  # the sketch holds every shingle of the story
    features: frozenset[str]  # language-independent: "e:drv", "n:1500", "d:04-13", ...
    stems: frozenset[str]  # content stems of the title and lead, for one language
    _set: frozenset[int] = field(init=False, repr=False, compare=False)
    _top: float = field(init=False, repr=False, compare=False)
    _weight: float = field(init=False, repr=False, compare=False)
    _facts: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_set", frozenset(self.sketch))
        top = _INF if self.complete or not self.sketch else float(self.sketch[-1])
        object.__setattr__(self, "_top", top)
        object.__setattr__(self, "_weight", sum(WEIGHTS[f[0]] for f in self.features))
        object.__setattr__(self, "_facts", frozenset(f for f in self.features if f[0] in "nd"))

    def dumps(self) -> str:
        """A compact one-line text: version, language, sketch in base64, features, stems."""
        sketch = base64.b64encode(struct.pack(f">{len(self.sketch)}I", *self.sketch)).decode()
        words = " ".join(sorted(self.features)), " ".join(sorted(self.stems))
        return "|".join((_VERSION, self.lang, "1" if self.complete else "0", sketch, *words))

    @classmethod
    def loads(cls, text: str) -> Fingerprint:
        """The fingerprint ``dumps`` wrote; ``ValueError`` for anything else."""
        parts = text.split("|")
        if len(parts) != 6 or parts[0] != _VERSION:
            raise ValueError(f"not a cluster fingerprint: {text[:40]!r}")
        _version, lang, complete, sketch, features, stem_text = parts
        try:
            packed = base64.b64decode(sketch, validate=True)
            hashes = struct.unpack(f">{len(packed) // 4}I", packed)
        except (binascii.Error, struct.error) as e:
            raise ValueError("bad sketch in cluster fingerprint") from e
        found = frozenset(features.split())
        if any(f[:2] not in _PREFIXES for f in found):
            raise ValueError("bad feature in cluster fingerprint")
        return cls(
            lang=lang,
            sketch=hashes,
            complete=complete == "1",
            features=found,
            stems=frozenset(stem_text.split()),
        )


_LATIN = "a b v g d e e zh z i y k l m n o p r s t u f kh ts ch sh shch - y - e yu ya"
_TRANSLIT = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюя", _LATIN.split(), strict=True))
_SKELETON_RULES = (("ph", "f"), ("ck", "k"), ("kh", "h"), ("x", "ks"), ("w", "v"), ("q", "k"),
                   ("c", "k"), ("j", "y"))  # fmt: skip
_ALIASES = {"rkn": "rskmn", "rf": "rs", "gsdm": "dm"}  # РКН, РФ, Госдума
_GENERIC_WORDS = "roskomnadzor russia russian российский internet интернет vpn netblocks"
# Capitalized at a sentence start for grammar's sake, not because they are names.
_FUNCTION_TEXT = """a an the in on at for from to of and but or as by with this that these those
    it its he she they we his her their after before since while when where meanwhile earlier
    later according also however last new more some many several other there here what who how if
    then still now today yesterday only among most all both each such в во на по с со к о об от
    для из за это эти этот как но и а после до при ранее также однако он она они мы теперь сейчас
    вчера сегодня среди все уже еще"""
_STOP_TEXT = """the and for from with that this was were been has have had said say will would
    not but its are their they his her which who also more out over about into than after before
    when while there what some such other one two all can could may being что как это его ее их
    она они был была были быть также уже еще при после через более для или если так там тот эта
    этот эти все всех сообщ заяв котор сво нее них год"""
# Words every story on the topic uses: shared, they say nothing about the event.
_DOMAIN_TEXT = """block blocked blocking ban banned restrict restricted restriction access app
    message messaging messenger user service internet platform regulator government authorities
    order decision court law report use told agency provider network mobile online social media
    country state official minister ministry day week month year million number total connection
    website site content company data remove censorship vpn statement блокировать заблокировал
    заблокировали блокировка блокировки ограничить ограничил ограничение ограничения доступ
    мессенджер приложение пользователи сервис интернет платформа регулятор ведомство власти суд
    решение закон сообщили заявил провайдер оператор сеть соцсети мобильный связь страна компания
    данные удалить цензура млн тыс год"""
_FUNCTION_WORDS = frozenset(_FUNCTION_TEXT.split())
_STOP_STEMS = frozenset(_STOP_TEXT.split())
_NUMBER = re.compile(
    r"(?<![\w.,])(\d{1,3}(?:[ ,]\d{3}(?!\d))+|\d+(?:[.,]\d+)?)"
    r"(?:\s*(?:%|percent|процент\w*))?"
    r"(?:\s+(thousand|тыс\w*|million|млн|миллион\w*|billion|млрд|миллиард\w*))?"
)
_GROUPED = re.compile(r"\d{1,3}(?:[ ,]\d{3})+")  # "28,000", "10 000"; "1,5" is a decimal
_SCALE = {"t": 1e3, "т": 1e3, "m": 1e6, "м": 1e6, "b": 1e9}
_MONTH = (
    r"(january|february|march|april|may|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec|январ[ьяе]|феврал[ьяе]|март[ае]?"
    r"|апрел[ьяе]|ма[йяе]|июн[ьяе]|июл[ьяе]|август[ае]?|сентябр[ьяе]|октябр[ьяе]|ноябр[ьяе]"
    r"|декабр[ьяе])\b\.?"
)
_MONTH_PREFIXES = (
    "jan feb mar apr may jun jul aug sep oct nov dec янв фев мар апр ма июн июл авг сен окт ноя дек"
)
_MONTH_NUMBER = {m: i % 12 + 1 for i, m in enumerate(_MONTH_PREFIXES.split())}
_DATE = re.compile(rf"\b(\d{{1,2}})\s+{_MONTH}|\b{_MONTH}\s+(\d{{1,2}})(?:st|nd|rd|th)?\b")
_WEEKDAY = re.compile(
    r"\b(?:(monday|понедельник)|(tuesday|вторник)|(wednesday|среду\b|среда\b)|(thursday|четверг)"
    r"|(friday|пятниц)|(saturday|суббот)|(sunday|воскресень))"
)
_CASE_ENDING = re.compile(
    r"(?<=\w{3})(?:ого|его|ому|ему|ыми|ими|ами|ями|ым|им|ом|ем|ой|ей|ах|ях|ам|ям|ых|их)$"
)
_TOKEN = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")
_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
_SENTENCE_END = frozenset(".!?…:;—–-\n")
_DIGIT = re.compile(r"\d")  # numbers and dates need one: a text without skips both patterns
# Each weekday pattern holds one of these; a text with none skips the pattern.
_WEEKDAY_HINTS = (
    "day",
    "понедельник",
    "вторник",
    "сред",
    "четверг",
    "пятниц",
    "суббот",
    "воскресень",
)


def transliterate(text: str) -> str:
    """Cyrillic letters to Latin ("Павел Дуров" → "pavel durov"); other text is folded."""
    return "".join(_TRANSLIT.get(ch, ch) for ch in fold(text).replace("дж", "j")).replace("-", "")


def _skeleton(latin: str) -> str:
    word = "".join(ch for ch in latin if "a" <= ch <= "z")
    for old, new in _SKELETON_RULES:
        word = word.replace(old, new)
    if not word:
        return ""
    key = word[0]
    for ch in word[1:]:
        if ch not in "aeiouyh" and ch != key[-1]:
            key += ch
    return key[:5]


@lru_cache(maxsize=16384)  # pure; the same names come back story after story
def entity_key(word: str) -> str:
    """A language-independent key of a name: "Дуровым", "Durov's" and "Durov" give "drv"."""
    folded = fold(word)
    # Snowball cuts Russian names unevenly ("дуров" → "дур"); vowel endings go anyway.
    base = _CASE_ENDING.sub("", folded) if _CYRILLIC.search(folded) else stem(folded)
    key = _skeleton(transliterate(base))
    return _ALIASES.get(key, key)


@cache
def _generic_names() -> tuple[str, ...]:
    names = [country_name(c, lang) for c in known_countries() for lang in ("en", "ru")]
    names += [app_name(a, lang) for a in known_apps() for lang in ("en", "ru")]
    return (*names, *_GENERIC_WORDS.split())


@cache
def _generic_keys() -> frozenset[str]:
    return frozenset(entity_key(w) for name in _generic_names() for w in _TOKEN.findall(name))


def _title_case(title: str) -> bool:
    """ "Russia Blocks Telegram Over Keys": capitals there say nothing about names."""
    long = [w for w in title.split() if len(w) > 3]
    return bool(long) and sum(w[0].isupper() for w in long) > 0.6 * len(long)


def _entities(title: str, lead: str) -> frozenset[str]:
    """Keys of capitalized names, acronyms and Latin words inside Cyrillic text."""
    keys: set[str] = set()
    cyrillic = bool(_CYRILLIC.search(title + lead))
    title_case = _title_case(title)
    lower = {w for w in _TOKEN.findall(title + " " + lead) if w.islower()}
    for text, is_title in ((title, True), (lead, False)):
        for m in _TOKEN.finditer(text):
            word = m.group()
            latin_in_cyrillic = cyrillic and word[0].isascii()
            if not (word[0].isupper() or latin_in_cyrillic):
                continue
            if not (latin_in_cyrillic or (len(word) > 1 and word.isupper())):  # nor an acronym
                if is_title and title_case:
                    continue
                start = m.start()
                before = text[max(0, start - 6) : start].rstrip(" \"'«»“”‘’([")
                at_start = before[-1:] in _SENTENCE_END if before else start <= 6
                if at_start and (word.casefold() in _FUNCTION_WORDS or word.casefold() in lower):
                    continue
            for part in split_compound(word):
                key = entity_key(part)
                if len(key) >= 2:
                    keys.add(("g:" if key in _generic_keys() else "e:") + key)
    return frozenset(keys)


def _numbers(text: str) -> frozenset[str]:
    """Numbers (scaled: "28 тыс." is "28,000"), dates and weekdays the text names."""
    folded = fold(text)
    found: set[str] = set()
    has_digits = _DIGIT.search(folded) is not None
    for m in _NUMBER.finditer(folded) if has_digits else ():
        digits, scale = m.group(1), m.group(2)
        grouped = _GROUPED.fullmatch(digits)
        plain = digits.replace(",", "").replace(" ", "") if grouped else digits.replace(",", ".")
        value = float(plain) * (_SCALE[scale[0]] if scale else 1.0)
        year = not scale and value.is_integer() and 1900 <= value <= 2100
        found.add(f"{'y' if year else 's' if value < 10 else 'n'}:{value:g}")
    for m in _DATE.finditer(folded) if has_digits else ():
        day, month = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
        number = _MONTH_NUMBER.get(month[:3]) or _MONTH_NUMBER[month[:2]]
        if 1 <= int(day) <= 31:
            found.add(f"d:{number:02d}-{int(day):02d}")
    if any(hint in folded for hint in _WEEKDAY_HINTS):
        found.update(f"w:{m.lastindex}" for m in _WEEKDAY.finditer(folded))
    return frozenset(found)


@cache
def _common_stems() -> frozenset[str]:
    generic = stems(" ".join(_generic_names()))
    return _STOP_STEMS | frozenset(stems(_DOMAIN_TEXT)) | frozenset(generic)


def _content_stems(words: list[str]) -> frozenset[str]:
    """Stems that tell one event from another: no function, domain or tag words, no digits."""
    common = _common_stems()
    return frozenset(s for s in words if len(s) > 2 and not s.isdigit() and s not in common)


def _hash(shingle: str) -> int:
    return int.from_bytes(hashlib.blake2b(shingle.encode(), digest_size=4).digest(), "big")


def fingerprint(story: Story) -> Fingerprint:
    """The features of ``story`` that clustering compares."""
    lead = " ".join(story.text.split()[:LEAD_WORDS])
    title_words = len(list(stems(story.title)))
    words = list(islice(stems(f"{story.title}\n{story.text}"), SHINGLE_WORDS))
    if len(words) >= _SHINGLE:
        shingles = set(map(" ".join, zip(*(words[k:] for k in range(_SHINGLE)), strict=False)))
    else:  # a text shorter than a shingle is one shingle
        shingles = {" ".join(words)} if words else set()
    hashes = sorted({_hash(shingle) for shingle in shingles})
    return Fingerprint(
        lang=story.lang,
        sketch=tuple(hashes[:SKETCH_SIZE]),
        complete=len(hashes) <= SKETCH_SIZE,
        features=_entities(story.title, lead) | _numbers(f"{story.title}\n{lead}"),
        stems=_content_stems(words[: title_words + LEAD_WORDS]),
    )


def resemblance(a: Fingerprint, b: Fingerprint) -> float:
    """Jaccard of the two stories' shingles: exact for short texts, estimated for long."""
    sa, sb = a._set, b._set
    if not sa or not sb or sa.isdisjoint(sb):
        return 0.0
    top = min(a._top, b._top)
    shared = sa & sb
    if top == _INF:
        return len(shared) / (len(sa) + len(sb) - len(shared))
    # Below ``top`` both sketches hold every shingle of their story.
    inter = sum(1 for h in shared if h <= top)
    union = bisect_right(a.sketch, top) + bisect_right(b.sketch, top) - inter
    return inter / union


def evidence(a: Fingerprint, b: Fingerprint) -> float:
    """How much the shorter text's entities, numbers and dates (or, in one language, its
    content stems) the longer one shares, from 0 to 1; tags are not counted here."""
    shared = 0.0
    for f in a.features & b.features:
        shared += WEIGHTS[f[0]]
    score = shared / (min(a._weight, b._weight) + _SMOOTH) if shared else 0.0
    if a.lang == b.lang and a.stems and b.stems:
        common = len(a.stems & b.stems)
        score = max(score, common / (min(len(a.stems), len(b.stems)) + _SMOOTH))
    return score


def _facts_differ(a: Fingerprint, b: Fingerprint) -> bool:
    """Both texts give numbers or dates and share none: a template, not a reprint."""
    return bool(a._facts) and bool(b._facts) and a._facts.isdisjoint(b._facts)


def similarity(a: Fingerprint, b: Fingerprint) -> float:
    """One text similarity from 0 to 1: the stronger of resemblance and evidence."""
    return max(resemblance(a, b), evidence(a, b))


def tag_agreement(a: Story, b: Story) -> int | None:
    """How many kinds of tag one side lacks (0 to 3), or None when the tags contradict."""
    missing = 0
    for x, y in ((a.apps, b.apps), (a.countries, b.countries), (a.actions, b.actions)):
        if x and y:
            if set(x).isdisjoint(y):
                return None
        elif x or y:
            missing += 1
    if _RESTORING.isdisjoint(a.actions) != _RESTORING.isdisjoint(b.actions):
        return None
    return missing


# One side's apps, countries and actions as sets, and whether it restores access.
_Tags = tuple[frozenset[str], frozenset[str], frozenset[str], bool]


def _tags(story: Story) -> _Tags:
    restoring = not _RESTORING.isdisjoint(story.actions)
    return frozenset(story.apps), frozenset(story.countries), frozenset(story.actions), restoring


def _agreement(a: _Tags, b: Story) -> int | None:
    """``tag_agreement`` with ``a``'s side made once, for one story against many."""
    apps, countries, actions, restoring = a
    missing = 0
    for x, y in ((apps, b.apps), (countries, b.countries), (actions, b.actions)):
        if x and y:
            if x.isdisjoint(y):
                return None
        elif x or y:
            missing += 1
    if restoring == _RESTORING.isdisjoint(b.actions):
        return None
    return missing


def _match(a: Story, fa: Fingerprint, b: Story, fb: Fingerprint, th: ClusterThresholds) -> float:
    """The pair's similarity when they are the same story or event, else -1."""
    if abs((a.published - b.published).total_seconds()) > th.window_hours * 3600.0:
        return -1.0
    missing = tag_agreement(a, b)
    if missing is None:
        return -1.0
    return _score(fa, fb, missing, th)


def _score(fa: Fingerprint, fb: Fingerprint, missing: int, th: ClusterThresholds) -> float:
    """The similarity of a pair whose times and tags allow it, or -1 when it falls short."""
    near = resemblance(fa, fb)
    if near >= th.reprint and not _facts_differ(fa, fb):
        return max(near, evidence(fa, fb))
    shared = evidence(fa, fb)
    if shared >= th.event + missing * th.missing_penalty:
        return max(near, shared)
    return -1.0


def same_event(
    a: Story, fa: Fingerprint, b: Story, fb: Fingerprint, thresholds: ClusterThresholds
) -> bool:
    """A reprint, or a tag-agreeing report of the same event, within the time window."""
    return _match(a, fa, b, fb, thresholds) >= 0.0


def choose_cluster(
    story: Story,
    fp: Fingerprint,
    candidates: Sequence[tuple[Story, Fingerprint]],
    thresholds: ClusterThresholds,
) -> str | None:
    """The cluster id of the most similar matching candidate, or None for a new cluster."""
    best: Story | None = None
    best_key = (-1.0, 0.0)
    window = thresholds.window_hours * 3600.0
    tags = _tags(story)  # what ``_match`` does, with the story's side made once
    for candidate, cfp in candidates:
        if candidate.id == story.id:
            continue
        gap = abs((story.published - candidate.published).total_seconds())
        if gap > window:
            continue
        missing = _agreement(tags, candidate)
        if missing is None:
            continue
        score = _score(fp, cfp, missing, thresholds)
        if score < 0.0:
            continue
        key = (score, -gap)
        if best is None or key > best_key:
            best, best_key = candidate, key
    return None if best is None else best.cluster or best.id

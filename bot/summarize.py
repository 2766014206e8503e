"""Extractive per-story summaries: verbatim sentences, the lead unless the lead is weak.

Choices, for the reader of a digest:
- Sentences are copied from the cleaned text, never rewritten, and kept in story order.
- The lead (first sentences) is the default: news is written lead first.
- The lead is weak in live blogs and round-ups (a title word or time-stamped or bulleted
  paragraphs say so) and when the story opens with a greeting ("Welcome to our live
  coverage"). Then sentences are ranked by LexRank-style continuous degree centrality
  (cosine over TF-IDF stem bags), plus a position prior and similarity to the title, and
  picked greedily with a redundancy penalty (maximal marginal relevance).
- A sentence that only repeats the title or is web furniture is never chosen.
- The summary holds whole sentences while they fit in ``max_chars``. Only when the first
  sentence alone is longer than that is it cut, at a word boundary, and ends with "…".
- Empty text, text that is all noise, or text without a sentence of words gives "" and the
  caller shows the title alone.
The work is capped: ``_MAX_INPUT`` characters are cleaned, at most ``_WINDOW`` characters
and ``_MAX_CANDIDATES`` sentences are looked at, and the usual lead path splits only the
first sentences of the story.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from itertools import islice

from bot.cleaning import clean_article, is_noise_sentence
from bot.sentences import iter_sentences
from bot.text import fold, stem, stems

ELLIPSIS = "…"
_MAX_INPUT = 10_000  # characters of a story cleaned; the rest cannot reach the summary
_WINDOW = 6000  # characters of cleaned text looked at when ranking
_MAX_CANDIDATES = 30
_MAX_EXAMINED = 80  # sentences read at most, chosen or not
_MIN_WORDS = 3
_MIN_CHARS = 15
_TITLE_REPEAT = 0.75  # share of a sentence's stems found in the title: it repeats the title
_REDUNDANT = 0.6  # cosine above which a sentence says what a chosen one says
_MMR_LAMBDA = 0.5
_CENTRALITY_WEIGHT = 0.5
_POSITION_WEIGHT = 0.3
_TITLE_WEIGHT = 0.2
_ROUNDUP_MARKS = 3  # time-stamped or bulleted paragraphs that make a live blog or round-up

_LIVE_TITLE = re.compile(
    r"\blive(?::| updates?\b| blog\b| coverage\b| news\b)|^live\b|\blive$|as it happened"
    r"|what we know|round-?up|\bdigest\b|\bbriefing\b|the latest:|key takeaways"
    r"|онлайн|трансляци|хроника|главное (?:за|к|о|на)|итоги (?:дня|недели|года)|дайджест"
    r"|обзор|что известно|что происходит|коротко о",
    re.IGNORECASE,
)
_ROUNDUP_LINE = re.compile(r"^(?:\d{1,2}[:.]\d{2}\b|[•▪●◦*]\s|[-–—]\s|\d{1,2}[.)]\s)", re.MULTILINE)
_GREETING = re.compile(
    r"(?:Welcome to|Follow (?:our|along|live)|This (?:live )?blog|Hello and welcome"
    r"|Good (?:morning|afternoon|evening)\b|We(?:'|’)re (?:following|bringing|tracking)"
    r"|Here(?:'|’)s (?:what|the latest|our)|Here (?:is|are) (?:what|the latest|our)"
    r"|Добро пожаловать|Доброе утро|Добрый (?:день|вечер)|Здравствуйте"
    r"|Мы (?:следим|ведем|ведём|рассказываем)|Это (?:онлайн|хроника)|Вот (?:что|главное))",
    re.IGNORECASE,
)
_LETTER = re.compile(r"[^\W\d_]")
_STOP_WORDS = (
    "a an the and or but of to in on at by for from with as is are was were be been has "
    "have had it its this that these those he she they we you i his her their our not no "
    "will would can could said says say also than then there which who whom what when "
    "и в во не что он она оно они на я с со как а то все это так его ее её их но да ты к у "
    "же вы за бы по только от о из ему ей им ли если уже или ни быть был была были было "
    "до для при после также этот эта эти том той тем который которая которые которых "
    "сказал сообщил заявил отметил"
)


@dataclass(frozen=True, slots=True)
class _Sentence:
    position: int
    text: str


def summarize(
    title: str, text: str, lang: str, *, max_sentences: int = 2, max_chars: int = 300
) -> str:
    """Up to ``max_sentences`` verbatim sentences of ``text``, at most ``max_chars`` long."""
    if max_sentences < 1 or max_chars < 1:
        return ""
    cleaned = clean_article(_head(text), lang)
    if not cleaned:
        return ""
    title_bag = _bag(title)
    weak = _LIVE_TITLE.search(title) is not None or _is_roundup(cleaned)
    sentences = islice(iter_sentences(cleaned, lang, max_chars=_WINDOW), _MAX_EXAMINED)
    chosen: list[_Sentence] = []
    spare: _Sentence | None = None  # for a text without prose: its first sentence with words
    for position, sentence in enumerate(sentences):
        if not _LETTER.search(sentence) or is_noise_sentence(sentence):
            continue
        if title_bag and _repeats(_bag(sentence), title_bag):
            continue  # the title is shown above the summary anyway
        spare = spare or _Sentence(position, sentence)
        if len(sentence.split()) < _MIN_WORDS or len(sentence) < _MIN_CHARS:
            continue
        if sentence.endswith(":") or _GREETING.match(sentence):
            weak = weak or _GREETING.match(sentence) is not None
            continue
        chosen.append(_Sentence(position, sentence))
        if not weak and len(chosen) >= max_sentences:
            return _fit(chosen, max_chars, contiguous=True)
        if len(chosen) >= _MAX_CANDIDATES:
            break
    if not chosen:
        return _fit([spare], max_chars, contiguous=True) if spare else ""
    if not weak:
        return _fit(chosen[:max_sentences], max_chars, contiguous=True)
    return _fit(_rank(chosen, title_bag, max_sentences), max_chars, contiguous=False)


def _head(text: str) -> str:
    """The first ``_MAX_INPUT`` characters, cut at a line break or space when possible."""
    if len(text) <= _MAX_INPUT:
        return text
    head = text[:_MAX_INPUT]
    for separator in ("\n", " "):
        cut = head.rfind(separator, _MAX_INPUT // 2)
        if cut > 0:
            return head[:cut]
    return head


def _is_roundup(cleaned: str) -> bool:
    marks = islice(_ROUNDUP_LINE.finditer(cleaned, 0, _WINDOW), _ROUNDUP_MARKS)
    return sum(1 for _ in marks) >= _ROUNDUP_MARKS


def _repeats(bag: Counter[str], title_bag: Counter[str]) -> bool:
    if not bag:
        return False
    shared = sum(count for word, count in bag.items() if word in title_bag)
    return shared >= _TITLE_REPEAT * sum(bag.values())


def _rank(
    sentences: list[_Sentence], title_bag: Counter[str], max_sentences: int
) -> list[_Sentence]:
    """The most central sentences, by story position prior and title, without repeats."""
    vectors = _tfidf([_bag(sentence.text) for sentence in sentences])
    title_vector = _normalize({word: float(count) for word, count in title_bag.items()})
    centroid: dict[str, float] = {}
    for vector in vectors:
        for word, weight in vector.items():
            centroid[word] = centroid.get(word, 0.0) + weight
    # continuous degree centrality: the sum of a sentence's cosines with all the others
    others = max(len(sentences) - 1, 1)
    degree = [max(_dot(vector, centroid) - _dot(vector, vector), 0.0) / others
              for vector in vectors]  # fmt: skip
    top = max(degree) or 1.0
    scores = [
        _CENTRALITY_WEIGHT * degree[i] / top
        + _POSITION_WEIGHT / math.sqrt(1 + i)
        + _TITLE_WEIGHT * _dot(vectors[i], title_vector)
        for i in range(len(sentences))
    ]
    picked: list[int] = []
    while len(picked) < min(max_sentences, len(sentences)):
        best, best_value = -1, -math.inf
        for i, score in enumerate(scores):
            if i in picked:
                continue
            overlap = max((_dot(vectors[i], vectors[j]) for j in picked), default=0.0)
            if overlap > _REDUNDANT:
                continue
            value = score - _MMR_LAMBDA * overlap
            if value > best_value:
                best, best_value = i, value
        if best < 0:
            break
        picked.append(best)
    return [sentences[i] for i in picked]


def _fit(chosen: list[_Sentence], max_chars: int, *, contiguous: bool) -> str:
    """Whole sentences in story order within ``max_chars``; a too-long first one is cut.

    ``chosen`` is in order of preference; a ``contiguous`` lead stops at the first sentence
    that does not fit, ranked sentences let a later, shorter one take its place.
    """
    first, *rest = chosen
    if len(first.text) > max_chars:
        return _truncate(first.text, max_chars)
    kept = [first]
    length = len(first.text)
    for sentence in rest:
        if length + 1 + len(sentence.text) > max_chars:
            if contiguous:
                break
            continue
        kept.append(sentence)
        length += 1 + len(sentence.text)
    kept.sort(key=lambda sentence: sentence.position)
    return " ".join(sentence.text for sentence in kept)


def _truncate(text: str, max_chars: int) -> str:
    """``text`` cut at a word boundary so that it and "…" fit in ``max_chars``."""
    cut = text[: max_chars - len(ELLIPSIS)]
    space = cut.rfind(" ")
    if space > len(cut) // 2:
        cut = cut[:space]
    cut = cut.rstrip(" ,;:—–-")
    return cut + ELLIPSIS if cut else ""


def _bag(text: str) -> Counter[str]:
    stop = _stop_stems()
    return Counter(word for word in stems(text) if word not in stop)


@cache
def _stop_stems() -> frozenset[str]:
    return frozenset(stem(fold(word)) for word in _STOP_WORDS.split())


def _tfidf(bags: list[Counter[str]]) -> list[dict[str, float]]:
    frequency: Counter[str] = Counter()
    for bag in bags:
        frequency.update(bag.keys())
    count = len(bags)
    idf = {word: math.log((1 + count) / (1 + df)) + 1.0 for word, df in frequency.items()}
    return [_normalize({word: tf * idf[word] for word, tf in bag.items()}) for bag in bags]


def _normalize(vector: dict[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(weight * weight for weight in vector.values()))
    return {word: weight / norm for word, weight in vector.items()} if norm else {}


def _dot(left: dict[str, float], right: dict[str, float]) -> float:
    if len(left) > len(right):
        left, right = right, left
    return sum(weight * right.get(word, 0.0) for word, weight in left.items())

"""Sentence splitting: pysbd for Latin-script text, razdel for Cyrillic, a regex otherwise.

Every sentence returned is a stripped substring of the input, in order. Newlines are hard
boundaries (a paragraph never shares a sentence with the next one). The work is capped:
only the first ``max_chars`` characters are looked at, and pysbd, which is slow and
superlinear on long input, only ever sees chunks of a few hundred to a few thousand
characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any, Protocol

MAX_INPUT = 8000
"""Characters of a text that sentence splitting looks at, by default."""

_FIRST_CHUNK = 600  # pysbd costs ~1 ms per sentence: feed it a little at a time
_MAX_CHUNK = 4800  # a "sentence" longer than this is cut at a space
_PYSBD_LANGUAGES = frozenset({"en", "de", "fr", "es", "it", "nl", "pl", "da", "sk"})

_LATIN = re.compile(r"[A-Za-zÀ-ɏ]")
_CYRILLIC = re.compile(r"[Ѐ-ӿ]")
_ALNUM = re.compile(r"\w")
# A place where a sentence may end: terminal punctuation, closing quotes, then space.
_CANDIDATE = re.compile(r"[.!?…؟।]+[\"'»”’)\]]*(?:\s+|$)|[。！？]+")
# Full-width stops end a sentence with no space after them.
_GENERIC_END = re.compile(r"[.!?…؟।]+[\"'»”’)\]]*\s+|[。！？]+[」』”’)]*\s*")
# razdel keeps a lower-case next sentence glued on: ". " followed by a lower-case start.
_LOWER_START = re.compile(r"[.!?…]+[\"'»”’)]*\s+(?=[\"'«„“(]?[a-zа-яё])")
# "word. Next": a word of two letters or more (or a number), a stop, a capital. Unambiguous
# unless the word is an abbreviation pysbd knows; those blocks are left to pysbd.
_PLAIN_END = re.compile(
    r"(?<![\w.'’\-])([A-Za-z][a-z]+|[0-9]{2,})[\"”’']?[.!?][\"”’']?()\s+(?=[\"“‘']?[A-Z0-9])"
)
_MORE_ABBREVIATIONS = frozenset({"etc", "vs", "approx", "incl", "esp", "cf", "ca", "mr", "mrs"})
_SINGLE_OPEN = re.compile(r"(?:^|(?<=[\s(\[—–-]))['‘](?=\w)")
_SINGLE_CLOSE = re.compile(r"(?<=[\w.,!?;:])['’](?=[\s.,;:!?)\]—–-]|$)")
_LAST_TOKEN = re.compile(r"([\w.\-]+)[.!?…]+[\"'»”’)]*$")
_MIN_LEFT_CHARS = 20
_MIN_LEFT_WORDS = 3
# Lower-case abbreviations after which ". " does not end a sentence (folded, no final dot).
_ABBREVIATIONS = frozenset(
    {
        # Russian
        "г", "гг", "в", "вв", "т.е", "т.д", "т.п", "т.к", "т.н", "т.ч", "ст", "ч", "п", "пп",
        "им", "ул", "пр", "просп", "пл", "пер", "д", "кв", "корп", "стр", "с", "см", "ср",
        "др", "руб", "коп", "тыс", "млн", "млрд", "трлн", "долл", "проф", "акад", "доц",
        "зам", "нач", "ген", "ред", "англ", "нем", "франц", "лат", "рус", "обл", "р-н",
        "р", "оз", "мин", "сек", "сут", "мес", "н.э", "прим", "напр", "рис", "табл", "изд",
        "гос", "тел", "эт", "чел", "ок", "св", "вкл", "искл", "мл", "ст.ст", "юр", "физ",
        "янв", "фев", "февр", "апр", "авг", "сент", "окт", "нояб", "дек",
        # English, as they look in lower-cased text
        "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "gen", "gov", "sen", "rep",
        "col", "lt", "sgt", "capt", "rev", "inc", "co", "corp", "ltd", "vs", "etc", "no",
        "e.g", "i.e", "u.s", "u.k", "u.n", "e.u", "jan", "feb", "mar", "apr", "jun", "jul",
        "aug", "sep", "sept", "oct", "nov", "dec", "approx", "dept", "est", "fig", "vol",
    }
)  # fmt: skip


class _Processor(Protocol):
    def process(self) -> list[str]: ...


class _Segmenter(Protocol):
    """pysbd's Segmenter; ``processor(text).process()`` skips its slow span matching."""

    language_module: Any

    def processor(self, text: str) -> _Processor: ...


@cache
def _pysbd(language: str) -> _Segmenter:
    import pysbd  # imported lazily: building a segmenter is work

    segmenter: _Segmenter = pysbd.Segmenter(language=language, clean=False, char_span=False)
    return segmenter


@cache
def _abbreviations(language: str) -> frozenset[str]:
    """Words pysbd treats as abbreviations; a stop after them is pysbd's to judge."""
    known = _pysbd(language).language_module.Abbreviation.ABBREVIATIONS
    return frozenset(str(word).strip().lower() for word in known) | _MORE_ABBREVIATIONS


def split_sentences(text: str, lang: str, *, max_chars: int = MAX_INPUT) -> list[str]:
    """The sentences of ``text`` (stripped, verbatim), looking at ``max_chars`` at most."""
    return list(iter_sentences(text, lang, max_chars=max_chars))


def iter_sentences(text: str, lang: str, *, max_chars: int = MAX_INPUT) -> Iterator[str]:
    """Sentences lazily, so that a caller needing only the lead pays only for the lead."""
    truncated = len(text) > max_chars
    if truncated:
        text = _cut_at_space(text, max_chars)
    engine = _engine(lang, text[:2000])
    paragraphs = [p for p in text.split("\n") if p.strip()]
    yielded = 0
    for number, paragraph in enumerate(paragraphs):
        last = truncated and number == len(paragraphs) - 1
        pending: str | None = None
        for start, end in _merge_fragments(paragraph, _paragraph_spans(paragraph, engine)):
            if pending is not None:
                yielded += 1
                yield pending
            pending = paragraph[start:end].strip() or None
        if pending is not None and not (last and yielded):
            yielded += 1
            yield pending  # unless the window cut this last sentence short


def _engine(lang: str, sample: str) -> str:
    """Which splitter suits the text: chosen by its script, refined by its language."""
    cyrillic = len(_CYRILLIC.findall(sample))
    latin = len(_LATIN.findall(sample))
    if cyrillic == 0 and latin == 0:
        return "generic"
    if cyrillic >= latin:
        return "razdel"
    base = lang.lower().split("-")[0]
    return base if base in _PYSBD_LANGUAGES else "en"


def _paragraph_spans(paragraph: str, engine: str) -> Iterator[tuple[int, int]]:
    """Sentence spans of one paragraph, produced lazily where the splitter is slow."""
    if not _has_inner_candidate(paragraph):
        return iter([(0, len(paragraph))])
    if engine == "generic":
        return _regex_spans(paragraph, _GENERIC_END)
    if engine == "razdel":
        return _razdel_spans(paragraph)
    return _pysbd_spans(paragraph, engine)


def _has_inner_candidate(paragraph: str) -> bool:
    """Whether some sentence end could sit before the end of the paragraph."""
    end = len(paragraph.rstrip())
    return any(match.end() < end for match in _CANDIDATE.finditer(paragraph))


def _regex_spans(paragraph: str, pattern: re.Pattern[str]) -> Iterator[tuple[int, int]]:
    start = 0
    for match in pattern.finditer(paragraph):
        yield start, match.end()
        start = match.end()
    if start < len(paragraph):
        yield start, len(paragraph)


def _razdel_spans(paragraph: str) -> Iterator[tuple[int, int]]:
    import razdel  # imported lazily: no work at import time

    for sentence in razdel.sentenize(paragraph):
        yield from _split_lower_case(paragraph, sentence.start, sentence.stop)


def _split_lower_case(paragraph: str, start: int, stop: int) -> list[tuple[int, int]]:
    """Split where a sentence ends and the next starts in lower case (razdel merges them)."""
    spans: list[tuple[int, int]] = []
    left = start
    piece = paragraph[start:stop]
    for match in _LOWER_START.finditer(piece):
        end = start + match.end()
        if _ends_sentence(paragraph[left:end]):
            spans.append((left, end))
            left = end
    spans.append((left, stop))
    return spans


def _ends_sentence(left: str) -> bool:
    """Whether the text before ". " is a whole sentence, not an abbreviation or initial."""
    stripped = left.strip()
    if len(stripped) < _MIN_LEFT_CHARS or len(stripped.split()) < _MIN_LEFT_WORDS:
        return False
    token = _LAST_TOKEN.search(stripped)
    if token is None:
        return True
    word = token.group(1).lower().rstrip(".")
    if len(word) == 1 and word.isalpha():
        return False  # an initial: "а. с. пушкин", "т. е."
    return word not in _ABBREVIATIONS and word.rsplit("-", 1)[-1] not in _ABBREVIATIONS


def _pysbd_spans(paragraph: str, language: str) -> Iterator[tuple[int, int]]:
    """Plain boundaries cut cheaply; pysbd decides inside the blocks that remain."""
    for start, stop in _plain_blocks(paragraph, _abbreviations(language)):
        if _has_inner_candidate(paragraph[start:stop]):
            yield from _pysbd_block(paragraph, start, stop, _pysbd(language))
        else:
            yield start, stop


def _plain_blocks(paragraph: str, abbreviations: frozenset[str]) -> Iterator[tuple[int, int]]:
    """Blocks ending where no splitter would hesitate: "word. Next", quotes balanced."""
    start = checked = 0
    double = curly = single = 0  # quotes opened and not closed since ``start``
    for match in _PLAIN_END.finditer(paragraph):
        if match.group(1).lower() in abbreviations:
            continue
        piece = paragraph[checked : match.end(2)]
        checked = match.end(2)
        double += piece.count('"')
        curly += piece.count("“") - piece.count("”")
        single += len(_SINGLE_OPEN.findall(piece)) - len(_SINGLE_CLOSE.findall(piece))
        if double % 2 == 0 and curly == 0 and single == 0:
            yield start, match.end(2)
            start = checked = match.end()
            double = curly = single = 0
    if start < len(paragraph):
        yield start, len(paragraph)


def _pysbd_block(
    paragraph: str, start: int, stop: int, segmenter: _Segmenter
) -> Iterator[tuple[int, int]]:
    """pysbd over growing chunks, resuming at the last (possibly cut) sentence of each."""
    position = start
    size = _FIRST_CHUNK
    while position < stop:
        chunk_end = stop if stop - position <= size else _space_before(paragraph, position, size)
        chunk = paragraph[position:chunk_end]
        found = _locate(chunk, segmenter.processor(chunk).process(), position)
        if chunk_end == stop:
            yield from found
            return
        if len(found) >= 2:
            yield from found[:-1]  # the last one may be cut by the chunk: redo it
            position = found[-1][0]
            size = _FIRST_CHUNK
        elif size < _MAX_CHUNK:
            size *= 2
        else:
            yield position, chunk_end  # one giant "sentence": take a piece
            position = chunk_end


def _locate(chunk: str, pieces: list[str], offset: int) -> list[tuple[int, int]]:
    """Spans of pysbd's pieces inside the paragraph; the rest is one span if lost."""
    spans: list[tuple[int, int]] = []
    cursor = 0
    for piece in pieces:
        core = piece.strip()
        if not core:
            continue
        found = chunk.find(core, cursor)
        if found < 0:
            break
        spans.append((offset + found, offset + found + len(core)))
        cursor = found + len(core)
    if not spans:
        return [(offset, offset + len(chunk))]
    if chunk[cursor:].strip():
        last_start, _ = spans[-1]
        spans[-1] = (last_start, offset + len(chunk))  # keep every character covered
    return spans


def _merge_fragments(paragraph: str, spans: Iterator[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """Glue pieces without a letter or digit ("." or "…") to the sentence before them."""
    held: tuple[int, int] | None = None
    for start, end in spans:
        if start >= end:
            continue
        if held is not None and not _ALNUM.search(paragraph[start:end]):
            held = (held[0], end)
            continue
        if held is not None:
            yield held
        held = (start, end)
    if held is not None:
        yield held


def _space_before(text: str, start: int, size: int) -> int:
    """An end near ``start + size`` that does not cut a word, if a space allows it."""
    end = start + size
    space = text.rfind(" ", start + size // 2, end)
    return space if space > start else end


def _cut_at_space(text: str, limit: int) -> str:
    return text[: _space_before(text, 0, limit)]

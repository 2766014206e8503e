"""Words and stems shared by relevance and search: tokens, scripts, Snowball stems."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import cache, lru_cache
from typing import Protocol

# Possessive: the same matches as r"\w+(?:[-'’.]\w+)*", without the backtracking bookkeeping.
_WORD = re.compile(r"\w++(?:[-'’.]\w++)*+", re.UNICODE)
_JOINER = re.compile(r"[-'’.]")
_CYRILLIC = re.compile(r"[а-яё]")
_LATIN = re.compile(r"[a-z]")


class _Stemmer(Protocol):
    def stemWord(self, word: str) -> str: ...


@cache
def _stemmer(language: str) -> _Stemmer:
    import Stemmer  # imported lazily: no work at import time

    stemmer: _Stemmer = Stemmer.Stemmer(language)
    return stemmer


def fold(text: str) -> str:
    """Lower-case, NFC-normalize and fold ``ё`` to ``е`` so that spellings compare equal."""
    return unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")


def words(text: str) -> list[str]:
    """The folded words of ``text``; hyphenated and dotted words stay whole (``imo.im``)."""
    return _WORD.findall(fold(text))


def folded_words(folded: str) -> list[str]:
    """``words`` of a text ``fold`` already folded (so it is not folded twice)."""
    return _WORD.findall(folded)


def split_compound(word: str) -> list[str]:
    """``телеграм-канал`` → ``["телеграм", "канал"]``; a plain word → ``[word]``."""
    return [part for part in _JOINER.split(word) if part]


@lru_cache(maxsize=32768)  # pure; news repeats its words, and Snowball is the costly part
def stem(word: str) -> str:
    """The Snowball stem of one folded word, chosen by its script (Russian or English)."""
    if _CYRILLIC.search(word):
        return _stemmer("russian").stemWord(word)
    if _LATIN.search(word):
        return _stemmer("english").stemWord(word)
    return word


def stems(text: str) -> Iterator[str]:
    """Stems of every word part of ``text``, in order."""
    for word in words(text):
        if word.isalnum():  # no joiner inside: split_compound would return [word]
            yield stem(word)
        else:
            for part in split_compound(word):
                yield stem(part)

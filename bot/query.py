"""What search reads: the roots of words in stories and queries, and parsed queries. Pure.

Terms are Snowball stems reduced to a shared root (``блокировки`` and ``заблокировал`` →
``блок``; prefixes that turn a word around, such as ``раз-``/``un-``, keep it narrow),
filter terms ``app:…``, ``country:…``, ``lang:…``, and ``*`` (every story). A query is
terms that must all match, filters, and quoted phrases checked on the stories found.
Refusals are ``QueryError``s naming a text of the catalog, so readers see why in their
language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache

from bot.errors import QueryError
from bot.models import Story
from bot.text import fold, split_compound, stem, words

MAX_QUERY_CHARS = 256
MAX_TERM_CHARS = 32
LEAD_CHARS = 400
"""A story without a summary is indexed on this much of its text instead."""

_STOP_WORDS = """
a an the and or but of to in on at by for from with as is are was were be been being it its
this that these those has have had not no if into over after about than then so can will
would should could may might do does did he she they we you his her their our your them also
up out said says via who which what when where how all more new и в во не что на с со как а
то все так его но да к у же за бы по только ее от из ему уже или ни был была были быть до для
мы их чем без под будет кто этот это эти того этого при об после над через про том тем также
который которые которая которых свой своих он она они оно ли если еще может можно
"""
_ALIASES = {
    "телегр": "telegram", "телеграм": "telegram", "телеграмм": "telegram",
    "ватсап": "whatsapp", "вотсап": "whatsapp", "ютуб": "youtube", "твиттер": "twitter",
    "вайбер": "viber", "инстагр": "instagram", "инстаграм": "instagram",
    "фейсбук": "facebook", "впн": "vpn", "запрещ": "запрет", "censorship": "censor",
}  # fmt: skip
_RU_SUFFIXES: tuple[tuple[tuple[str, ...], int], ...] = (
    (("овк", "евк"), 1),  # блокировк → блокиров
    (("ова", "ева"), 1),  # блокирова → блокиров
    (("ован", "еван"), 2),  # требован → требов
    (("ов", "ев"), 2),  # блокиров → блокир
    (("ир",), 2),  # блокир → блок, цензурир → цензур
    (("ен",), 2),  # замедлен → замедл
    (("ац",), 2),  # регистрац → регистр
    (("а", "я"), 1),  # замедля → замедл
)
_PREFIXES = ("пере", "раз", "рас", "при", "про", "за", "по", "от", "вы", "о", "un")
_NEGATING = frozenset({"раз", "рас", "un"})
"""Prefixes that turn a word around (unblock, decrypt): a search for them stays narrow."""
_PREFIXED_ROOTS = frozenset({"блок", "медл", "регистр", "шифр", "треб", "штраф", "block", "ban"})
_QUOTED = re.compile(r'"([^"]*)"|«([^»]*)»|“([^”]*)”')
_FILTER = re.compile(r"^(app|country|lang):(.*)$", re.IGNORECASE)
_APP = re.compile(r"^[\w.+-]{1,32}$")
_CODE = re.compile(r"^[A-Za-z]{2}$")
_EXAMPLES = {"app": "app:whatsapp", "country": "country:RU", "lang": "lang:ru"}


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: every term and filter must match, and every phrase must appear."""

    terms: tuple[str, ...]
    filters: tuple[str, ...] = ()
    phrases: tuple[tuple[str, ...], ...] = ()


# Terms ------------------------------------------------------------------------------------


@cache
def _stop_words() -> frozenset[str]:
    return frozenset(_STOP_WORDS.split())


@lru_cache(maxsize=1 << 16)
def roots(word: str, indexing: bool = False) -> tuple[str, ...]:
    """Index terms of one folded word part; ``()`` for a stop word or a single letter.

    ``за``/``по``/``о``… are dropped before a known root (заблокировал → блок). ``раз``,
    ``рас`` and ``un`` reverse the meaning: a story saying ``разблокировали`` is indexed
    under ``разблок`` and ``блок`` (someone searching blocks wants unblocks too), while a
    search for ``разблокировка`` stays ``разблок``.
    """
    if len(word) < 2 or word in _stop_words():
        return ()
    root = stem(word)
    root = _ALIASES.get(root, root)
    if "а" <= root[0] <= "я":
        for endings, cut in _RU_SUFFIXES:
            if root.endswith(endings) and len(root) - cut >= 4:
                root = root[:-cut]
        root = _ALIASES.get(root, root)
    for prefix in _PREFIXES:
        bare = root[len(prefix) :]
        if root.startswith(prefix) and bare in _PREFIXED_ROOTS:
            if prefix not in _NEGATING:
                return (bare,)
            return (root, bare) if indexing else (root,)
    return (root[:MAX_TERM_CHARS],)


def _parts(text: str) -> list[str]:
    return [p for w in words(text) for p in ((w,) if w.isalnum() else split_compound(w))]


def sequence(text: str) -> tuple[str, ...]:
    """The text as a run of roots, stop words kept: what phrases are matched against."""
    return tuple((roots(part) or (part,))[0] for part in _parts(text))


def indexed_body(story: Story) -> str:
    return story.summary or story.text[:LEAD_CHARS]


def document_terms(story: Story) -> dict[str, int]:
    """Every term of ``story`` → 1 when it is in the title, else 0."""
    terms = {root: 0 for part in _parts(indexed_body(story)) for root in roots(part, True)}
    terms.update((root, 1) for part in _parts(story.title) for root in roots(part, True))
    terms.update((f"app:{fold(app)}", 0) for app in story.apps)
    terms.update((f"country:{code.upper()}", 0) for code in story.countries)
    if story.lang:
        terms[f"lang:{story.lang.lower()}"] = 0
    terms["*"] = 0
    return terms


# Queries ----------------------------------------------------------------------------------


def parse_query(text: str) -> Query:
    """Terms, ``"quoted phrases"`` and ``app:``/``country:``/``lang:`` filters of ``text``."""
    text = text.strip()
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError("query_too_long", limit=str(MAX_QUERY_CHARS))
    phrases: list[tuple[str, ...]] = []
    plain: list[str] = []
    for match in _QUOTED.finditer(text):
        quoted = next(group for group in match.groups() if group is not None)
        plain.append(quoted)
        if len(run := sequence(quoted)) > 1:
            phrases.append(run)
    filters: list[str] = []
    pending = ""
    for token in _QUOTED.sub(" ", text).split():
        if pending:
            filters.append(_filter(pending, token))
            pending = ""
        elif found := _FILTER.match(token):
            key, value = found.group(1).lower(), found.group(2)
            if value:
                filters.append(_filter(key, value))
            else:
                pending = key
        else:
            plain.append(token)
    if pending:
        raise QueryError("query_needs_value", name=pending, example=_EXAMPLES[pending])
    terms = [root for chunk in plain for part in _parts(chunk) for root in roots(part)]
    if not terms and not filters:
        raise QueryError("query_empty")
    return Query(tuple(dict.fromkeys(terms)), tuple(dict.fromkeys(filters)), tuple(phrases))


def _filter(key: str, value: str) -> str:
    value = value.strip(".,;")
    if key == "app" and _APP.match(value):
        app = fold(value)
        return f"app:{_ALIASES.get(stem(app), app)}"
    if key != "app" and _CODE.match(value):
        return f"{key}:{value.upper() if key == 'country' else value.lower()}"
    reason = "query_app" if key == "app" else "query_code"
    raise QueryError(reason, name=key, example=_EXAMPLES[key])


def phrases_match(query: Query, story: Story) -> bool:
    if not query.phrases:
        return True
    title, body = sequence(story.title), sequence(indexed_body(story))
    return all(_contains(title, p) or _contains(body, p) for p in query.phrases)


def _contains(run: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    size = len(phrase)
    return any(run[i : i + size] == phrase for i in range(len(run) - size + 1))

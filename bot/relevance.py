"""Is a story about messenger blocking and censorship? A score and tags from a vocabulary.

The vocabulary is data (``bot/data/vocabulary.toml``, its header explains the term syntax
and the scoring). Matching works on folded words: exact words, stems as word prefixes,
English inflections, short phrases, and substrings for scripts without spaces.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from bot.errors import ConfigError
from bot.models import Relevance
from bot.text import fold, folded_words, split_compound, words

_PREFIX_KEY = 3  # prefix stems are indexed by their first three characters
_MEMO_WORDS = 50_000  # distinct words a vocabulary remembers looking up, then it starts over
_ANYWHERE = -1  # position of a substring hit: it pairs with anything in its part of the text
_PERSIAN_VARIANTS = str.maketrans({"ی": "ي", "ک": "ك"})
_TURKISH_I = str.maketrans({"ı": "i", "\u0307": None})

Kind = Literal["app", "country", "actor", "action", "object", "law", "topic", "context"]
# A word pattern: the exact forms it accepts, and a stem it accepts as a prefix ("" none).
WordPattern = tuple[frozenset[str], str]
Hit = tuple[int, "Term"]  # (word position or _ANYWHERE, term)
Target = tuple[int, float, "Term"]  # something an action can act on: (position, weight, term)


@dataclass(frozen=True, slots=True)
class Term:
    """One vocabulary entry: what kind of thing a word names, its tag and its weight."""

    kind: Kind
    tag: str = ""  # app name, country code, action; for laws and topics the action they add
    weight: float = 0.0
    ambiguous: bool = False
    broad: bool = False
    needs_object: bool = False  # an action a specific actor cannot stand in for (fines)
    specific: bool = False
    country: str = ""  # the country a country name, actor or law points to
    pair_tag: str = ""
    pair_actions: frozenset[str] = frozenset()
    rest: tuple[WordPattern, ...] = ()  # the following words of a phrase


@dataclass(frozen=True, slots=True)
class Scoring:
    """Weights and limits of the score; documented in ``vocabulary.toml``."""

    threshold: float
    title_weight: float
    body_chars: int
    window: int
    context_window: int
    phrase_gap: int
    fallback: float
    no_state_factor: float
    app_weight: float


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """Compiled vocabulary: word and stem indexes, the substring pattern and the scoring."""

    exact: Mapping[str, tuple[Term, ...]]
    prefixes: Mapping[str, tuple[tuple[str, Term], ...]]
    substrings: Mapping[str, tuple[Term, ...]]
    substring_pattern: re.Pattern[str] | None
    scoring: Scoring
    # A memo of word lookups (pure, so invisible in results): words looked up, and the
    # terms of those that are vocabulary words. Most words of a text name nothing.
    _seen: set[str] = field(default_factory=set, init=False, repr=False, compare=False)
    _found: dict[str, tuple[Term, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def threshold(self) -> float:
        """Score at or above which a story is on topic."""
        return self.scoring.threshold


@cache
def default_vocabulary() -> Vocabulary:
    """The packaged vocabulary, loaded once per process."""
    return load_vocabulary()


def load_vocabulary(path: Path | None = None) -> Vocabulary:
    """Read and compile a vocabulary TOML file; the packaged one when ``path`` is None."""
    where = str(path) if path is not None else "bot/data/vocabulary.toml"
    try:
        if path is None:
            raw = resources.files("bot").joinpath("data/vocabulary.toml").read_bytes()
        else:
            raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"vocabulary {where}: {e}") from e
    return _compile(data, where)


def is_relevant(rel: Relevance, vocabulary: Vocabulary) -> bool:
    """True when the score reaches the vocabulary's threshold."""
    return rel.score >= vocabulary.scoring.threshold


def classify(title: str, text: str, lang: str, vocabulary: Vocabulary) -> Relevance:
    """Score ``title`` and the start of ``text``; ``lang`` only adjusts folding (Turkish İ)."""
    sc = vocabulary.scoring
    parts = (
        (_scan(title, lang, vocabulary), sc.title_weight),
        (_scan(text[: sc.body_chars], lang, vocabulary), 1.0),
    )
    found = [_targets(hits, sc) for hits, _ in parts]
    apps = {term.tag for targets in found for _, _, term in targets if term.kind == "app"}
    everywhere = [(_ANYWHERE, w, t) for targets in found for _, w, t in targets]
    countries: set[str] = set()
    actions: set[str] = set()
    state = False  # a country, a state actor or a law is named
    best: dict[tuple[int, str, str], float] = {}  # the strongest evidence of each kind
    for index, ((hits, part_weight), targets) in enumerate(zip(parts, found, strict=True)):
        for pos, term in hits:
            if term.country:
                countries.add(term.country)
            state = state or term.kind in ("country", "actor", "law")
            if term.kind == "action":
                near, pair_tags = _nearest(pos, term, targets, sc.window)
                if near == 0.0 and not term.broad:
                    near = sc.fallback * _nearest(pos, term, everywhere, sc.window)[0]
                if near == 0.0:
                    continue
                actions.add(term.tag)
                actions.update(pair_tags)
                value = term.weight * near * part_weight
            elif term.kind in ("actor", "law", "topic"):
                if term.kind != "actor" and term.tag:
                    actions.add(term.tag)
                value = term.weight * part_weight
            else:
                continue
            key = (index, term.kind, term.tag)
            best[key] = max(best.get(key, 0.0), value)
    action_sum = sum(v for (_, kind, _), v in best.items() if kind == "action")
    other = sum(v for (_, kind, _), v in best.items() if kind != "action")
    raw = action_sum * (1.0 if state else sc.no_state_factor) + other
    return Relevance(
        score=round(1.0 - math.exp(-raw), 4),
        apps=tuple(sorted(apps)),
        countries=tuple(sorted(countries)),
        actions=tuple(sorted(actions)),
    )


# ---------------------------------------------------------------------------- matching


def _tokens(folded: str, lang: str) -> list[str]:
    """Words of a folded text; a hyphenated or dotted word comes whole, then part by part."""
    # Turkish İ/I/ı fold differently; the vocabulary writes them all "i"
    found = words(folded.translate(_TURKISH_I)) if lang == "tr" else folded_words(folded)
    compound = [i for i, word in enumerate(found) if not word.isalnum()]
    if not compound:
        return found
    out: list[str] = []
    start = 0
    for i in compound:
        out.extend(found[start : i + 1])
        parts = split_compound(found[i])
        if len(parts) > 1:
            out.extend(parts)
        start = i + 1
    out.extend(found[start:])
    return out


def _phrase_end(tokens: list[str], start: int, rest: tuple[WordPattern, ...], gap: int) -> int:
    """Index of the phrase's last word when ``rest`` follows ``start``, else -1."""
    at = start
    for forms, prefix in rest:
        for nxt in range(at + 1, min(at + 2 + gap, len(tokens))):
            if tokens[nxt] in forms or (prefix and tokens[nxt].startswith(prefix)):
                at = nxt
                break
        else:
            return -1
    return at


def _scan(text: str, lang: str, vocabulary: Vocabulary) -> list[Hit]:
    """Every vocabulary hit in ``text`` as (word position, term)."""
    if not text:
        return []
    folded = fold(text)
    tokens = _tokens(folded, lang)
    gap = vocabulary.scoring.phrase_gap
    table = _lookup(set(tokens), vocabulary)
    hits: list[Hit] = []
    covered: dict[str, int] = {}  # kind → last position a phrase of that kind covers
    for i in [i for i, token in enumerate(tokens) if token in table] if table else ():
        found = table[tokens[i]]
        longest: dict[str, tuple[int, Term]] = {}  # kind → the longest phrase starting here
        for term in found:
            if term.rest:
                end = _phrase_end(tokens, i, term.rest, gap)
                if end > longest.get(term.kind, (-1, term))[0]:
                    longest[term.kind] = (end, term)
        for kind, (end, term) in longest.items():
            hits.append((i, term))
            covered[kind] = max(covered.get(kind, -1), end)
        for term in found:
            if not term.rest and covered.get(term.kind, -1) < i:
                hits.append((i, term))
    if vocabulary.substring_pattern is not None:
        for match in vocabulary.substring_pattern.finditer(folded):
            hits.extend((_ANYWHERE, term) for term in vocabulary.substrings[match.group()])
    return hits


def _lookup(distinct: set[str], vocabulary: Vocabulary) -> dict[str, tuple[Term, ...]]:
    """The terms of those ``distinct`` words that are vocabulary words, through the memo."""
    seen, found = vocabulary._seen, vocabulary._found
    if len(seen) > _MEMO_WORDS:
        seen.clear()
        found.clear()
    table: dict[str, tuple[Term, ...]] = {}
    new = distinct - seen
    for token in new:
        terms = _terms(token, vocabulary)
        if terms:
            table[token] = found[token] = terms
    seen |= new
    for token in distinct & found.keys():
        # ``or``: another thread may have cleared the memo in between
        table[token] = found.get(token) or _terms(token, vocabulary)
    return table


def _terms(token: str, vocabulary: Vocabulary) -> tuple[Term, ...]:
    """Terms whose first word is ``token``: exact forms, then stems it starts with."""
    terms = vocabulary.exact.get(token, ())
    stems = vocabulary.prefixes.get(token[:_PREFIX_KEY])
    if stems:
        terms = terms + tuple(term for stem, term in stems if token.startswith(stem))
    return terms


def _near(a: int, b: int, window: int) -> bool:
    return a == _ANYWHERE or b == _ANYWHERE or abs(a - b) <= window


def _targets(hits: list[Hit], sc: Scoring) -> list[Target]:
    """What actions can act on in one part: apps (ambiguous ones only in context), objects
    and specific actors."""
    anchors = [p for p, t in hits if t.kind == "context" or (t.kind == "app" and not t.ambiguous)]
    out: list[Target] = []
    for pos, term in hits:
        if term.kind == "app":
            if term.ambiguous and not any(_near(pos, a, sc.context_window) for a in anchors):
                continue
            out.append((pos, sc.app_weight, term))
        elif term.kind == "object":
            out.append((pos, term.weight, term))
        elif term.kind == "actor" and term.specific:
            out.append((pos, 1.0, term))
    return out


def _nearest(pos: int, action: Term, targets: list[Target], window: int) -> tuple[float, list[str]]:
    """Weight of the best target near an action, and tags the pairs add (``vpn_ban``)."""
    best = 0.0
    tags: list[str] = []
    for where, weight, term in targets:
        if _near(pos, where, window) and not (action.needs_object and term.kind == "actor"):
            best = max(best, weight)
            if term.pair_tag and action.tag in term.pair_actions:
                tags.append(term.pair_tag)
    return best, tags


# ---------------------------------------------------------------------------- loading


def _english_forms(base: str) -> set[str]:
    """``ban`` → ban, bans, banned, banning...; over-generation is harmless."""
    forms = {base, base + "s", base + "es", base + "ed", base + "ing", base + "d"}
    if base.endswith("e"):
        forms.add(base[:-1] + "ing")
    if base.endswith("y"):
        forms |= {base[:-1] + "ies", base[:-1] + "ied"}
    if len(base) >= 3 and base[-1] not in "aeiouwxy" and base[-2] in "aeiou":
        forms |= {base + base[-1] + "ed", base + base[-1] + "ing"}
    return forms


def _word_pattern(part: str, where: str) -> WordPattern:
    base = part.rstrip("*+")
    if words(base) != [base]:
        raise ConfigError(f"vocabulary {where}: {part!r} is not one folded word")
    if part.endswith("*"):
        if len(base) < _PREFIX_KEY:
            raise ConfigError(f"vocabulary {where}: stem {part!r} is shorter than 3")
        return frozenset(), base
    if part.endswith("+"):
        return frozenset(_english_forms(base)), ""
    return frozenset({base}), ""


class _Builder:
    """Collects terms into the indexes of a :class:`Vocabulary`."""

    def __init__(self) -> None:
        self.exact: dict[str, list[Term]] = {}
        self.prefixes: dict[str, list[tuple[str, Term]]] = {}
        self.substrings: dict[str, list[Term]] = {}

    def add(self, patterns: object, term: Term, where: str) -> None:
        if not isinstance(patterns, list):
            raise ConfigError(f"vocabulary {where}: expected a list of strings")
        for raw in patterns:
            if not isinstance(raw, str) or not raw.strip("~*+ "):
                raise ConfigError(f"vocabulary {where}: bad term {raw!r}")
            if raw.startswith("~"):
                text = fold(raw[1:])
                for variant in {text, text.translate(_PERSIAN_VARIANTS)}:
                    self.substrings.setdefault(variant, []).append(term)
                continue
            folded = fold(raw).translate(_TURKISH_I)
            head, *rest = (_word_pattern(p, where) for p in folded.split())
            full = replace(term, rest=tuple(rest))
            forms, prefix = head
            for form in forms:
                self.exact.setdefault(form, []).append(full)
            if prefix:
                self.prefixes.setdefault(prefix[:_PREFIX_KEY], []).append((prefix, full))

    def build(self, scoring: Scoring) -> Vocabulary:
        keys = sorted(self.substrings, key=len, reverse=True)
        pattern = re.compile("|".join(map(re.escape, keys))) if keys else None
        return Vocabulary(
            exact={k: tuple(v) for k, v in self.exact.items()},
            prefixes={k: tuple(v) for k, v in self.prefixes.items()},
            substrings={k: tuple(v) for k, v in self.substrings.items()},
            substring_pattern=pattern,
            scoring=scoring,
        )


def _table(data: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"vocabulary {where}: {key} must be a table")
    return value


def _entries(
    data: Mapping[str, Any], section: str, where: str
) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(name, table, where) of each entry of a section like ``[apps.telegram]``."""
    for name, entry in _table(data, section, where).items():
        at = f"{where} {section}.{name}"
        if not isinstance(entry, dict):
            raise ConfigError(f"vocabulary {at} must be a table")
        yield name, entry, at


def _number(table: Mapping[str, Any], key: str, where: str, default: float | None = None) -> float:
    value = table.get(key, default)
    if value is None:
        raise ConfigError(f"vocabulary {where}.{key} is missing")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"vocabulary {where}.{key} must be a number")
    return float(value)


def _scoring(table: Mapping[str, Any], where: str) -> Scoring:
    at = f"{where} scoring"
    return Scoring(
        threshold=_number(table, "threshold", at),
        title_weight=_number(table, "title_weight", at),
        body_chars=int(_number(table, "body_chars", at)),
        window=int(_number(table, "window", at)),
        context_window=int(_number(table, "context_window", at)),
        phrase_gap=int(_number(table, "phrase_gap", at)),
        fallback=_number(table, "fallback", at),
        no_state_factor=_number(table, "no_state_factor", at),
        app_weight=_number(table, "app_weight", at),
    )


def _compile(data: Mapping[str, Any], where: str) -> Vocabulary:
    b = _Builder()
    b.add(_table(data, "context", where).get("terms", []), Term("context"), f"{where} context")
    for tag, entry, at in _entries(data, "apps", where):
        b.add(entry.get("terms", []), Term("app", tag), at)
        b.add(entry.get("ambiguous", []), Term("app", tag, ambiguous=True), at)
    for code, terms in _table(data, "countries", where).items():
        b.add(terms, Term("country", code.upper(), country=code.upper()), f"{where} {code}")
    for name, entry, at in _entries(data, "actors", where):
        specific = bool(entry.get("specific", False))
        country = str(entry.get("country", ""))
        actor = Term(
            "actor", name, _number(entry, "weight", at, 0.0), specific=specific, country=country
        )
        b.add(entry.get("terms", []), actor, at)
    for tag, entry, at in _entries(data, "actions", where):
        weight = _number(entry, "weight", at, 1.0)
        action = Term("action", tag, weight, needs_object=bool(entry.get("needs_object", False)))
        b.add(entry.get("terms", []), action, at)
        broad = replace(action, weight=_number(entry, "broad_weight", at, weight), broad=True)
        b.add(entry.get("broad", []), broad, at)
    for name, entry, at in _entries(data, "objects", where):
        pairs = frozenset(str(a) for a in entry.get("pair_actions", []))
        tag = str(entry.get("pair_tag", ""))
        obj = Term(
            "object", name, _number(entry, "weight", at, 1.0), pair_tag=tag, pair_actions=pairs
        )
        b.add(entry.get("terms", []), obj, at)
    standalone: tuple[tuple[str, Kind, str], ...] = (
        ("laws", "law", "law"),
        ("topics", "topic", ""),
    )
    for section, kind, default_tag in standalone:
        for _, entry, at in _entries(data, section, where):
            tag, country = str(entry.get("tag", default_tag)), str(entry.get("country", ""))
            term = Term(kind, tag, _number(entry, "weight", at, 0.0), country=country)
            b.add(entry.get("terms", []), term, at)
    return b.build(_scoring(_table(data, "scoring", where), where))

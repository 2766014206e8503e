"""Frozen records passed between the pure parts of the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class RawEntry:
    """One entry as the feed gave it; ``html`` is the richest body (content:encoded first)."""

    guid: str
    link: str
    title: str
    html: str
    published: datetime | None
    lang: str = ""


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str
    lang: str
    entries: tuple[RawEntry, ...]
    warning: str = ""
    """Why feedparser thought the feed was broken, when it still gave entries."""


def lang_code(tag: str) -> str:
    """``en-US`` → ``en``; anything that is not a two-letter code → ``""``."""
    code = tag.strip().lower().replace("_", "-").split("-")[0]
    return code if len(code) == 2 and code.isalpha() else ""


@dataclass(frozen=True, slots=True)
class Relevance:
    """How much a text is about messenger blocking and censorship, and what it names."""

    score: float
    apps: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Story:
    """One news item, normalized. ``published`` and ``fetched`` are aware UTC datetimes."""

    id: str
    url: str
    title: str
    text: str
    source: str
    feed_url: str
    published: datetime
    fetched: datetime
    lang: str
    guid: str = ""
    score: float = 0.0
    apps: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    summary: str = ""
    cluster: str = ""


@dataclass(frozen=True, slots=True)
class Event:
    """One cluster of stories about the same event; ``stories[0]`` is the lead."""

    cluster: str
    stories: tuple[Story, ...] = field(default_factory=tuple)

    @property
    def lead(self) -> Story:
        return self.stories[0]

    @property
    def sources(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for story in self.stories:
            seen.setdefault(story.source, None)
        return tuple(seen)

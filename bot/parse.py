"""Feed bytes to raw entries with feedparser. No I/O: the caller fetched the bytes."""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.errors import ParseError

_HTML_START = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S
)


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
    link: str
    entries: tuple[RawEntry, ...]
    warning: str = ""
    """Why feedparser thought the feed was broken, when it still gave entries."""


def parse_feed(url: str, body: bytes, headers: Mapping[str, str]) -> ParsedFeed:
    """Entries of the feed in ``body``; ParseError when nothing usable is in it."""
    import feedparser  # imported in the worker that parses, not by every command

    if not body.strip():
        raise ParseError(url, "the server sent an empty body instead of a feed")
    parsed = feedparser.parse(
        body,
        response_headers={k.lower(): v for k, v in headers.items()},
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    entries = tuple(_entry(e) for e in parsed.entries)
    warning = str(parsed.get("bozo_exception", "")) if parsed.bozo else ""
    if not entries:
        version = parsed.get("version", "")
        if _HTML_START.match(body[:2048]):
            raise ParseError(url, "this address serves an HTML page, not a feed (look for RSS)")
        if not version or warning:
            detail = f": {warning}" if warning else ""
            raise ParseError(url, f"not a valid RSS/Atom/RDF feed{detail}")
    feed: Any = parsed.feed
    return ParsedFeed(
        title=str(feed.get("title", "")),
        lang=_lang_code(str(feed.get("language", ""))),
        link=str(feed.get("link", "")),
        entries=entries,
        warning=warning[:300],
    )


def _entry(entry: Any) -> RawEntry:
    # dict.get skips FeedParserDict's key aliasing, which none of these keys has: same values.
    get = dict.get
    html = ""
    for content in get(entry, "content", ()):
        value = get(content, "value", "")
        if len(value) > len(html):
            html = value
    summary = get(entry, "summary", "")
    if len(summary) > len(html):
        html = summary
    detail = get(entry, "title_detail") or {}
    return RawEntry(
        guid=str(get(entry, "id", "") or ""),
        link=str(get(entry, "link", "") or ""),
        title=str(get(entry, "title", "") or ""),
        html=html,
        published=_when(get(entry, "published_parsed") or get(entry, "updated_parsed")),
        lang=_lang_code(str(get(detail, "language", "") or "")),
    )


def _when(parsed: Any) -> datetime | None:
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (OverflowError, ValueError, OSError, TypeError):
        return None


def _lang_code(tag: str) -> str:
    """``en-US`` → ``en``; anything that is not a two-letter code → ``""``."""
    code = tag.strip().lower().replace("_", "-").split("-")[0]
    return code if len(code) == 2 and code.isalpha() else ""

"""Feed bytes to raw entries. No I/O: the caller fetched the bytes.

Plain RSS 2.0 in UTF-8 is read by ``fastrss`` (the same entries, several times faster);
everything else, including every broken feed, by feedparser.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.errors import ParseError
from bot.fastrss import parse_rss
from bot.models import ParsedFeed, RawEntry, lang_code

_HTML_START = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S
)


def parse_feed(url: str, body: bytes, headers: Mapping[str, str]) -> ParsedFeed:
    """Entries of the feed in ``body``; ParseError when nothing usable is in it."""
    if not body.strip():
        raise ParseError(url, "the server sent an empty body instead of a feed")
    lowered = {k.lower(): v for k, v in headers.items()}
    return parse_rss(body, lowered) or parse_with_feedparser(url, body, lowered)


def parse_with_feedparser(url: str, body: bytes, headers: Mapping[str, str]) -> ParsedFeed:
    """``parse_feed`` by feedparser alone; ``headers`` have lower-case names."""
    import feedparser  # imported in the worker that parses, not by every command

    try:
        parsed = feedparser.parse(
            body, response_headers=dict(headers), sanitize_html=False, resolve_relative_uris=False
        )
    except Exception as e:  # feedparser's own bugs on odd input: one feed, not the whole poll
        raise ParseError(url, f"feedparser could not read this feed ({e!r:.200})") from e
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
        lang=lang_code(str(feed.get("language", ""))),
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
        lang=lang_code(str(get(detail, "language", "") or "")),
    )


def _when(parsed: Any) -> datetime | None:
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (OverflowError, ValueError, OSError, TypeError):
        return None

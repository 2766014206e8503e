"""Raw entries to clean Story records: canonical URLs, plain text, UTC dates, language."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bot import keys
from bot.models import RawEntry, Story

TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "yclid", "dclid", "msclkid", "igshid", "ref", "ref_src", "_ga",
     "mkt_tok", "spm", "cmpid", "xtor", "ito", "utm", "rss", "from", "source", "feature"}
)  # fmt: skip
TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "hsa_", "_hs", "oly_", "vero_")
EXPECTED_LANGUAGES = ("en", "ru", "uk", "fa", "tr", "zh", "de", "fr", "es", "ar", "be", "kk")
MAX_TEXT = 50_000
FUTURE_SLACK = timedelta(minutes=10)

_DROP_BLOCKS = re.compile(
    r"<(script|style|noscript|iframe|svg|template|figcaption)\b.*?</\1\s*>", re.I | re.S
)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_BREAKS = re.compile(r"<(?:br|/p|/div|/li|/h[1-6]|/blockquote|/tr|p|div|li|h[1-6])\b[^>]*>", re.I)
_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"[ \t\u00a0\u200b\r\f\v]+")
_ODD_SPACES = re.compile(r"[\t\u00a0\u200b\r\f\v]")  # with "  ", what _SPACES changes


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment: scripts dropped, block ends as newlines, entities decoded."""
    if "<" not in markup and "&" not in markup:
        return _squeeze(markup)
    text = _COMMENT.sub(" ", markup)
    text = _DROP_BLOCKS.sub(" ", text)
    text = _BREAKS.sub("\n", text)
    text = _TAG.sub(" ", text)
    return _squeeze(html.unescape(text))


def _squeeze(text: str) -> str:
    """Runs of spaces as one space, whitespace around line breaks and blank lines dropped."""
    if "  " in text or _ODD_SPACES.search(text):
        text = _SPACES.sub(" ", text)
    if "\n" not in text:
        return text.strip()
    return "\n".join(line for line in map(str.strip, text.split("\n")) if line)


def canonical_url(url: str) -> str:
    """The URL without tracking parameters and fragment, scheme and host lower-cased."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return url
    netloc = parts.netloc.lower()
    if netloc.endswith(":80") and parts.scheme.lower() == "http":
        netloc = netloc[:-3]
    elif netloc.endswith(":443") and parts.scheme.lower() == "https":
        netloc = netloc[:-4]
    query = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if key.lower() not in TRACKING_PARAMS and not key.lower().startswith(TRACKING_PREFIXES)
    ]
    path = parts.path or "/"
    return urlunsplit((parts.scheme.lower(), netloc, path, urlencode(query), ""))


def story_id(url: str, feed_url: str, guid: str) -> str:
    """Stable id: from the canonical URL, or from feed and guid when there is no link."""
    return keys.digest(url) if url else keys.digest(f"{feed_url} {guid}")


@cache
def _identifier() -> object:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(EXPECTED_LANGUAGES))
    return identifier


def detect_language(text: str) -> str:
    """ISO 639-1 code among the languages we expect; ``""`` when there is too little text."""
    sample = text[:2000]
    if sum(ch.isalpha() for ch in sample) < 12:
        return ""
    lang, _probability = _identifier().classify(sample)  # type: ignore[attr-defined]
    return str(lang)


def make_story(
    entry: RawEntry,
    *,
    feed_url: str,
    source: str,
    lang: str,
    fetched: datetime,
) -> Story | None:
    """A Story for ``entry``, or None when it has neither a title nor any text."""
    text = html_to_text(entry.html)[:MAX_TEXT]
    title = html_to_text(entry.title)[:1000]
    if not title:
        if not text:
            return None
        title = _title_from_text(text)
    link = entry.link or (entry.guid if entry.guid.startswith(("http://", "https://")) else "")
    url = canonical_url(link) if link else ""
    published = entry.published
    if published is None or published > fetched + FUTURE_SLACK:
        published = fetched
    language = lang or entry.lang or detect_language(f"{title}\n{text}") or "und"
    return Story(
        id=story_id(url, feed_url, entry.guid or title),
        url=url,
        title=title,
        text=text,
        source=source,
        feed_url=feed_url,
        published=published,
        fetched=fetched,
        lang=language,
        guid=entry.guid or url or title,
    )


def _title_from_text(text: str) -> str:
    first = text.split("\n", 1)[0]
    if len(first) <= 120:
        return first
    cut = first[:120].rsplit(" ", 1)[0]
    return f"{cut}…"


def unique(stories: Sequence[Story]) -> list[Story]:
    """Stories with duplicate ids (duplicate guids or links in one feed) dropped, order kept."""
    seen: set[str] = set()
    kept = []
    for story in stories:
        if story.id not in seen:
            seen.add(story.id)
            kept.append(story)
    return kept

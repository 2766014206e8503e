"""A fast path for plain, well-formed RSS 2.0 in UTF-8: the same entries feedparser gives.

feedparser handles the long tail of broken feeds, but it pays for that on every feed: most
of a poll's CPU went into its SAX callbacks. Most real feeds are plain RSS 2.0, so for
those this module reads the document with ElementTree (C expat) and reproduces what
feedparser's strict parser gives for the fields we use: the values stripped, the
UTF-8-read-as-Latin-1 repair and the cp1252 mapping, link clean-ups, a permalink guid as
the link, the longest of description and ``content:encoded``, dates in UTC.

Anything outside that well-understood subset returns None and feedparser decides: another
encoding, a DOCTYPE, ``xml:base``/``xml:lang``, an element or attribute in an item whose
effect we do not reproduce, a repeated field, a date in an unusual form. The tests check
that both paths agree, on fixtures and on generated documents. No I/O.
"""

from __future__ import annotations

import contextlib
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urljoin

from bot.models import ParsedFeed, RawEntry, lang_code

OWN_PREFIXES = {
    "content": "http://purl.org/rss/1.0/modules/content/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "media": "http://search.yahoo.com/mrss/",
    "wfw": "http://wellformedweb.org/CommentAPI/",
    "slash": "http://purl.org/rss/1.0/modules/slash/",
}
"""feedparser's prefixes for the namespaces read here; it names their elements by them."""
CONTENT, DC, MEDIA, WFW, SLASH = (f"{{{uri}}}" for uri in OWN_PREFIXES.values())

XML_TYPES = frozenset(
    {"application/rss+xml", "application/xml", "application/atom+xml", "application/rdf+xml"}
)
TEXT_FIELDS = frozenset(
    {"title", "link", "description", "pubDate", CONTENT + "encoded", DC + "date"}
)
"""Item children read as text: at most one each, no attributes, no child elements."""
HARMLESS = frozenset(
    {"author", "category", "comments", "enclosure", DC + "creator", DC + "subject",
     MEDIA + "content", MEDIA + "thumbnail", WFW + "commentRss", SLASH + "comments",
     "{com-wordpress:feed-additions:1}post-id"}
)  # fmt: skip
"""Item children feedparser reads into fields we do not use; allowed without children."""
CHANNEL_PARTS = {"image": frozenset({"url", "title", "link", "width", "height", "description"}),
                 "textInput": frozenset({"title", "description", "name", "link"}),
                 "skipHours": frozenset({"hour"}), "skipDays": frozenset({"day"})}  # fmt: skip
"""The channel children that may hold elements, with what they may hold. feedparser keeps
an image's or a text input's title and link apart; in other children, markup can upset its
content tracking for the entries after them."""
NAMED = frozenset({"title", "language", "item", "entry", "channel", "rss", "feed"})
"""Local names feedparser reads as the feed's title or language, or as the start of an entry,
in whatever namespace; channel children by these names are left to feedparser."""
GEO = ("{http://www.opengis.net/gml}", "{http://www.georss.org/georss}")

_DECLARATION = re.compile(rb"<\?xml[^>]*?>")  # what feedparser replaces with its own
_DECLARED = re.compile(rb"encoding\s*=\s*[\"']([^\"']*)[\"']")
_FIRST_LINE_ENCODING = re.compile(rb"^<\?.*encoding=['\"](.*?)['\"].*\?>")  # feedparser's
_PROLOG_ENTITY = re.compile(rb"^\s*<!ENTITY", re.M)  # feedparser strips these lines
_ELEMENT = re.compile(rb"<\w")
_ENTITY_LIKE = re.compile(r"&([A-Za-z0-9_]+);")
_SLASHES = re.compile(r"^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")
_CP1252 = {
    i: bytes([i]).decode("cp1252") for i in range(0x80, 0xA0) if i not in b"\x81\x8d\x8f\x90\x9d"
}
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}
_RFC822 = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d\d?) ([A-Z][a-z]{2}) (\d{4}) "
    r"(\d\d):(\d\d)(?::(\d\d))? (GMT|UT|Z|[+-]\d{4})"
)
_W3DTF = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(Z|[+-]\d\d:\d\d)")


class _Defer(Exception):
    """The document is outside the subset this module reproduces exactly."""


def parse_rss(body: bytes, headers: Mapping[str, str]) -> ParsedFeed | None:
    """The feed in ``body`` as feedparser would give it, or None to let feedparser decide."""
    if not _utf8_xml(body, headers):
        return None
    try:
        root = None
        for event, node in ET.iterparse(io.BytesIO(body), events=("start", "start-ns")):
            if event == "start":
                root = node if root is None else root
            elif " " in node[1] or OWN_PREFIXES.get(node[0], node[1]) != node[1]:
                return None  # feedparser rejects the name, or its prefix map is misled
        return _feed(root, headers.get("content-language", "")) if root is not None else None
    except (ET.ParseError, _Defer):
        return None


def _utf8_xml(body: bytes, headers: Mapping[str, str]) -> bool:
    """Whether feedparser would read ``body`` as UTF-8 XML without a warning or a base URI."""
    if b"<!DOCTYPE" in body or "content-location" in headers:  # entities, a base URI
        return False
    if body[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in body[:4]:
        return False  # UTF-16 or UTF-32
    if headers:  # feedparser warns about a response without a content type
        media, _, params = headers.get("content-type", "").partition(";")
        charset = params.strip().lower().removeprefix("charset=").strip("\"' ")
        media = media.strip()  # feedparser compares it as it is
        if charset != "utf-8" and (charset or media == "text/xml"):
            return False  # text/xml without a charset is US-ASCII to feedparser (RFC 3023)
        if media not in XML_TYPES and media != "text/xml":
            return False
    text = body.removeprefix(b"\xef\xbb\xbf")
    if text.startswith(b"<?xml"):
        declaration = _DECLARATION.match(text)
        if declaration is None or not declaration.group().endswith(b"?>"):
            return False  # feedparser would cut a processing instruction at its first ">"
        if (named := _DECLARED.search(declaration.group())) and not _is_utf8(named.group(1)):
            return False
    if (named := _FIRST_LINE_ENCODING.match(text)) and not _is_utf8(named.group(1)):
        return False
    root = _ELEMENT.search(text)
    return not _PROLOG_ENTITY.search(text, 0, root.start() if root else len(text))


def _is_utf8(name: bytes) -> bool:
    return name.lower() == b"utf-8"  # expat itself refuses "utf8"


def _feed(root: ET.Element, header_lang: str) -> ParsedFeed:
    if root.tag != "rss" or set(root.attrib) - {"version"} or len(root) != 1:
        raise _Defer
    channel = root[0]
    if channel.tag != "channel" or channel.attrib:
        raise _Defer
    items = [child for child in channel if child.tag == "item"]
    if not items:
        raise _Defer  # feedparser decides what an empty or odd document is
    fields: dict[str, str] = {}
    for child in channel:
        _check_attributes(child)
        if child.tag == "item":
            continue
        if child.tag in ("title", "language"):
            if child.tag in fields or child.attrib or len(child):
                raise _Defer
            fields[child.tag] = _value(child.text)
        elif child.tag in CHANNEL_PARTS:
            allowed = CHANNEL_PARTS[child.tag]
            if any(part.tag not in allowed or part.attrib or len(part) for part in child):
                raise _Defer
        elif len(child) or _local(child) in NAMED or child.tag.startswith(GEO):
            raise _Defer  # markup inside, a feed field or an entry under another name, or
            # geography, on which feedparser can fail
    lang = fields.get("language", header_lang)
    entry_lang = lang_code(header_lang)
    return ParsedFeed(
        title=fields.get("title", ""),
        lang=lang_code(lang),
        entries=tuple(_entry(item, entry_lang) for item in items),
    )


def _local(element: ET.Element) -> str:
    """The element's name as feedparser matches it: without namespace, lower-cased."""
    return element.tag.rpartition("}")[2].lower()


def _check_attributes(element: ET.Element) -> None:
    """Defer on ``xml:base``, ``xml:lang`` or a look-alike in ``element`` or what it holds:
    feedparser resolves links and tags languages by them (and it drops namespaces)."""
    for node in element.iter():
        if any(name.rpartition("}")[2].lower() in ("base", "lang") for name in node.attrib):
            raise _Defer


def _entry(item: ET.Element, lang: str) -> RawEntry:
    if item.attrib:
        raise _Defer  # rdf:about, href, lastmod: feedparser reads those as fields
    texts: dict[str, str] = {}
    link: str | None = None
    for child in item:
        tag = child.tag
        if tag == "guid":
            names = [name.lower() for name in child.attrib]
            if "guid" in texts or len(child) or names not in ([], ["ispermalink"]):
                raise _Defer
            guid = _value(child.text)
            if next(iter(child.attrib.values()), "true") == "true":  # a permalink: the link too
                guid = _resolve(guid)
                link = guid if link is None else link
            texts["guid"] = guid
        elif tag in TEXT_FIELDS:
            if tag in texts or child.attrib or len(child):
                raise _Defer
            texts[tag] = value = _value(child.text)
            if tag == "link":
                link = _ENTITY_LIKE.sub(r"&\g<1>", _resolve(value).replace("&amp;", "&"))
        elif tag not in HARMLESS or len(child):
            raise _Defer
    content = texts.get(CONTENT + "encoded", "")
    summary = texts.get("description", content)
    published = _date(texts.get("pubDate")) or _date(texts.get(DC + "date"))
    return RawEntry(
        guid=texts.get("guid", ""),
        link=link or "",
        title=texts.get("title", ""),
        html=summary if len(summary) > len(content) else content,
        published=published,
        lang=lang if "title" in texts else "",  # feedparser keeps it with the title
    )


def _value(text: str | None) -> str:
    """What feedparser makes of an element's text (its ``pop`` for a UTF-8 document)."""
    value = (text or "").strip()
    if value.isascii():
        return value
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        value = value.encode("iso-8859-1").decode("utf-8")  # UTF-8 once read as Latin-1
    return value.translate(_CP1252)


def _resolve(uri: str) -> str:
    """feedparser's join against an empty base: extra slashes after the scheme go."""
    return urljoin("", _SLASHES.sub(r"\1\3", uri))


def _date(text: str | None) -> datetime | None:
    """A date in the two usual forms, in UTC; None when absent, _Defer when unusual."""
    if text is None:
        return None
    try:
        if match := _RFC822.fullmatch(text):
            day, month, year, hour, minute, second, zone = match.groups()
            month = str(_MONTHS[month])
        elif match := _W3DTF.fullmatch(text):
            year, month, day, hour, minute, second, zone = match.groups()
        else:
            raise _Defer
        local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
        offset = 0 if zone in ("GMT", "UT", "Z") else int(zone[1:3]) * 60 + int(zone[-2:])
        sign = -1 if zone[0] == "-" else 1
        stamp = local.replace(tzinfo=timezone(timedelta(minutes=sign * offset))).astimezone(UTC)
    except (KeyError, ValueError, OverflowError) as e:
        raise _Defer from e
    if not 1970 <= stamp.year < 2100:
        raise _Defer
    return stamp

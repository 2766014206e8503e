"""OPML import and export of feed lists. Pure: bytes in, feeds out, and back."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from urllib.parse import urlsplit

from bot.config import FeedConfig

MAX_OPML_BYTES = 1_000_000


def parse_opml(body: bytes) -> list[FeedConfig]:
    """Feeds of an OPML file (outlines with ``xmlUrl``); ValueError with a reason otherwise."""
    if len(body) > MAX_OPML_BYTES:
        raise ValueError("the file is larger than 1 MB")
    if b"<!DOCTYPE" in body[:4096] or b"<!ENTITY" in body[:4096]:
        raise ValueError("files with DOCTYPE or entities are not accepted")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        raise ValueError(f"not well-formed XML ({e})") from e
    if root.tag.lower() != "opml":
        raise ValueError("the root element is not <opml>")
    feeds: list[FeedConfig] = []
    seen: set[str] = set()
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or "").strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or url in seen:
            continue
        seen.add(url)
        name = (outline.get("title") or outline.get("text") or "").strip()[:100]
        lang = (outline.get("language") or "").strip().lower()[:2]
        feeds.append(FeedConfig(url=url, name=name, lang=lang if lang.isalpha() else ""))
    if not feeds:
        raise ValueError("no feed outlines with an xmlUrl")
    return feeds


def export_opml(feeds: Sequence[FeedConfig], title: str = "CensorWire feeds") -> bytes:
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    body = ET.SubElement(root, "body")
    for feed in feeds:
        attrs = {"type": "rss", "text": feed.title, "title": feed.title, "xmlUrl": feed.url}
        if feed.lang:
            attrs["language"] = feed.lang
        ET.SubElement(body, "outline", attrs)
    ET.indent(root)
    text: bytes = ET.tostring(root, encoding="utf-8")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + text

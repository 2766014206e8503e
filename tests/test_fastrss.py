"""The fast RSS path gives exactly what feedparser gives, and leaves everything else to it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.errors import ParseError
from bot.fastrss import parse_rss
from bot.parse import parse_feed, parse_with_feedparser

FEEDS = Path(__file__).parent / "data" / "feeds"
NAMESPACES = (
    'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:media="http://search.yahoo.com/mrss/" '
    'xmlns:atom="http://www.w3.org/2005/Atom"'
)
RSS_TYPE = {"content-type": "application/rss+xml"}


def rss(items: str, channel: str = "<title>Wire</title><language>ru</language>") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" {NAMESPACES}>'
        f"<channel>{channel}{items}</channel></rss>"
    ).encode()


PLAIN = rss(
    "<item><title>РКН замедлил Telegram</title>"
    "<link>https://news.example/a?utm_source=rss&amp;id=1</link>"
    '<guid isPermaLink="false">a-1</guid><pubDate>Fri, 27 Nov 2026 08:15:00 +0300</pubDate>'
    "<dc:creator>Ann</dc:creator><category>Tech</category>"
    "<description>Teaser</description>"
    "<content:encoded><![CDATA[<p>Роскомнадзор <b>замедлил</b> Telegram.</p>]]></content:encoded>"
    '<media:content url="https://news.example/1.jpg"/></item>'
    "<item><title>Second</title><guid>https://news.example/b</guid>"
    "<dc:date>2026-11-27T10:00:00Z</dc:date><description>&lt;p&gt;Body&lt;/p&gt;</description>"
    "</item>",
    "<title>Wire</title><link>https://news.example/</link><language>ru-RU</language>"
    '<atom:link rel="self" href="https://news.example/rss"/>'
    "<image><url>https://news.example/logo.png</url><title>Logo</title></image>",
)


def both(body: bytes, headers: dict[str, str]) -> tuple[object, object]:
    try:
        slow: object = parse_with_feedparser("https://news.example/rss", body, headers)
    except ParseError as e:
        slow = e.reason
    return parse_rss(body, headers), slow


@pytest.mark.parametrize("headers", [{}, RSS_TYPE, {"content-type": "text/xml; charset=UTF-8"}])
def test_plain_rss_takes_the_fast_path_with_feedparsers_result(headers: dict[str, str]) -> None:
    fast, slow = both(PLAIN, headers)
    assert fast is not None
    assert fast == slow
    assert fast.lang == "ru" and fast.title == "Wire"
    first, second = fast.entries
    assert first.guid == "a-1" and first.link == "https://news.example/a?utm_source=rss&id=1"
    assert first.html == "<p>Роскомнадзор <b>замедлил</b> Telegram.</p>"
    assert first.published == datetime(2026, 11, 27, 5, 15, tzinfo=UTC)
    assert second.link == "https://news.example/b"  # a permalink guid is the link
    assert second.html == "<p>Body</p>" and second.published == datetime(
        2026, 11, 27, 10, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("name", "body", "headers"),
    [
        ("legacy encoding", PLAIN.replace(b"utf-8", b"windows-1251"), RSS_TYPE),
        ("charset header", PLAIN, {"content-type": "application/rss+xml; charset=koi8-r"}),
        ("text/xml without charset (feedparser warns)", PLAIN, {"content-type": "text/xml"}),
        ("served as HTML", PLAIN, {"content-type": "text/html"}),
        ("no content type (feedparser warns)", PLAIN, {"server": "x"}),
        ("content-location base", PLAIN, {**RSS_TYPE, "content-location": "https://x.example/"}),
        ("doctype", PLAIN.replace(b"<rss", b"<!DOCTYPE rss><rss", 1), RSS_TYPE),
        ("xml:base", PLAIN.replace(b"<item>", b'<item xml:base="https://b.example/">', 1), {}),
        ("xml:lang", PLAIN.replace(b"<title>", b'<title xml:lang="en">', 1), {}),
        ("unknown item element", PLAIN.replace(b"<category>", b"<source>S</source><category>"), {}),
        ("repeated title", PLAIN.replace(b"<title>Second", b"<title>A</title><title>Second"), {}),
        ("unusual date", PLAIN.replace(b"Fri, 27 Nov 2026 08:15:00 +0300", b"27/11/2026"), {}),
        (
            "markup inside description",
            PLAIN.replace(b"<description>Teaser", b"<description><b>T</b>"),
            {},
        ),
        (
            "dc:title in the channel",
            PLAIN.replace(b"<title>Wire", b"<dc:title>X</dc:title><title>Wire"),
            {},
        ),
        ("not well-formed", PLAIN.replace(b"</channel>", b""), {}),
        (
            "prefix bound elsewhere",
            PLAIN.replace(b"<category>", b'<category xmlns:content="urn:x">'),
            {},
        ),
        (
            "namespaced base",
            PLAIN.replace(b"<category>", b'<category x:base="https://b.example/" xmlns:x="urn:x">'),
            {},
        ),
        (
            "long declaration",
            PLAIN.replace(b'encoding="utf-8"', b" " * 300 + b'encoding="windows-1251"'),
            {},
        ),
        (
            "multi-byte declaration",
            PLAIN.replace(b'encoding="utf-8"', b" " * 300 + b'encoding="shift_jis"'),
            {},
        ),
        (
            "declaration on two lines",
            PLAIN.replace(b'encoding="utf-8"', b'\nencoding="koi8-r"'),
            {},
        ),
        (
            "encoding later on the first line",
            PLAIN.replace(b"Teaser", b'<![CDATA[<?xml encoding="koi8-r"?>]]>'),
            {},
        ),
        ("utf-16", PLAIN.decode().replace("utf-8", "utf-16").encode("utf-16"), {}),
        ("content type in capitals", PLAIN, {"content-type": "Application/RSS+XML"}),
        (
            "instruction cut at >",
            PLAIN.replace(
                b'<?xml version="1.0" encoding="utf-8"?>', b'<?xml-stylesheet href="s?a>b"?>'
            ),
            {},
        ),
        ("entity line in a comment", PLAIN.replace(b"<rss", b"<!--\n<!ENTITY x -->\n<rss", 1), {}),
        ("space in a namespace", PLAIN.replace(b"<category>", b'<category xmlns:x="urn:a b">'), {}),
        (
            "markup in the channel",
            PLAIN.replace(
                b"<title>Wire", b"<description><body>About</body></description><title>Wire"
            ),
            {},
        ),
        ("atom", (FEEDS / "atom_en.xml").read_bytes(), {}),
        ("rdf", (FEEDS / "rdf_ru.xml").read_bytes(), {}),
    ],
)
def test_anything_unusual_is_left_to_feedparser(
    name: str, body: bytes, headers: dict[str, str]
) -> None:
    assert parse_rss(body, headers) is None, name


def test_a_feed_that_crashes_feedparser_is_a_parse_error_naming_it() -> None:
    geography = b'<gml:pos xmlns:gml="http://www.opengis.net/gml">1 2</gml:pos><title>Wire'
    body = PLAIN.replace(b"<title>Wire", geography)
    for headers in (RSS_TYPE, {"content-type": "text/xml"}):
        assert parse_rss(body, headers) is None  # the fast path must not read it either
        with pytest.raises(ParseError, match="feedparser could not read this feed"):
            parse_feed("https://news.example/rss", body, headers)


def test_the_plain_fixture_takes_the_fast_path() -> None:
    fast, slow = both((FEEDS / "rss_plain_ru.xml").read_bytes(), RSS_TYPE)
    assert fast is not None
    assert fast == slow
    assert (fast.title, fast.lang, len(fast.entries)) == ("Северный вестник", "ru", 4)
    throttled, fined, _bridge, shutdown = fast.entries
    assert throttled.html.startswith("<p>МОСКВА, 27 ноя")
    assert throttled.published == datetime(2026, 11, 27, 8, 20, tzinfo=UTC)
    assert fined.link == "https://vestnik.example/news/whatsapp-fine?utm_campaign=daily"
    assert shutdown.published == datetime(2026, 11, 26, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize("path", sorted(FEEDS.iterdir()), ids=lambda p: p.name)
def test_fixture_feeds_parse_as_feedparser_parses_them(path: Path) -> None:
    fast, slow = both(path.read_bytes(), RSS_TYPE)
    assert fast is None or fast == slow


TEXT = st.lists(
    st.sampled_from(
        list("ab Z09.,;:-") + list("&<>\"'") + list("ёЖé\u00a0\u0080\u0093\u009d")
        + ["Ã©", "Ð¿", "&amp;", "&foo;", "\t", "\n", "  ", "🙂", "\u202e"]
    ),
    max_size=12,
).map("".join)  # fmt: skip
PLAIN_DATES = [
    "Fri, 27 Nov 2026 08:15:00 +0300", "27 Nov 2026 08:15 GMT", "Sun, 01 Mar 2026 00:00:00 Z",
    "Mon, 31 Dec 2029 23:59:59 -0930", "Tue, 1 Jan 2030 00:00:00 UT", "2026-11-27T08:15:00Z",
    "2026-11-27T08:15:00+03:00", " Fri, 27 Nov 2026 08:15:00 GMT ",
]  # fmt: skip
ODD_DATES = ["Fri, 30 Feb 2026 10:00:00 GMT", "Fri, 27 Nov 2026 08:15:00 EST", "2026-11-27",
             "2026-11-27T08:15:00.123-05:30", "yesterday", ""]  # fmt: skip
LINKS = st.sampled_from(
    ["https://a.example/x?a=1&b=2", "https://a.example/p?x=1&amp;y=2", "http:///a.example/x",
     "https://a.example/q?t=1&copy;", "/relative/path", "", "  https://a.example/  "]
)  # fmt: skip


KINDS = ["title", "link", "description", "encoded", "guid", "pubDate", "dcdate", "author",
         "category", "enclosure", "thumbnail", "postid", "comments", "commentRss", "slash",
         "subject", "creator", "media"]  # fmt: skip


@st.composite
def field(draw: st.DrawFn, kind: str, odd: bool) -> str:
    """One element of an item, its text escaped or in CDATA, maybe with a comment inside."""
    text = draw(TEXT)
    if kind in ("link", "guid") and draw(st.booleans()):
        text = draw(LINKS)
    if kind in ("pubDate", "dcdate"):
        text = draw(st.sampled_from(PLAIN_DATES + ODD_DATES if odd else PLAIN_DATES))
    if draw(st.booleans()) and "]]>" not in text:
        body = f"<![CDATA[{text}]]>"
    else:
        cut = draw(st.integers(0, len(text))) if draw(st.booleans()) else len(text)
        body = (
            escape(text[:cut]) + ("<!-- note -->" if cut < len(text) else "") + escape(text[cut:])
        )
    match kind:
        case "guid":
            attribute = draw(
                st.sampled_from(
                    ["", ' isPermaLink="false"', ' isPermaLink="true"', ' isPermaLink="True"']
                )
            )
            return f"<guid{attribute}>{body}</guid>"
        case "encoded":
            return f"<content:encoded>{body}</content:encoded>"
        case "dcdate":
            return f"<dc:date>{body}</dc:date>"
        case "enclosure":
            return '<enclosure url="https://a.example/a.mp3" type="audio/mpeg" length="1"/>'
        case "thumbnail":
            return '<media:thumbnail url="https://a.example/t.jpg"/>'
        case "commentRss":
            return f'<wfw:commentRss xmlns:wfw="http://wellformedweb.org/CommentAPI/">{body}</wfw:commentRss>'
        case "slash":
            return f'<slash:comments xmlns:slash="http://purl.org/rss/1.0/modules/slash/">{body}</slash:comments>'
        case "subject" | "creator":
            return f"<dc:{kind}>{body}</dc:{kind}>"
        case "media":
            return '<media:content url="https://a.example/v.mp4" medium="video"/>'
        case "postid":
            return f'<post-id xmlns="com-wordpress:feed-additions:1">{body}</post-id>'
    return f"<{kind}>{body}</{kind}>"


@st.composite
def item(draw: st.DrawFn, odd: bool) -> str:
    """An item of distinct elements in any order; when ``odd``, maybe one repeated."""
    kinds = draw(st.permutations(KINDS))[: draw(st.integers(0, len(KINDS)))]
    if odd and kinds and draw(st.booleans()):
        kinds.append(kinds[0])
    return "".join(draw(field(kind, odd)) for kind in kinds)


PLAIN_CHANNEL = [
    "<title>Wire</title>", "<language>en-US</language>", "<link>https://a.example/</link>",
    "<description>About</description>", '<atom:link rel="self" href="https://a.example/rss"/>',
    "<image><url>https://a.example/l.png</url><title>Logo</title><link>https://a.example/</link></image>",
    "<textInput><title>Search</title><name>q</name><link>https://a.example/s</link></textInput>",
]  # fmt: skip
ODD_CHANNEL = ["<title> </title>", "<language/>", '<atom:link href="https://b.example/"/>',
               "<dc:language>fr</dc:language>", "<dc:title>Other</dc:title>"]  # fmt: skip
PLAIN_HEADERS = [{}, RSS_TYPE, {"content-type": "application/xml; charset=utf-8"},
                 {**RSS_TYPE, "content-language": "en_GB"}]  # fmt: skip
ODD_HEADERS = [{"content-type": "text/xml"}, {"content-type": "text/html; charset=utf-8"},
               {"content-language": "ru"}]  # fmt: skip


@st.composite
def feeds(draw: st.DrawFn, odd: bool) -> tuple[bytes, dict[str, str]]:
    """An RSS document and its response headers; ``odd`` ones may stray outside the fast path."""
    items = draw(st.lists(item(odd), min_size=1, max_size=3))
    parts = draw(
        st.lists(st.sampled_from(PLAIN_CHANNEL + ODD_CHANNEL if odd else PLAIN_CHANNEL), max_size=5)
    )
    if not odd:
        parts = list(dict.fromkeys(parts))
    channel = "".join(parts)
    item_markup = "".join(f"<item>{item}</item>" for item in items)
    in_order = draw(st.booleans())  # the channel's own elements first, or after its items
    body = rss(item_markup, channel) if in_order else rss("", item_markup + channel)
    return body, draw(st.sampled_from(PLAIN_HEADERS + ODD_HEADERS if odd else PLAIN_HEADERS))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(feeds(odd=False))
def test_generated_plain_feeds_take_the_fast_path_and_agree(
    feed: tuple[bytes, dict[str, str]],
) -> None:
    fast, slow = both(*feed)
    assert fast is not None
    assert fast == slow


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(feeds(odd=True))
def test_any_generated_feed_parses_as_feedparser_parses_it(
    feed: tuple[bytes, dict[str, str]],
) -> None:
    fast, slow = both(*feed)
    event("fast path" if fast is not None else "left to feedparser")
    assert fast is None or fast == slow

"""The digest composer: grouping, ordering, filters, labels, escaping and Telegram's limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.countries import app_name, country_name, flag, plural
from bot.digest import (
    LABELS,
    DigestOptions,
    Filters,
    apply_filters,
    compose_html,
    compose_text,
    matches,
    period,
)
from bot.models import Event, Story
from tests.fakes.tghtml import parse_telegram_html, utf16_len

START = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
END = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


def story(
    n: int,
    title: str = "",
    *,
    source: str = "Meduza",
    url: str = "",
    summary: str = "A short summary.",
    countries: tuple[str, ...] = ("RU",),
    apps: tuple[str, ...] = ("telegram",),
    lang: str = "en",
    minutes: int = 0,
) -> Story:
    published = END - timedelta(minutes=minutes)
    return Story(
        id=f"s{n}",
        url=url or f"https://example.org/news/{n}",
        title=title or f"Story number {n}",
        text="",
        source=source,
        feed_url="https://example.org/feed",
        published=published,
        fetched=published,
        lang=lang,
        countries=countries,
        apps=apps,
        summary=summary,
    )


def event(*stories: Story) -> Event:
    return Event(cluster=f"c-{stories[0].id}", stories=stories)


def options(**changes: object) -> DigestOptions:
    values: dict[str, object] = {"labels_lang": "en", "window_start": START, "window_end": END}
    values.update(changes)
    return DigestOptions(**values)  # type: ignore[arg-type]


def plain(messages: list[str]) -> list[str]:
    """Each message as the reader sees it; fails on markup Telegram would reject."""
    out = []
    for message in messages:
        text, entities = parse_telegram_html(message)
        assert utf16_len(text) <= 4000
        assert entities <= 90
        out.append(text)
    return out


def one_text(messages: list[str]) -> str:
    assert len(messages) == 1
    return plain(messages)[0]


@pytest.mark.parametrize(
    ("n", "lang", "word"),
    [
        (1, "ru", "событие"),
        (2, "ru", "события"),
        (4, "ru", "события"),
        (5, "ru", "событий"),
        (11, "ru", "событий"),
        (12, "ru", "событий"),
        (14, "ru", "событий"),
        (21, "ru", "событие"),
        (22, "ru", "события"),
        (111, "ru", "событий"),
        (1, "en", "event"),
        (2, "en", "events"),
        (21, "en", "events"),
    ],
)
def test_plural_forms(n: int, lang: str, word: str) -> None:
    assert plural(n, LABELS[lang].events, lang) == word


@pytest.mark.parametrize(
    ("count", "expected"), [(1, "1 событие"), (21, "21 событие"), (3, "3 события")]
)
def test_header_counts_events_in_russian(count: int, expected: str) -> None:
    events = [event(story(i, minutes=i)) for i in range(count)]
    text = plain(compose_html(events, options(labels_lang="ru")))[0]
    assert text.splitlines()[0] == f"Дайджест CensorWire · 27–28 нояб. · {expected} · время UTC"


@pytest.mark.parametrize(
    ("start", "end", "lang", "zone", "expected"),
    [
        (START, END, "en", "UTC", "27–28 Nov"),
        (START, END, "ru", "UTC", "27–28 нояб."),
        (
            datetime(2026, 11, 28, tzinfo=UTC),
            datetime(2026, 11, 29, tzinfo=UTC),
            "en",
            "UTC",
            "28 Nov",
        ),
        (
            datetime(2026, 11, 30, 8, tzinfo=UTC),
            datetime(2026, 12, 1, 8, tzinfo=UTC),
            "en",
            "UTC",
            "30 Nov – 1 Dec",
        ),
        (
            datetime(2026, 12, 31, 8, tzinfo=UTC),
            datetime(2027, 1, 1, 8, tzinfo=UTC),
            "ru",
            "UTC",
            "31 дек. 2026 – 1 янв. 2027",
        ),
        (
            datetime(2026, 11, 28, 1, tzinfo=UTC),
            datetime(2026, 11, 28, 22, tzinfo=UTC),
            "en",
            "UTC",
            "28 Nov",
        ),
        (
            datetime(2026, 11, 28, 1, tzinfo=UTC),
            datetime(2026, 11, 28, 22, tzinfo=UTC),
            "en",
            "Asia/Tokyo",
            "28–29 Nov",
        ),
        (
            datetime(2026, 5, 1, 8, tzinfo=UTC),
            datetime(2026, 5, 2, 8, tzinfo=UTC),
            "ru",
            "UTC",
            "1–2 мая",
        ),
    ],
)
def test_period_reads_like_a_date(
    start: datetime, end: datetime, lang: str, zone: str, expected: str
) -> None:
    assert period(start, end, ZoneInfo(zone), lang) == expected


def test_empty_input_gives_no_message() -> None:
    assert compose_html([], options()) == []
    assert compose_text([], options()) == ""


def test_item_shows_linked_bold_title_source_time_and_summary() -> None:
    lead = story(1, "Roskomnadzor throttles WhatsApp calls", summary="Calls fail on MTS.")
    [message] = compose_html([event(lead)], options())
    assert (
        '<b><a href="https://example.org/news/1">Roskomnadzor throttles WhatsApp calls</a></b>'
        in message
    )
    lines = one_text([message]).splitlines()
    assert lines[-3:] == [
        "Roskomnadzor throttles WhatsApp calls",
        "Meduza · 28 Nov 09:30",
        "Calls fail on MTS.",
    ]


@pytest.mark.parametrize(
    ("group_by", "lang", "headings"),
    [
        ("country", "en", ["🇷🇺 Russia", "🇮🇷 Iran", "🌐 International"]),
        ("country", "ru", ["🇷🇺 Россия", "🇮🇷 Иран", "🌐 В мире"]),
        ("app", "en", ["WhatsApp", "Facebook Messenger", "Telegram", "Other services"]),
        ("none", "en", []),
    ],
)
def test_groups_ordered_by_size_then_freshness(
    group_by: str, lang: str, headings: list[str]
) -> None:
    events = [
        event(story(1, countries=("IR",), apps=("facebook_messenger",), minutes=1)),
        event(story(2, countries=("RU", "IR"), apps=("whatsapp",), minutes=5)),
        event(story(3, countries=("RU",), apps=("whatsapp",), minutes=7)),
        event(story(4, countries=(), apps=(), minutes=0)),
        event(story(5, countries=("RU",), apps=("telegram",), minutes=9)),
    ]
    lines = one_text(
        compose_html(events, options(group_by=group_by, labels_lang=lang))
    ).splitlines()
    assert [line for line in lines if line in set(headings)] == headings
    titles = [line for line in lines if line.startswith("Story number")]
    assert sorted(titles) == [f"Story number {i}" for i in range(1, 6)]  # each exactly once


def test_newest_first_within_a_group() -> None:
    events = [event(story(i, minutes=m)) for i, m in [(1, 30), (2, 5), (3, 60), (4, 1)]]
    text = one_text(compose_html(events, options()))
    titles = [line for line in text.splitlines() if line.startswith("Story number")]
    assert titles == ["Story number 4", "Story number 2", "Story number 1", "Story number 3"]


def test_event_with_several_countries_appears_once_under_its_first() -> None:
    events = [
        event(story(1, countries=("IR", "RU"))),
        event(story(2, countries=("RU",), minutes=3)),
        event(story(3, countries=("RU", "IR"), minutes=4)),
    ]
    text = one_text(compose_html(events, options()))
    assert text.count("Story number 1") == 1 and text.count("Story number 3") == 1
    russia, iran = text.index("🇷🇺 Russia"), text.index("🇮🇷 Iran")
    assert russia < text.index("Story number 3") < iran < text.index("Story number 1")


@pytest.mark.parametrize(
    ("sources", "also"),
    [
        (["Meduza"], None),
        (["Meduza", "Meduza"], None),
        (["Meduza", "OpenNet", "The Bell", "OpenNet"], "also: OpenNet, The Bell"),
        (["A", "B", "C", "D", "E", "F", "G", "H"], "also: B, C, D, E, F, +2"),
    ],
)
def test_also_lists_the_other_sources(sources: list[str], also: str | None) -> None:
    stories = [story(i, source=s) for i, s in enumerate(sources)]
    [message] = compose_html([event(*stories)], options())
    text = one_text([message])
    if also is None:
        assert "also:" not in text and "<i>" not in message
    else:
        assert text.splitlines()[-1] == also
        assert f"<i>{also}</i>" in message


@pytest.mark.parametrize(
    ("lang", "limit", "line", "shown"),
    [
        ("en", 3, "…and 2 more: /latest", 3),
        ("ru", 1, "…и ещё 4: /latest", 1),
        ("en", 5, None, 5),
        ("en", None, None, 5),
    ],
)
def test_over_the_limit_points_to_latest(
    lang: str, limit: int | None, line: str | None, shown: int
) -> None:
    events = [event(story(i, minutes=i)) for i in range(5)]
    text = "\n".join(plain(compose_html(events, options(labels_lang=lang, limit=limit))))
    titles = [t for t in text.splitlines() if t.startswith("Story number")]
    assert titles == [f"Story number {i}" for i in range(shown)]  # the newest ones
    assert ("5 events" in text) or ("5 событий" in text)
    if line is None:
        assert "/latest" not in text
    else:
        assert text.splitlines()[-1] == line


@pytest.mark.parametrize(
    "title",
    [
        "<b>Telegram</b> blocked",
        "AT&amp;T &amp; Verizon",
        "<script>alert('x')</script>",
        'He said "blocked" & <i>left',
        "&lt;not an entity&gt; &#x41; &bogus;",
        "</a></b> closing tags first",
        "<a href='javascript:alert(1)'>click</a>",
    ],
)
def test_hostile_titles_are_shown_verbatim(title: str) -> None:
    lead = story(1, title, summary=f"Summary: {title}", source=title)
    [message] = compose_html([event(lead)], options())
    text = one_text([message])
    assert text.count(title) == 3  # title, source line, summary: all literal
    assert "<script>" not in message


@pytest.mark.parametrize(
    ("url", "linked"),
    [
        ("https://example.org/a?q=\"x\"&b='y'", True),
        ("HTTP://EXAMPLE.ORG/A", True),
        ("javascript:alert(1)", False),
        ("JavaScript:alert(document.cookie)", False),
        ("data:text/html,<b>x</b>", False),
        ("ftp://example.org/file", False),
        ("https://", False),
        ("https://exa mple.org/", False),
        ("https://[::1/", False),
        ("https://example.org/" + "a" * 3000, False),
    ],
)
def test_only_http_urls_become_links(url: str, linked: bool) -> None:
    [message] = compose_html([event(story(1, "Title", url=url))], options())
    text, entities = parse_telegram_html(message)
    assert ("<a href=" in message) is linked
    assert entities == (4 if linked else 3)  # header, heading, title (+ link)
    if linked:
        href = re.search(r'href="([^"]*)"', message)
        assert href is not None and '"' not in href.group(1) and "'" not in href.group(1)
    assert "Title" in text


@pytest.mark.parametrize(
    "title",
    [
        "🇷🇺 Telegram 👨‍👩‍👧‍👦 blocked 🔒",
        "تلگرام در ایران فیلتر شد",
        "חסימת טלגרם בישראל",
        "Mixed עברית and English 😀 text",
    ],
)
def test_emoji_and_right_to_left_titles_survive(title: str) -> None:
    lead = story(1, title, summary=f"{title} — {title}", source=title)
    text = one_text(compose_html([event(lead)], options()))
    assert text.count(title) == 4


def test_bidi_overrides_and_controls_are_dropped() -> None:
    title = "Evil\u202eetirw\x00 title\nwith\tbreaks"
    text = one_text(compose_html([event(story(1, title))], options()))
    assert "Eviletirw title with breaks" in text


def test_terminal_escapes_never_reach_the_text_format() -> None:
    lead = story(1, "\x1b[31mred\x1b[0m alert", source="\x1b]0;pwned\x07Feed")
    text = compose_text([event(lead)], options())
    assert "\x1b" not in text and "\x07" not in text
    assert "• [31mred[0m alert" in text


@pytest.mark.parametrize("field", ["title", "summary", "source"])
def test_huge_fields_are_shortened_to_fit_one_message(field: str) -> None:
    huge = ("word " * 10_000).strip()  # 50,000 characters
    kwargs = {"title": huge} if field == "title" else {field: huge}
    messages = compose_html([event(story(1, **kwargs))], options())  # type: ignore[arg-type]
    text = one_text(messages)
    assert "word…" in text
    assert utf16_len(text) < 2000


def test_huge_title_without_spaces_is_cut_hard() -> None:
    title = "🔒" * 25_000  # 50,000 UTF-16 units, no word boundary
    text = one_text(compose_html([event(story(1, title))], options()))
    assert "🔒🔒…" in text


def test_empty_summary_leaves_no_line() -> None:
    text = one_text(compose_html([event(story(1, "Title", summary="  "))], options()))
    assert text.splitlines()[-2:] == ["Title", "Meduza · 28 Nov 09:30"]


def test_summary_equal_to_title_is_not_repeated() -> None:
    text = one_text(compose_html([event(story(1, "Same words", summary="Same  words"))], options()))
    assert text.count("Same words") == 1


@pytest.mark.parametrize(
    ("zone", "stamp"),
    [
        (None, "28 Nov 09:30"),
        ("Europe/Moscow", "28 Nov 12:30"),
        ("America/New_York", "28 Nov 04:30"),
        ("Asia/Tehran", "28 Nov 13:00"),
        ("Pacific/Kiritimati", "28 Nov 23:30"),
    ],
)
def test_times_are_shown_in_the_readers_zone(zone: str | None, stamp: str) -> None:
    tz = ZoneInfo(zone) if zone else None
    text = one_text(compose_html([event(story(1))], options(tz=tz)))
    assert f"Meduza · {stamp}" in text


def test_long_digest_splits_between_items_and_continues_the_group() -> None:
    summary = "Roskomnadzor said the service failed to comply with the law. " * 4
    events = [event(story(i, summary=summary, minutes=i)) for i in range(60)]
    messages = compose_html(events, options())
    texts = plain(messages)
    assert len(messages) > 3
    assert texts[0].startswith("CensorWire digest")
    assert all(t.splitlines()[0] == "🇷🇺 Russia (cont.)" for t in texts[1:])
    titles = [line for t in texts for line in t.splitlines() if line.startswith("Story number")]
    assert titles == [f"Story number {i}" for i in range(60)]


def test_many_short_items_respect_the_entity_budget() -> None:
    events = [
        event(story(i, summary="", minutes=i), story(1000 + i, source="Other")) for i in range(150)
    ]
    messages = compose_html(events, options(group_by="none"))
    counts = [parse_telegram_html(m)[1] for m in messages]
    assert max(counts) <= 90
    assert sum(counts) == 1 + 150 * 3


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(), {1, 2, 3, 4}),
        (Filters(apps=frozenset({"WhatsApp"})), {2}),
        (Filters(countries=frozenset({"ir"})), {2, 3}),
        (Filters(langs=frozenset({"ru"})), {3, 4}),
        (Filters(apps=frozenset({"telegram"}), langs=frozenset({"ru"})), {3, 4}),
        (Filters(apps=frozenset({"wechat"}), langs=frozenset({"ru"})), set()),
        (Filters(apps=frozenset({"whatsapp"}), countries=frozenset({"RU"})), set()),
        (Filters(countries=frozenset({"RU", "IR"}), langs=frozenset({"en"})), {1, 2}),
    ],
)
def test_filters_select_events_by_any_story(filters: Filters, expected: set[int]) -> None:
    events = {
        1: event(story(1, countries=("RU",), apps=("telegram",))),
        2: event(story(2, countries=("IR",), apps=("whatsapp",))),
        3: event(
            story(3, countries=("CN",), apps=("wechat",)), story(30, countries=("IR",), lang="ru")
        ),
        4: event(story(4, countries=("RU",), apps=("telegram",), lang="ru")),
    }
    assert {n for n, e in events.items() if matches(e, filters)} == expected
    kept = apply_filters(events.values(), filters)
    assert {e.cluster for e in kept} == {events[n].cluster for n in expected}
    assert all(matches(e.lead, filters) for e in kept)


def test_apply_filters_leads_with_a_matching_story() -> None:
    english = story(1, "Telegram blocked", source="Moscow Times")
    russian = story(2, "Telegram заблокирован", source="Медуза", lang="ru")
    [chosen] = apply_filters([event(english, russian)], Filters(langs=frozenset({"ru"})))
    assert chosen.lead is russian
    text = one_text(compose_html([chosen], options(labels_lang="ru")))
    assert "Telegram заблокирован" in text and "также: Moscow Times" in text


def test_an_event_is_led_by_a_story_in_the_readers_language_when_it_has_one() -> None:
    russian = story(1, "РКН замедлил Telegram", source="Медуза", lang="ru")
    english = story(2, "Russia throttles Telegram", source="Moscow Times")
    both = event(russian, english)
    [for_english] = apply_filters([both], Filters(), prefer_lang="en")
    assert for_english.lead is english
    text = one_text(compose_html([for_english], options()))
    assert "Russia throttles Telegram" in text and "also: Медуза" in text
    [for_russian] = apply_filters([both], Filters(), prefer_lang="ru")
    assert for_russian.lead is russian
    [only_russian] = apply_filters([event(russian)], Filters(), prefer_lang="en")
    assert only_russian.lead is russian  # nothing in English: the event is still shown


def test_matches_a_single_story() -> None:
    assert matches(story(1, lang="ru"), Filters(langs=frozenset({"RU"})))
    assert not matches(story(1), Filters(apps=frozenset({"signal"})))


@pytest.mark.parametrize(
    "changes",
    [
        {"labels_lang": "de"},
        {"group_by": "source"},
        {"limit": 0},
        {"window_start": datetime(2026, 11, 27)},
    ],
)
def test_bad_options_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        options(**changes)


def test_custom_title_is_escaped() -> None:
    [message] = compose_html([event(story(1))], options(title="Morning <news> & more"))
    assert message.startswith("<b>Morning &lt;news&gt; &amp; more</b> · 27–28 Nov · 1 event")


@pytest.mark.parametrize(
    ("code", "lang", "name", "emoji"),
    [
        ("RU", "en", "Russia", "🇷🇺"),
        ("ir", "ru", "Иран", "🇮🇷"),
        ("XK", "en", "XK", "🇽🇰"),
        ("", "en", "", ""),
    ],
)
def test_country_names_and_flags(code: str, lang: str, name: str, emoji: str) -> None:
    assert country_name(code, lang) == name
    assert flag(code) == emoji


@pytest.mark.parametrize(
    ("app", "name"),
    [
        ("telegram", "Telegram"),
        ("whatsapp", "WhatsApp"),
        ("facebook_messenger", "Facebook Messenger"),
        ("youtube", "YouTube"),
        ("some_new_app", "Some New App"),
    ],
)
def test_app_names(app: str, name: str) -> None:
    assert app_name(app) == name


@pytest.mark.parametrize(
    ("zone", "lang", "expected"),
    [
        ("UTC", "en", "times in UTC"),
        ("Europe/Moscow", "ru", "время МСК"),
        ("Europe/Moscow", "en", "times in MSK"),
        ("Asia/Tehran", "en", "times in UTC+03:30"),
        ("Asia/Almaty", "ru", "время UTC+05"),
        ("America/New_York", "en", "times in EST"),
    ],
)
def test_the_header_says_which_time_zone_the_times_are_in(
    zone: str, lang: str, expected: str
) -> None:
    events = [event(story(1))]
    text = plain(compose_html(events, options(labels_lang=lang, tz=ZoneInfo(zone))))[0]
    assert text.splitlines()[0].endswith(f" · {expected}")


def test_text_format_reads_in_a_terminal() -> None:
    long_summary = "Providers in several regions reported that calls drop after a minute. " * 3
    events = [
        event(story(1, "Iran cuts mobile internet", countries=("IR",), summary=long_summary)),
        event(
            story(2, "<b>RKN</b> blocks Zello", source="OpenNet", minutes=2),
            story(3, source="Meduza"),
        ),
    ]
    text = compose_text(events, options(limit=1, tz=ZoneInfo("Europe/Moscow")))
    lines = text.splitlines()
    assert lines[0] == "CensorWire digest · 27–28 Nov · 2 events · times in MSK"
    assert "• Iran cuts mobile internet" in lines
    assert "  https://example.org/news/1" in lines
    assert "  Meduza · 28 Nov 12:30" in lines
    assert lines[-1] == "…and 1 more"
    assert all(len(line) <= 78 for line in lines)
    assert "<b>RKN</b>" not in text  # beyond the limit


# Property: arbitrary feed text still gives valid messages within the limits, each event once.

_TEXT = st.one_of(
    st.text(max_size=120),
    st.sampled_from(["<b>", "&amp;", "</a>", "<script>", '"', "&#0;", "\u202e", "🔒", ""]),
    st.builds(lambda ch, n: ch * n, st.characters(), st.integers(0, 6000)),
)
_URL = st.one_of(
    st.text(max_size=60),
    st.builds(lambda tail: "https://example.org/" + tail, st.text(max_size=60)),
    st.sampled_from(['https://x.org/?a="b"&c=<d>', "javascript:alert(1)", "http://[::1"]),
)


@st.composite
def _events(draw: st.DrawFn) -> list[Event]:
    events = []
    for n in range(draw(st.integers(0, 30))):
        stories = []
        for k in range(draw(st.integers(1, 3))):
            stories.append(
                Story(
                    id=f"{n}-{k}",
                    url=draw(_URL),
                    title=f"⟦{n}⟧ " + draw(_TEXT),
                    text="",
                    source=draw(_TEXT),
                    feed_url="",
                    published=END - timedelta(minutes=draw(st.integers(0, 3000))),
                    fetched=END,
                    lang=draw(st.sampled_from(["en", "ru", "fa", ""])),
                    countries=tuple(
                        draw(st.lists(st.sampled_from(["RU", "IR", "cn", "X", "🇷🇺"]), max_size=2))
                    ),
                    apps=tuple(
                        draw(st.lists(st.sampled_from(["telegram", "max", "A_b", ""]), max_size=2))
                    ),
                    summary=draw(_TEXT),
                )
            )
        events.append(Event(cluster=f"c{n}", stories=tuple(stories)))
    return events


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    events=_events(),
    lang=st.sampled_from(["en", "ru"]),
    group_by=st.sampled_from(["country", "app", "none"]),
    limit=st.one_of(st.none(), st.integers(1, 40)),
    zone=st.sampled_from([None, "Europe/Moscow", "Asia/Kolkata"]),
    title=st.one_of(st.none(), _TEXT),
)
def test_any_feed_text_gives_valid_messages_within_limits(
    events: list[Event],
    lang: str,
    group_by: str,
    limit: int | None,
    zone: str | None,
    title: str | None,
) -> None:
    opts = options(
        labels_lang=lang,
        group_by=group_by,
        limit=limit,
        tz=ZoneInfo(zone) if zone else None,
        title=title,
    )
    messages = compose_html(events, opts)
    if not events:
        assert messages == []
        return
    texts = plain(messages)
    joined = "\n".join(texts)
    shown = len(events) if limit is None else min(limit, len(events))
    seen = [n for n in range(len(events)) if joined.count(f"⟦{n}⟧") == 1]
    assert len(seen) == shown
    assert all(joined.count(f"⟦{n}⟧") in (0, 1) for n in range(len(events)))
    assert ("/latest" in texts[-1].splitlines()[-1]) is (shown < len(events))
    assert compose_text(events, opts).count("⟦") >= shown

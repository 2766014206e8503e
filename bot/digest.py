"""Compose digests of events: Telegram HTML messages within the limits, or terminal text."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from html import escape
from typing import Final, Literal, NamedTuple
from zoneinfo import ZoneInfo

from bot.countries import app_name, country_name, day_month, day_time, flag, plural, zone_name
from bot.models import Event, Story

LabelsLang = Literal["en", "ru"]
GroupBy = Literal["country", "app", "none"]

MESSAGE_UNITS: Final = 4000  # Telegram allows 4096 UTF-16 units after entity parsing
MESSAGE_ENTITIES: Final = 90  # Telegram allows 100; auto-detected #tags and @names need room
TITLE_UNITS: Final = 300
SUMMARY_UNITS: Final = 1200
SOURCE_UNITS: Final = 80
HEADING_UNITS: Final = 64
ALSO_SHOWN: Final = 5
URL_MAX: Final = 2048

# C0/C1 controls, lone surrogates, BOM and explicit bidi overrides/isolates are dropped;
# whitespace runs (newlines included) become one space.
_JUNK: Final = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufeff\u202a-\u202e\u2066-\u2069]"
)

# http(s)://host[:port][/path?query#fragment]: a plain (or IDN, or IPv6) host, no user
# part, no whitespace anywhere.
_LINK: Final = re.compile(
    r"https?://(?:\[[0-9a-f:.]+\]|[\w-]+(?:\.[\w-]+)*\.?)(?::[0-9]{1,5})?(?:[/?#]\S*)?",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Labels:
    """The digest's own words in one language."""

    digest: str
    events: tuple[str, str, str]  # one, few, many
    more_html: str
    more_text: str
    also: str
    cont: str
    no_country: str
    no_app: str
    untitled: str
    times: str


LABELS: Final[dict[str, Labels]] = {
    "en": Labels(
        digest="CensorWire digest",
        events=("event", "events", "events"),
        more_html="…and {n} more: /latest",
        more_text="…and {n} more",
        also="also",
        cont="cont.",
        no_country="International",
        no_app="Other services",
        untitled="(untitled)",
        times="times in {zone}",
    ),
    "ru": Labels(
        digest="Дайджест CensorWire",
        events=("событие", "события", "событий"),
        more_html="…и ещё {n}: /latest",
        more_text="…и ещё {n}",
        also="также",
        cont="продолжение",
        no_country="В мире",
        no_app="Другие сервисы",
        untitled="(без заголовка)",
        times="время {zone}",
    ),
}


@dataclass(frozen=True, slots=True)
class Filters:
    """A chat's filters; an empty set lets everything through."""

    apps: frozenset[str] = frozenset()
    countries: frozenset[str] = frozenset()
    langs: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "apps", frozenset(a.lower() for a in self.apps))
        object.__setattr__(self, "countries", frozenset(c.upper() for c in self.countries))
        object.__setattr__(self, "langs", frozenset(lang.lower() for lang in self.langs))


@dataclass(frozen=True, slots=True)
class DigestOptions:
    """How to present one digest: labels' language, period, cap, grouping, reader's zone."""

    labels_lang: LabelsLang
    window_start: datetime
    window_end: datetime
    limit: int | None = None
    group_by: GroupBy = "country"
    tz: ZoneInfo | None = None
    title: str | None = None

    def __post_init__(self) -> None:
        if self.labels_lang not in LABELS:
            raise ValueError(f"labels_lang must be en or ru, not {self.labels_lang!r}")
        if self.group_by not in ("country", "app", "none"):
            raise ValueError(f"group_by must be country, app or none, not {self.group_by!r}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be at least 1 or None, not {self.limit}")
        if self.window_start.tzinfo is None or self.window_end.tzinfo is None:
            raise ValueError("window_start and window_end must be aware datetimes")


def _story_matches(story: Story, filters: Filters) -> bool:
    if filters.langs and story.lang.lower() not in filters.langs:
        return False
    if filters.apps and not any(a.lower() in filters.apps for a in story.apps):
        return False
    return not filters.countries or any(c.upper() in filters.countries for c in story.countries)


def matches(item: Story | Event, filters: Filters) -> bool:
    """Whether a story passes the filters; an event passes when any of its stories does."""
    if isinstance(item, Story):
        return _story_matches(item, filters)
    return any(_story_matches(story, filters) for story in item.stories)


def apply_filters(events: Iterable[Event], filters: Filters, prefer_lang: str = "") -> list[Event]:
    """The events that match, each led by its first matching story in ``prefer_lang`` (the
    reader's), else its first matching story; the others stay as "also"."""
    kept: list[Event] = []
    for event in events:
        matching = [s for s in event.stories if _story_matches(s, filters)]
        if not matching:
            continue
        first = next((s for s in matching if s.lang == prefer_lang), matching[0])
        if first is not event.stories[0]:
            rest = tuple(s for s in event.stories if s is not first)
            event = Event(cluster=event.cluster, stories=(first, *rest))
        kept.append(event)
    return kept


def units(text: str) -> int:
    """Length of ``text`` as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def clean(text: str) -> str:
    """Feed text on one line: controls and bidi overrides dropped, whitespace collapsed."""
    return " ".join(_JUNK.sub("", text).split())


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-16 units, at a word boundary, ending in "…"."""
    if len(text) <= limit // 2 or units(text) <= limit:
        return text
    cut = text[: limit - 1]
    while units(cut) > limit - 1:
        cut = cut[: -max(1, (units(cut) - limit + 1) // 2)]
    space = cut.rfind(" ")
    if space >= len(cut) * 2 // 3:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—") + "…"


def linkable(url: str) -> bool:
    """Whether ``url`` may become a link: http(s), a host, no spaces or controls, not huge."""
    return len(url) <= URL_MAX and _LINK.fullmatch(url) is not None and not _JUNK.search(url)


class _Item(NamedTuple):
    title: str
    url: str  # "" when the URL may not be linked
    meta: str
    summary: str
    also: str


class _Group(NamedTuple):
    flag: str
    name: str
    items: list[_Item]


class _Plan(NamedTuple):
    header_title: str
    header_rest: str
    groups: list[_Group]
    more: int


def _when(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def period(start: datetime, end: datetime, zone: tzinfo, lang: str) -> str:
    """A window as readers say it: ``28 Nov``, ``27–28 Nov``, ``30 Nov – 1 Dec``."""
    first = start.astimezone(zone)
    last = max(end.astimezone(zone), first)
    if last > first and last.time() == datetime.min.time():
        last -= timedelta(microseconds=1)  # a window ending at midnight ends the day before
    a, b = first.date(), last.date()
    if a == b:
        return day_month(a, lang)
    if a.year != b.year:
        return f"{day_month(a, lang, year=True)} – {day_month(b, lang, year=True)}"
    if a.month == b.month:
        return f"{a.day}–{day_month(b, lang)}"
    return f"{day_month(a, lang)} – {day_month(b, lang)}"


def _label(name: str) -> str:
    return shorten(clean(name), HEADING_UNITS) or "?"


def _group_key(event: Event, group_by: GroupBy) -> str:
    for story in event.stories:
        tags = story.countries if group_by == "country" else story.apps
        if tags:
            return tags[0].upper() if group_by == "country" else tags[0].lower()
    return ""


def _item(event: Event, zone: tzinfo, lang: str) -> _Item:
    labels = LABELS[lang]
    lead = event.lead
    title = shorten(clean(lead.title), TITLE_UNITS) or labels.untitled
    summary = shorten(clean(lead.summary), SUMMARY_UNITS)
    if len(summary) == len(title) and summary.casefold() == title.casefold():
        summary = ""
    local = _when(lead.published).astimezone(zone)
    stamp = day_time(local, lang)
    source = shorten(clean(lead.source), SOURCE_UNITS)
    meta = f"{source} · {stamp}" if source else stamp
    others = [shorten(clean(s), SOURCE_UNITS) for s in event.sources]
    others = [s for s in dict.fromkeys(others) if s and s != source]
    also = ", ".join(others[:ALSO_SHOWN])
    if len(others) > ALSO_SHOWN:
        also += f", +{len(others) - ALSO_SHOWN}"
    url = lead.url if linkable(lead.url) else ""
    return _Item(title, url, meta, summary, f"{labels.also}: {also}" if also else "")


def _plan(events: Sequence[Event], options: DigestOptions) -> _Plan | None:
    present = [e for e in events if e.stories]
    if not present:
        return None
    labels = LABELS[options.labels_lang]
    zone: tzinfo = options.tz or UTC
    present.sort(key=lambda e: (_when(e.lead.published), e.cluster), reverse=True)
    shown = present if options.limit is None else present[: options.limit]
    by_key: dict[str, list[Event]] = {}
    for event in shown:
        key = "" if options.group_by == "none" else _group_key(event, options.group_by)
        by_key.setdefault(key, []).append(event)
    # Most events first, then the freshest; the untagged group goes last.
    order = sorted(
        by_key,
        key=lambda k: (k == "", -len(by_key[k]), -_when(by_key[k][0].lead.published).timestamp()),
    )
    groups: list[_Group] = []
    for key in order:
        items = [_item(e, zone, options.labels_lang) for e in by_key[key]]
        if options.group_by == "none":
            groups.append(_Group("", "", items))
        elif options.group_by == "country":
            name = country_name(key, options.labels_lang) if key else labels.no_country
            groups.append(_Group(flag(key) if key else "🌐", _label(name), items))
        else:
            name = app_name(key, options.labels_lang) if key else labels.no_app
            groups.append(_Group("", _label(name), items))
    title = shorten(clean(options.title or labels.digest), 200) or labels.digest
    count = len(present)
    lang = options.labels_lang
    span = period(options.window_start, options.window_end, zone, lang)
    times = labels.times.format(zone=zone_name(options.window_end.astimezone(zone), lang))
    rest = f" · {span} · {count} {plural(count, labels.events, lang)} · {times}"
    return _Plan(title, rest, groups, len(present) - len(shown))


class _Block(NamedTuple):
    html: str
    units: int
    entities: int


def _join(first: _Block, second: _Block) -> _Block:
    html = f"{first.html}\n\n{second.html}"
    return _Block(html, first.units + 2 + second.units, first.entities + second.entities)


def _heading_block(group: _Group, suffix: str) -> _Block:
    html = f"<b>{escape(group.name, quote=False)}</b>{suffix}"
    plain = f"{group.name}{suffix}"
    if group.flag:
        html, plain = f"{group.flag} {html}", f"{group.flag} {plain}"
    return _Block(html, units(plain), 1)


def _item_block(item: _Item) -> _Block:
    title = escape(item.title, quote=False)
    if item.url:
        lines = [f'<b><a href="{escape(item.url, quote=True)}">{title}</a></b>']
        entities = 2
    else:
        lines = [f"<b>{title}</b>"]
        entities = 1
    lines.append(escape(item.meta, quote=False))
    plain = [item.title, item.meta]
    if item.summary:
        lines.append(escape(item.summary, quote=False))
        plain.append(item.summary)
    if item.also:
        lines.append(f"<i>{escape(item.also, quote=False)}</i>")
        plain.append(item.also)
        entities += 1
    return _Block("\n".join(lines), units("\n".join(plain)), entities)


def _pack(blocks: Iterable[tuple[_Block, _Block | None]]) -> list[str]:
    """Fill messages in order; a block that does not fit starts a new message, in its
    second form (the group heading repeated) when it has one."""
    messages: list[list[str]] = []
    size = entities = MESSAGE_UNITS + 1  # no message open yet
    for block, continued in blocks:
        if size + 2 + block.units > MESSAGE_UNITS or entities + block.entities > MESSAGE_ENTITIES:
            block = continued or block
            messages.append([])
            size, entities = -2, 0
        messages[-1].append(block.html)
        size, entities = size + 2 + block.units, entities + block.entities
    return ["\n\n".join(parts) for parts in messages]


def compose_html(events: Sequence[Event], options: DigestOptions) -> list[str]:
    """Telegram HTML messages for a digest, split between items; ``[]`` for no events."""
    plan = _plan(events, options)
    if plan is None:
        return []
    labels = LABELS[options.labels_lang]
    head = plan.header_title + plan.header_rest
    title = escape(plan.header_title, quote=False)
    header = _Block(f"<b>{title}</b>{plan.header_rest}", units(head), 1)
    blocks: list[tuple[_Block, _Block | None]] = [(header, None)]
    for group in plan.groups:
        for index, item in enumerate(group.items):
            block = _item_block(item)
            if not group.name:
                blocks.append((block, None))
            elif index == 0:
                blocks.append((_join(_heading_block(group, ""), block), None))
            else:
                blocks.append((block, _join(_heading_block(group, f" ({labels.cont})"), block)))
    if plan.more:
        line = labels.more_html.format(n=plan.more)  # /latest becomes an entity: count it
        blocks.append((_Block(escape(line, quote=False), units(line), 1), None))
    return _pack(blocks)


def _wrap(text: str, width: int, first: str = "  ", rest: str = "  ") -> str:
    if len(first) + len(text) <= width:
        return first + text
    return textwrap.fill(
        text,
        width=width,
        initial_indent=first,
        subsequent_indent=rest,
        break_on_hyphens=False,
    )


def compose_text(events: Sequence[Event], options: DigestOptions, *, width: int = 78) -> str:
    """The digest as plain text for a terminal; ``""`` for no events."""
    plan = _plan(events, options)
    if plan is None:
        return ""
    labels = LABELS[options.labels_lang]
    width = max(width, 20)
    out = [_wrap(plan.header_title + plan.header_rest, width, "", "")]
    for group in plan.groups:
        if group.name:
            heading = f"{group.flag} {group.name}".strip()
            out.append(f"{heading}\n{'─' * min(len(heading), width)}")
        for item in group.items:
            lines = [_wrap(item.title, width, "• "), _wrap(item.meta, width)]
            if item.summary:
                lines.append(_wrap(item.summary, width))
            if item.also:
                lines.append(_wrap(item.also, width))
            if item.url:
                lines.append(f"  {item.url}")
            out.append("\n".join(lines))
    if plan.more:
        out.append(labels.more_text.format(n=plan.more))
    return "\n\n".join(out) + "\n"

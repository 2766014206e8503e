"""Pure parsing and wording of command arguments: filters, counts, callback data."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.countries import app_name, country_name, known_apps, known_countries

STORY_LANGS = ("en", "ru", "fa", "tr", "zh", "uk")
APP_ALIASES = {
    "телеграм": "telegram", "телеграмм": "telegram", "tg": "telegram",
    "ватсап": "whatsapp", "вотсап": "whatsapp", "wa": "whatsapp",
    "вайбер": "viber", "сигнал": "signal", "ютуб": "youtube", "x": "twitter",
    "fb_messenger": "facebook_messenger", "messenger": "facebook_messenger",
}  # fmt: skip
SETTINGS_APPS = ("telegram", "whatsapp", "signal", "viber", "youtube", "facebook_messenger",
                 "wechat", "discord", "max", "twitter", "instagram")  # fmt: skip
SETTINGS_COUNTRIES = ("RU", "BY", "UA", "KZ", "IR", "CN", "TR", "IN", "PK", "MM", "ET", "VN")
DIGEST_TIMES = ("07:00", "08:00", "09:00", "12:00", "18:00", "21:00")
COMMON_ZONES = (
    "Europe/Moscow", "Europe/Kyiv", "Europe/Minsk", "Europe/Berlin", "Europe/London",
    "Asia/Almaty", "Asia/Tbilisi", "Asia/Tehran", "Asia/Yerevan", "America/New_York", "UTC",
)  # fmt: skip
_CHANNEL = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{3,31}$")


@dataclass(frozen=True, slots=True)
class ParsedFilters:
    apps: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    langs: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    channel: str = ""
    number: int | None = None
    given: frozenset[str] = field(default_factory=frozenset)
    """Which kinds were given ("apps", "countries", "langs"): only those change."""


def parse_filters(args: list[str], *, allow_number: bool = False) -> ParsedFilters:
    """``["telegram", "RU", "lang:ru", "@chan", "10"]`` into filters; unknown words kept apart."""
    apps: list[str] = []
    countries: list[str] = []
    langs: list[str] = []
    unknown: list[str] = []
    channel = ""
    number: int | None = None
    for raw in args:
        word = raw.strip().strip(",")
        if not word:
            continue
        lower = word.lower()
        if allow_number and word.isascii() and word.isdigit() and number is None:
            number = int(word)
        elif _CHANNEL.match(word) and not channel:
            channel = word
        elif lower.startswith("lang:") and lower[5:] in STORY_LANGS:
            langs.append(lower[5:])
        elif lower.startswith(("app:", "country:")):
            kind, _, value = lower.partition(":")
            target = apps if kind == "app" else countries
            parsed = _app(value) if kind == "app" else _country(value)
            (target.append(parsed) if parsed else unknown.append(word))
        elif (app := _app(lower)) is not None:
            apps.append(app)
        elif len(word) == 2 and word.isupper() and word in known_countries():
            countries.append(word)
        else:
            unknown.append(word)
    given = frozenset(
        kind
        for kind, values in (("apps", apps), ("countries", countries), ("langs", langs))
        if values
    )
    return ParsedFilters(
        apps=tuple(dict.fromkeys(apps)),
        countries=tuple(dict.fromkeys(countries)),
        langs=tuple(dict.fromkeys(langs)),
        unknown=tuple(unknown),
        channel=channel,
        number=number,
        given=given,
    )


def _app(word: str) -> str | None:
    word = APP_ALIASES.get(word, word)
    return word if word in known_apps() else None


def _country(word: str) -> str | None:
    code = word.upper()
    return code if code in known_countries() else None


def describe_filters(
    apps: tuple[str, ...], countries: tuple[str, ...], langs: tuple[str, ...], lang: str
) -> str:
    """``Telegram, WhatsApp · Russia · ru`` or ``""`` when nothing is filtered."""
    parts = []
    if apps:
        parts.append(", ".join(app_name(a, lang) for a in apps))
    if countries:
        parts.append(", ".join(country_name(c, lang) for c in countries))
    if langs:
        parts.append(", ".join(langs))
    return " · ".join(parts)


def clamp_count(number: int | None, default: int, most: int) -> int:
    if number is None:
        return default
    return max(1, min(most, number))


def toggle(values: tuple[str, ...], value: str) -> tuple[str, ...]:
    """``values`` with ``value`` switched on or off, order kept."""
    return tuple(v for v in values if v != value) if value in values else (*values, value)

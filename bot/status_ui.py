"""``/status [CC]``: the OONI chart of the four messengers in a watched country.

The chart is drawn from the series the OONI watch stored at its last check, so ``/status``
never asks OONI itself: only watched countries (``[ooni] countries``) have data, and the
answer names them. PNGs are cached in Redis base64-encoded (the shared client decodes
replies as text), keyed by country, a digest of the stored series (which carries its day)
and the chart's language: a new check or a new day gives a new key; old ones expire.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import html
import logging
from typing import Literal
from urllib.parse import quote

from telegram import Update
from telegram.ext import ContextTypes

from bot import keys, subscriptions
from bot.alerts_text import CREDIT
from bot.chart import render_status_chart, status_summary
from bot.countries import country_name, flag, known_countries
from bot.handlers import gate, reply
from bot.i18n import t
from bot.ooni import MESSENGER_TESTS
from bot.ooni_watch import StoredSeries, load_episodes, load_series
from bot.services import Services, services
from bot.storage import Redis

log = logging.getLogger(__name__)

CHART_TTL = 2 * 86400
MAX_COUNTRIES = 3
CAPTION_LIMIT = 1024
EXPLORER_COUNTRY = "https://explorer.ooni.org/country/"


def chart_lang(lang: str) -> Literal["en", "ru"]:
    return "ru" if lang == "ru" else "en"


def caption_html(
    stored: StoredSeries, lang: str, min_rate: float, open_since: dict[str, str]
) -> str:
    """Head, one line per app (with an open alert's start), the Explorer link and credit."""
    code = stored.country
    head = t(
        lang,
        "status_head",
        flag=flag(code),
        country=country_name(code, lang),
        days=stored.days,
        today=stored.today.isoformat(),
    )
    lines = status_summary(stored.series, chart_lang(lang), min_rate=min_rate)
    body = []
    tests = [*MESSENGER_TESTS, *sorted(x for x in stored.series if x not in MESSENGER_TESTS)]
    for test, line in zip(tests, lines, strict=True):  # status_summary keeps this order
        text = html.escape(line)
        if test in open_since:
            text += t(lang, "status_open", since=open_since[test])
        body.append(text)
    url = EXPLORER_COUNTRY + quote(code)
    credit = CREDIT[chart_lang(lang)]
    foot = f'<a href="{html.escape(url, quote=True)}">OONI Explorer</a> · {html.escape(credit)}'
    caption = "\n".join([head, *body, foot])
    while len(caption) > CAPTION_LIMIT and body:
        body.pop()  # never cut inside a tag: drop whole lines (four short ones fit easily)
        caption = "\n".join([head, *body, foot])
    return caption


def has_measurements(stored: StoredSeries) -> bool:
    return any(s.usable > 0 for stats in stored.series.values() for s in stats)


async def chart_png(redis: Redis, stored: StoredSeries, lang: str, threshold: float) -> bytes:
    """The chart from the Redis cache, else rendered in a worker thread and cached."""
    key = keys.ooni_chart(stored.country, stored.version, chart_lang(lang))
    cached = await redis.get(key)
    if cached:
        try:
            return base64.b64decode(str(cached), validate=True)
        except binascii.Error:
            log.warning("cached chart %s is damaged; drawing it again", key)
    png = await asyncio.to_thread(
        render_status_chart,
        stored.country,
        stored.series,
        stored.today,
        days=stored.days,
        threshold=threshold,
        lang=chart_lang(lang),
    )
    await redis.set(key, base64.b64encode(png).decode("ascii"), ex=CHART_TTL)
    return png


async def status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/status [CC]: a chart of messenger anomaly rates measured by OONI in a country."""
    if (lang := await gate(update, context)) is None:
        return
    svc = services(context)
    chat = update.effective_chat
    assert chat is not None
    settings = svc.settings.ooni
    watched = ", ".join(settings.countries)
    if not settings.enabled or not settings.countries:
        await reply(update, context, t(lang, "status_off"))
        return
    args = list(context.args or [])
    if args:
        code = args[0].strip().upper()
        if code not in settings.countries:
            if code in known_countries():
                name = country_name(code, lang)
                text = t(lang, "status_not_watched", name=name, code=code, watched=watched)
                await reply(update, context, text)
            else:
                await reply(update, context, t(lang, "status_unknown", code=code[:8]))
            return
        countries = [code]
    else:
        sub = await subscriptions.get(svc.redis, chat.id)
        mine = list(sub.countries) if sub else []
        countries = [c for c in mine if c in settings.countries][:MAX_COUNTRIES]
        if not countries:
            key = "status_none_watched" if mine else "status_usage"
            await reply(update, context, t(lang, key, watched=watched))
            return
    for code in countries:
        await _send_status(update, context, svc, code, lang)


async def _send_status(
    update: Update, context: ContextTypes.DEFAULT_TYPE, svc: Services, code: str, lang: str
) -> None:
    name = country_name(code, lang)
    stored = await load_series(svc.redis, code)
    if stored is None:
        await reply(update, context, t(lang, "status_no_data", country=name))
        return
    if not has_measurements(stored):
        text = t(lang, "status_no_measurements", country=name, days=stored.days)
        await reply(update, context, text)
        return
    episodes = await load_episodes(svc.redis, code)
    open_since = {test: e.since.isoformat() for test, e in episodes.items()}
    png = await chart_png(svc.redis, stored, lang, svc.settings.ooni.min_rate)
    caption = caption_html(stored, lang, svc.settings.ooni.min_rate, open_since)
    chat = update.effective_chat
    assert chat is not None
    await svc.sender.send_photo(chat.id, png, caption)

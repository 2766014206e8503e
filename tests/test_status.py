"""/status: the OONI chart and its caption, the Redis chart cache, and the real bot end to end."""

from __future__ import annotations

import base64
import re
import struct
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web

from bot import keys, subscriptions
from bot.ooni_watch import StoredSeries, parse_series, series_json
from bot.status_ui import CAPTION_LIMIT, caption_html, chart_png
from bot.subscriptions import Mode, Subscription
from tests.botrun import BotRun, running_bot
from tests.fakes.ooni import BadQuery, FakeOoni, Scenario, load_fixture, scenario_series, validate
from tests.fakes.tghtml import parse_telegram_html
from tests.test_bot import eventually

APPS = ("Telegram", "WhatsApp", "Signal", "Facebook Messenger")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SUBSCRIBED = 42
STRANGER = 43
RU_READER = 44
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which a valid PNG has right after its signature."""
    assert png.startswith(PNG_SIGNATURE) and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def stored(fixture: str = "sudden_block") -> StoredSeries:
    series, today = scenario_series(fixture)
    country = str(load_fixture(fixture)["country"])
    return parse_series(series_json(country, today, 30, series))


# Caption and cache ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "head", "open_mark"),
    [
        (
            "en",
            "🇷🇺 Russia: messenger tests, last 30 days (OONI, to 2026-11-28)",
            "alert open since",
        ),
        ("ru", "🇷🇺 Россия: тесты мессенджеров за 30 дн. (OONI, по 2026-11-28)", "оповещение с"),
    ],
)
def test_caption_names_every_app_with_a_line_each(lang: str, head: str, open_mark: str) -> None:
    caption = caption_html(stored(), lang, 0.5, {"whatsapp": "2026-11-20"})
    text, _ = parse_telegram_html(caption)
    lines = text.split("\n")
    assert len(caption) <= CAPTION_LIMIT and lines[0] == head
    for app, line in zip(APPS, lines[1:5], strict=True):
        assert line.startswith((app, f"⚠️ {app}"))
    assert lines[2].startswith("⚠️ WhatsApp") and lines[2].endswith(f"{open_mark} 2026-11-20")
    assert open_mark not in lines[1] and lines[5].startswith("OONI Explorer · ")
    assert lines[5].endswith("OONI (CC BY-NC-SA 4.0)")
    assert 'href="https://explorer.ooni.org/country/RU"' in caption


async def test_chart_is_cached_per_series_and_language(redis: aioredis.Redis) -> None:
    series = stored()
    png = await chart_png(redis, series, "en", 0.5)
    assert png_size(png) == (1000, 500)
    key = keys.ooni_chart("RU", series.version, "en")
    assert base64.b64decode(str(await redis.get(key))) == png
    assert 0 < await redis.ttl(key) <= 2 * 86400
    await redis.set(key, base64.b64encode(b"cached").decode())
    assert await chart_png(redis, series, "en", 0.5) == b"cached"  # served from Redis
    await redis.set(key, "%% not base64 %%")
    assert png_size(await chart_png(redis, series, "en", 0.5)) == (1000, 500)  # drawn again
    russian = await chart_png(redis, series, "ru", 0.5)
    assert png_size(russian) == (1000, 500) and russian != png


def test_the_readme_sample_chart_is_a_chart() -> None:
    sample = Path(__file__).resolve().parent.parent / "docs" / "status-chart-sample.png"
    assert png_size(sample.read_bytes()) == (1000, 500)


# The real bot ---------------------------------------------------------------------------


def shifted(value: Any, days: int) -> Any:
    """A fixture with every ISO day (values and keys) moved by ``days``."""
    if isinstance(value, dict):
        return {shifted(k, days): shifted(v, days) for k, v in value.items()}
    if isinstance(value, list):
        return [shifted(v, days) for v in value]
    if isinstance(value, str) and _ISO_DAY.match(value):
        return (date.fromisoformat(value) + timedelta(days=days)).isoformat()
    return value


class ShiftedOoni(FakeOoni):
    """The fake OONI with its scenarios moved to end today: the bot process runs on the
    wall clock, so the test must not depend on the day it runs."""

    async def _aggregation(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        self.requests.append(query)
        raw = load_fixture(self.fixtures.get(query.get("probe_cc", ""), "empty"))
        if "fault" in raw:
            return await self._fault(raw["fault"])
        today = datetime.now(UTC).date()
        scenario = Scenario(shifted(raw, (today - date.fromisoformat(raw["today"])).days))
        try:
            since, until, tests, axis_y = validate(query)
        except BadQuery as e:
            return web.json_response({"msg": str(e), "v": 0}, status=400)
        rows = scenario.rows(tests, since, until, axis_y, self.published)
        return web.json_response({"v": 0, "dimension_count": 2, "result": rows})


@pytest.fixture
async def bot(tmp_path: Path, redis_url: str, redis: aioredis.Redis) -> AsyncIterator[BotRun]:
    now = datetime.now(UTC)
    sub = Subscription(SUBSCRIBED, countries=("RU",), mode=Mode.BOTH)
    await subscriptions.save(redis, sub, now)
    fixtures = {"RU": "sudden_block", "IR": "error_500", "MM": "empty"}
    async with ShiftedOoni(fixtures) as ooni:
        config = (
            f'[ooni]\nenabled = true\nbase_url = "{ooni.url}"\n'
            'countries = ["RU", "IR", "MM"]\ninterval = "1h"\n'
        )
        async with running_bot(tmp_path, redis_url, extra_config=config) as run:

            async def checked() -> bool:
                return bool(await redis.exists(keys.ooni_health()))

            await eventually(checked)  # the first OONI check has ended
            yield run


def photo_of(run: BotRun, chat_id: int) -> tuple[str, bytes]:
    """Caption (as a reader sees it) and PNG bytes of the last photo sent to ``chat_id``."""
    calls = [c for c in run.fake.calls_to("sendPhoto") if str(c.params["chat_id"]) == str(chat_id)]
    assert calls, run.fake.describe_calls()
    params = calls[-1].params
    return parse_telegram_html(str(params["caption"]))[0], params["photo"].content


async def test_status_end_to_end(bot: BotRun, redis: aioredis.Redis) -> None:
    # The watch found the WhatsApp block and the alert reached the chat subscribed to RU.
    [alert] = await bot.wait_sent(SUBSCRIBED, 1)
    alert_text = parse_telegram_html(str(alert["text"]))[0]
    assert alert_text.startswith("⚠️ RU · WhatsApp: ") and "5 of 6 networks" in alert_text
    assert "OONI Explorer · Data: OONI (CC BY-NC-SA 4.0)" in alert_text

    answer = await bot.command(STRANGER, "/status RU", language_code="en")
    assert "photo" in answer
    caption, png = photo_of(bot, STRANGER)
    assert png_size(png) == (1000, 500)
    assert caption.startswith("🇷🇺 Russia: messenger tests, last 30 days")
    assert all(app in caption for app in APPS) and "alert open since" in caption
    assert "OONI (CC BY-NC-SA 4.0)" in caption

    answer = await bot.command(SUBSCRIBED, "/status", language_code="en")  # its countries
    assert "photo" in answer and photo_of(bot, SUBSCRIBED)[1] == png
    charts = [str(k) for k in await redis.keys("cw:ooni:*:chart:*")]
    assert len(charts) == 1 and charts[0].endswith(":en")  # drawn once, then from the cache

    answer = await bot.command(RU_READER, "/status ru", language_code="ru")
    caption, png_ru = photo_of(bot, RU_READER)
    assert caption.startswith("🇷🇺 Россия: тесты мессенджеров") and png_size(png_ru) == (1000, 500)
    assert "Данные: OONI (CC BY-NC-SA 4.0)" in caption

    replies = {
        "/status XX": "I don't know the country code XX. Use two letters: /status RU.",
        "/status KZ": (
            "I don't watch OONI measurements for Kazakhstan (KZ). Watched countries: RU, IR, MM."
        ),
        "/status": "Which country? /status RU. I watch OONI measurements for: RU, IR, MM.",
        "/status IR": (  # OONI failed for Iran at the first check
            "No OONI data for Iran yet: the first check may still be running, or OONI did not "
            "answer it. Try again in a few minutes."
        ),
        "/status mm": "OONI has no messenger measurements from Myanmar in the last 30 days.",
    }
    for command, expected in replies.items():
        answer = await bot.command(STRANGER, command, language_code="en")
        assert parse_telegram_html(str(answer["text"]))[0] == expected

"""LLM summaries at the hand-on point: stored when the model answers well, else extractive."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web

from bot import stories
from bot.config import parse_settings
from bot.feeds import effective_feeds
from bot.fetch import Fetcher
from bot.llm_stage import llm_handler, make_summarizer
from bot.pipeline import Poller
from tests.fakes.feeds import FeedServer
from tests.test_llm import FakeLlm, answer_with, fake_llm  # noqa: F401 - the fixture
from tests.test_poll import NOW, Clock

SUMMARY = "Russia's regulator ordered providers to block Telegram after a court ruling."


async def poll_with_llm(redis: aioredis.Redis, feed_url: str, llm_url: str) -> list[str]:
    raw = {
        "feeds": [{"url": feed_url}],
        "summarizer": {
            "llm_enabled": True,
            "llm_url": llm_url,
            "llm_model": "tiny",
            "llm_api_key": "sk-local-test",
            "llm_timeout": "5s",
        },
    }
    settings = parse_settings(raw, {}, Path())
    async with aiohttp.ClientSession() as session:
        summarizer = make_summarizer(session, settings.summarizer)
        assert summarizer is not None
        poller = Poller(settings, redis, Fetcher(session, settings.polling), None, clock=Clock(NOW))
        poller.add_handler(llm_handler(redis, summarizer))
        report = await poller.poll(await effective_feeds(redis, settings.feeds))
    stored = await stories.load_stories(redis, [s.id for s in report.new_stories])
    return [s.summary for s in stored]


async def test_a_good_model_answer_replaces_the_stored_summary(
    redis: aioredis.Redis,
    feeds: FeedServer,
    fake_llm: FakeLlm,  # noqa: F811
) -> None:
    fake_llm.handler = answer_with(SUMMARY)
    summaries = await poll_with_llm(redis, feeds.url("/rss"), fake_llm.url)
    assert summaries and all(s == SUMMARY for s in summaries)
    assert fake_llm.authorizations[0] == "Bearer sk-local-test"


async def test_a_failing_model_keeps_the_extractive_summary(
    redis: aioredis.Redis,
    feeds: FeedServer,
    fake_llm: FakeLlm,  # noqa: F811
) -> None:
    async def broken(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": "overloaded"}, status=500)

    fake_llm.handler = broken
    summaries = await poll_with_llm(redis, feeds.url("/rss"), fake_llm.url)
    assert summaries and SUMMARY not in summaries
    assert any(s.startswith("Russia's media regulator Roskomnadzor") for s in summaries)

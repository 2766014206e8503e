"""Worker processes that die (OOM killer, a crash) do not stop the bot from storing stories."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor

import pytest
import redis.asyncio as aioredis

from bot.pipeline import Outcome
from bot.workers import Workers
from tests.fakes.feeds import FeedServer
from tests.test_poll import poll, settings_for


@pytest.fixture
def workers() -> Iterator[Workers]:
    pool = Workers(2)
    yield pool
    pool.shutdown(wait=True, cancel_futures=True)


def kill_new_children(before: set[int | None]) -> int:
    """SIGKILL the worker processes started since ``before``, as the OOM killer would."""
    children = [c for c in multiprocessing.active_children() if c.pid not in before]
    for child in children:
        if child.pid is not None:
            os.kill(child.pid, signal.SIGKILL)
    for child in children:
        child.join(10)
    return len(children)


async def test_a_poll_after_the_workers_were_killed_still_stores_stories(
    redis: aioredis.Redis, feeds: FeedServer, workers: Workers
) -> None:
    before = {child.pid for child in multiprocessing.active_children()}
    assert workers.submit(os.getpid).result(30) > 0  # the workers are up
    assert kill_new_children(before) >= 1
    settings = settings_for([{"url": feeds.url("/rss"), "name": "Wire"}])
    report = await poll(redis, settings, executor=workers)
    assert [r.outcome for r in report.feeds] == [Outcome.NEW]
    assert any("Telegram" in story.title for story in report.new_stories)


def test_a_job_that_kills_its_worker_fails_alone(workers: Workers) -> None:
    with pytest.raises(BrokenExecutor):
        workers.submit(os._exit, 1).result(30)  # kills the fresh pool's worker too
    assert workers.submit(os.getpid).result(30) > 0  # later jobs run on new workers


async def test_a_feed_whose_worker_dies_fails_alone_and_the_poll_completes(
    redis: aioredis.Redis, feeds: FeedServer
) -> None:
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    with pytest.raises(BrokenExecutor):
        pool.submit(os._exit, 1).result(30)  # a pool that stays broken, unlike Workers
    settings = settings_for([{"url": feeds.url("/rss")}, {"url": feeds.url("/missing")}])
    try:
        report = await poll(redis, settings, executor=pool)
    finally:
        pool.shutdown(wait=True)
    died, missing = report.feeds
    assert died.outcome is Outcome.ERROR and "worker process" in died.message
    assert missing.outcome is Outcome.ERROR and "404" in missing.message

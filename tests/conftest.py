"""Shared fixtures: a real Redis (private embedded server, or REDIS_URL) flushed per test."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.embedded import EmbeddedServer
from tests.fakes.feeds import FeedServer

OWNER_MARK = "cwtest:owned"
"""Written into a database the suite owns; a database with keys but no mark is not flushed."""


@pytest.fixture(scope="session", autouse=True)
def _ptb_timedelta() -> Iterator[None]:
    """PTB 22.8 warns unless RetryAfter uses timedelta; the bot sets this in main() too."""
    previous = os.environ.get("PTB_TIMEDELTA")
    os.environ["PTB_TIMEDELTA"] = "1"
    yield
    if previous is None:
        os.environ.pop("PTB_TIMEDELTA", None)
    else:
        os.environ["PTB_TIMEDELTA"] = previous


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``REDIS_URL`` when set (CI's second pass), else a private embedded server."""
    external = os.environ.get("REDIS_URL", "")
    if external:
        if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
            pytest.exit(
                "REDIS_URL gives the tests one database to own: run them on one worker "
                "(without -n), or unset REDIS_URL so each worker starts its own server",
                returncode=3,
            )
        yield external
        return
    server = EmbeddedServer(Path(tmp_path_factory.mktemp("redis")), "512mb")
    url = server.attach()
    yield url
    server.leave()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client on an empty database this suite owns."""
    client: aioredis.Redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    await claim_database(client)
    yield client
    await client.aclose()


async def claim_database(client: aioredis.Redis) -> None:
    """Flush the database, refusing when it holds keys this suite did not write."""
    if await client.dbsize() and not await client.exists(OWNER_MARK):
        pytest.exit(
            "refusing to flush a Redis database holding keys the tests did not write; "
            "point REDIS_URL at an empty database (e.g. redis://127.0.0.1:6379/15)",
            returncode=3,
        )
    await client.flushdb()
    await client.set(OWNER_MARK, "1")


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    """A local feed server serving nothing yet: each test adds its routes."""
    fake = FeedServer()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def feeds() -> AsyncIterator[FeedServer]:
    """A local feed server with an English RSS feed at /rss and a cp1251 one at /ru."""
    server = FeedServer()
    await server.start()
    server.serve_file("/rss", "rss_en.xml")
    server.serve_file("/ru", "rss_cp1251_declared.xml", headers={"Content-Type": "text/xml"})
    yield server
    await server.stop()

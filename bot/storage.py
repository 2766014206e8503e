"""Opening Redis: an external URL or the embedded server, with the schema version checked."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TypeAlias

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot import keys
from bot.config import RedisSettings
from bot.embedded import EmbeddedServer
from bot.errors import StorageError

log = logging.getLogger(__name__)

Redis: TypeAlias = "aioredis.Redis"

MAX_CONNECTIONS = 64
"""Connections per process; callers beyond it wait for one instead of failing."""

MIGRATIONS: dict[int, str] = {}
"""Schema version → what the step to it does. Version 1 is the first; none to run yet."""


def redact_url(url: str) -> str:
    """A Redis URL without its password, for logs and messages."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}"


@contextlib.asynccontextmanager
async def open_redis(settings: RedisSettings) -> AsyncIterator[Redis]:
    """A connected client (``decode_responses``) for the run of one command."""
    server: EmbeddedServer | None = None
    url = settings.url
    if not url:
        server = EmbeddedServer(settings.data_dir, settings.maxmemory)
        url = server.attach()
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        decode_responses=True,
        health_check_interval=30,
        socket_connect_timeout=5,
        max_connections=MAX_CONNECTIONS,
        timeout=30,
    )
    client: Redis = aioredis.Redis(connection_pool=pool)
    try:
        try:
            await check_schema(client)
        except RedisError as e:
            raise StorageError(f"Redis at {redact_url(url)} is unreachable: {e}") from e
        yield client
    finally:
        with contextlib.suppress(RedisError):
            await client.aclose()
            await pool.disconnect()
        if server is not None:
            server.leave()


async def check_schema(client: Redis) -> None:
    """Stamp a new database with the schema version; refuse a newer one."""
    await client.set(keys.schema(), keys.SCHEMA_VERSION, nx=True)
    found = int(await client.get(keys.schema()) or keys.SCHEMA_VERSION)
    if found > keys.SCHEMA_VERSION:
        raise StorageError(
            f"Redis holds schema version {found}, newer than this CensorWire "
            f"({keys.SCHEMA_VERSION}): upgrade CensorWire"
        )
    if found < keys.SCHEMA_VERSION:
        for version in range(found + 1, keys.SCHEMA_VERSION + 1):
            log.info("migrating Redis schema to %s: %s", version, MIGRATIONS[version])
        await client.set(keys.schema(), keys.SCHEMA_VERSION)

"""Fetching feeds over HTTP: limits, conditional GET, redirects, a body cap. Bytes out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import aiohttp

from bot.config import PollingSettings
from bot.errors import FetchError

log = logging.getLogger(__name__)

_PERMANENT = {301, 308}
_TEMPORARY = {302, 303, 307}
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one conditional GET gave: a body, or ``not_modified``."""

    url: str
    final_url: str
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    moved_to: str = ""
    """The new URL when every redirect on the way was permanent (301/308)."""

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def etag(self) -> str:
        return self.headers.get("etag", "")

    @property
    def last_modified(self) -> str:
        return self.headers.get("last-modified", "")


class Fetcher:
    """Fetches feed URLs through one aiohttp session within total and per-host limits."""

    def __init__(self, session: aiohttp.ClientSession, settings: PollingSettings) -> None:
        self._session = session
        self._settings = settings
        self._total = asyncio.Semaphore(settings.concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._timeout = aiohttp.ClientTimeout(
            total=settings.timeout, connect=settings.connect_timeout
        )

    async def fetch(self, url: str, etag: str = "", last_modified: str = "") -> FetchResult:
        """GET ``url`` (conditionally), following redirects; raises FetchError with a reason."""
        headers = {
            "User-Agent": self._settings.user_agent,
            "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, "
            "text/xml;q=0.9, */*;q=0.5",
            "Accept-Encoding": "gzip, deflate",
        }
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current = url
        seen = {url}
        permanent = True
        for _hop in range(self._settings.max_redirects + 1):
            async with self._slot(current):
                status, location, response_headers, body = await self._get(current, headers)
            if location is None:
                moved = current if permanent and current != url else ""
                return FetchResult(url, current, status, body, response_headers, moved)
            permanent = permanent and status in _PERMANENT
            target = urljoin(current, location)
            if urlsplit(target).scheme not in ("http", "https"):
                raise FetchError(url, f"redirected to a non-HTTP address: {target}")
            if target in seen:
                raise FetchError(url, f"redirect loop at {target}")
            seen.add(target)
            current = target
        raise FetchError(url, f"more than {self._settings.max_redirects} redirects")

    @contextlib.asynccontextmanager
    async def _slot(self, url: str) -> AsyncIterator[None]:
        host = urlsplit(url).hostname or ""
        per_host = self._hosts.setdefault(host, asyncio.Semaphore(self._settings.per_host))
        async with self._total, per_host:
            yield

    async def _get(
        self, url: str, headers: Mapping[str, str]
    ) -> tuple[int, str | None, dict[str, str], bytes]:
        try:
            async with self._session.get(
                url,
                headers=headers,
                allow_redirects=False,
                auto_decompress=False,
                timeout=self._timeout,
            ) as response:
                found = {k.lower(): v for k, v in response.headers.items()}
                status = response.status
                if status in _PERMANENT | _TEMPORARY:
                    location = found.get("location")
                    if not location:
                        raise FetchError(url, f"HTTP {status} redirect without a Location")
                    return status, location, found, b""
                if status == 304:
                    return status, None, found, b""
                if status != 200:
                    raise _status_error(url, status, found)
                body = await self._read_capped(url, response, found)
                return status, None, found, body
        except TimeoutError as e:
            raise FetchError(
                url, f"no complete answer within {self._settings.timeout:g}s (timeout)"
            ) from e
        except aiohttp.ClientConnectorError as e:
            raise FetchError(url, f"cannot connect: {e.os_error or e}") from e
        except aiohttp.ClientPayloadError as e:
            raise FetchError(url, f"broken response body: {e}") from e
        except aiohttp.ClientError as e:
            raise FetchError(url, f"HTTP client error: {e}") from e

    async def _read_capped(
        self, url: str, response: aiohttp.ClientResponse, headers: Mapping[str, str]
    ) -> bytes:
        cap = self._settings.max_body_bytes
        declared = headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > cap:
            raise FetchError(url, f"body of {int(declared):,} bytes is over the {cap:,}-byte cap")
        encoding = headers.get("content-encoding", "identity").strip().lower()
        inflater = _Inflater(url, encoding, cap)
        raw = 0
        async for chunk in response.content.iter_chunked(_CHUNK):
            raw += len(chunk)
            if raw > cap:
                raise FetchError(url, f"body is over the {cap:,}-byte cap")
            inflater.feed(chunk)
        return inflater.finish()


class _Inflater:
    """Decompresses gzip/deflate incrementally and stops at ``cap`` output bytes."""

    def __init__(self, url: str, encoding: str, cap: int) -> None:
        self._url = url
        self._cap = cap
        self._parts: list[bytes] = []
        self._size = 0
        if encoding in ("", "identity"):
            self._zlib: zlib._Decompress | None = None
        elif encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS)
        else:
            raise FetchError(url, f"unsupported Content-Encoding {encoding!r}")

    def feed(self, chunk: bytes) -> None:
        if self._zlib is None:
            self._add(chunk)
            return
        data = chunk
        while data:
            try:
                out = self._zlib.decompress(data, self._cap - self._size + 1)
            except zlib.error as e:
                raise FetchError(self._url, f"corrupt compressed body: {e}") from e
            self._add(out)
            data = self._zlib.unconsumed_tail

    def finish(self) -> bytes:
        if self._zlib is not None:
            self._add(self._zlib.flush())
        return b"".join(self._parts)

    def _add(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._cap:
            raise FetchError(self._url, f"body inflates past the {self._cap:,}-byte cap")
        self._parts.append(data)


def _status_error(url: str, status: int, headers: Mapping[str, str]) -> FetchError:
    retry_after = parse_retry_after(headers.get("retry-after", ""), datetime.now(UTC))
    reasons = {
        404: "HTTP 404 Not Found: the feed address is wrong or the feed was moved",
        410: "HTTP 410 Gone: the publisher removed this feed",
        401: "HTTP 401: the feed needs a login",
        403: "HTTP 403 Forbidden: the server refuses us (blocked or login needed)",
        429: "HTTP 429 Too Many Requests",
        503: "HTTP 503 Service Unavailable",
    }
    reason = reasons.get(status, f"HTTP {status}")
    if retry_after is not None:
        reason += f" (Retry-After {retry_after:g}s)"
    return FetchError(url, reason, retry_after=retry_after, status=status)


def parse_retry_after(value: str, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date)."""
    value = value.strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())

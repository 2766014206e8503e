"""OONI aggregation API client, its records, and the pure rules for caching counts."""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal, Protocol, TypeVar

import aiohttp

from bot.durations import DURATION
from bot.errors import OoniError

log = logging.getLogger(__name__)

MESSENGER_TESTS: tuple[str, ...] = ("telegram", "whatsapp", "signal", "facebook_messenger")
"""OONI test names of the four messenger tests, in display order."""

AGGREGATION_PATH = "/api/v1/aggregation"
MAX_BODY_BYTES = 4 * 1024 * 1024
"""A 30-day, per-network answer is a few hundred kB; anything far larger is not ours."""

_COUNT_FIELDS = ("anomaly_count", "confirmed_count", "failure_count", "ok_count")


@dataclass(frozen=True, slots=True)
class OoniSettings:
    """The ``[ooni]`` config section; ``interval`` and ``timeout`` are seconds."""

    enabled: bool = False
    base_url: str = "https://api.ooni.org"
    countries: tuple[str, ...] = ("RU", "IR", "CN", "TR", "BY")
    interval: float = field(default=3600.0, metadata=DURATION)
    timeout: float = field(default=30.0, metadata=DURATION)
    days: int = 30
    min_rate: float = 0.5
    ratio: float = 3.0
    min_measurements: int = 20
    min_networks: int = 2
    days_running: int = 2
    days_clear: int = 2


class _Counted:
    """What both kinds of count derive from their numbers."""

    __slots__ = ()
    anomaly: int
    confirmed: int
    failure: int
    measurements: int

    @property
    def usable(self) -> int:
        """Measurements that ran to the end (failed ones say nothing about blocking)."""
        return max(self.measurements - self.failure, 0)

    @property
    def anomalous(self) -> int:
        return self.anomaly + self.confirmed


@dataclass(frozen=True, slots=True)
class DayCount(_Counted):
    """One day of one test in one country, as the aggregation endpoint counts it."""

    day: date
    test: str
    anomaly: int
    confirmed: int
    failure: int
    ok: int
    measurements: int

    def as_row(self) -> dict[str, Any]:
        """The API's own row shape, for a cache that stores rows as JSON."""
        return {**_counts_row(self), "test_name": self.test}


@dataclass(frozen=True, slots=True)
class NetworkDayCount(_Counted):
    """One day of one test on one network (``asn``, e.g. 12389 for AS12389)."""

    day: date
    test: str
    asn: int
    anomaly: int
    confirmed: int
    failure: int
    ok: int
    measurements: int

    def as_row(self) -> dict[str, Any]:
        return {**_counts_row(self), "probe_asn": self.asn, "test_name": self.test}


def _counts_row(count: DayCount | NetworkDayCount) -> dict[str, Any]:
    return {
        "anomaly_count": count.anomaly,
        "confirmed_count": count.confirmed,
        "failure_count": count.failure,
        "ok_count": count.ok,
        "measurement_count": count.measurements,
        "measurement_start_day": count.day.isoformat(),
    }


# ---------------------------------------------------------------- parsing (pure)


def parse_day_counts(payload: object) -> list[DayCount]:
    """Rows of an ``axis_y=test_name`` answer; :class:`OoniError` when the shape is wrong.

    Parse errors say what is wrong with the answer; the client prefixes what was asked.
    """
    out = []
    for row in _result_rows(payload):
        test = row.get("test_name")
        if not isinstance(test, str) or not test:
            raise OoniError(f"row without test_name: {_clip(row)}")
        out.append(DayCount(_row_day(row), test, *_row_counts(row)))
    return out


def parse_network_counts(payload: object, test: str) -> list[NetworkDayCount]:
    """Rows of an ``axis_y=probe_asn`` answer for one ``test``."""
    out = []
    for row in _result_rows(payload):
        name = row.get("test_name", test)
        out.append(NetworkDayCount(_row_day(row), str(name), _row_asn(row), *_row_counts(row)))
    return out


def _result_rows(payload: object) -> list[Mapping[str, Any]]:
    if not isinstance(payload, dict):
        raise OoniError(f"answer is not a JSON object: {_clip(payload)}")
    if "result" not in payload:
        message = payload.get("msg") or payload.get("detail") or _clip(payload)
        raise OoniError(f"answer has no result: {message}")
    rows = payload["result"]
    if not isinstance(rows, list):
        raise OoniError(f"result is not a list (was the request two-dimensional?): {_clip(rows)}")
    for row in rows:
        if not isinstance(row, dict):
            raise OoniError(f"result row is not an object: {_clip(row)}")
    return rows


def _row_day(row: Mapping[str, Any]) -> date:
    raw = row.get("measurement_start_day")
    try:
        return date.fromisoformat(str(raw)[:10])
    except ValueError as e:
        raise OoniError(f"row has a bad measurement_start_day {raw!r}") from e


def _row_counts(row: Mapping[str, Any]) -> tuple[int, int, int, int, int]:
    values = []
    for key in (*_COUNT_FIELDS, "measurement_count"):
        value = row.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise OoniError(f"row has a bad {key} {value!r}: {_clip(row)}")
        values.append(value)
    anomaly, confirmed, failure, ok, measurements = values
    if failure > measurements:
        raise OoniError(f"row counts more failures than measurements: {_clip(row)}")
    return anomaly, confirmed, failure, ok, measurements


def _row_asn(row: Mapping[str, Any]) -> int:
    raw = row.get("probe_asn")
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    text = str(raw).upper().removeprefix("AS")
    if not (text.isascii() and text.isdigit()):
        raise OoniError(f"row has a bad probe_asn {raw!r}")
    return int(text)


def _clip(value: object, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------- caching (pure)


def window(today: date, days: int = 30) -> tuple[date, date]:
    """The ``days`` days ending today as ``(since, until)``; ``until`` is exclusive, as in OONI."""
    return today - timedelta(days=days - 1), today + timedelta(days=1)


def refetch_range(
    cached_days: Collection[date], today: date, days: int = 30, fresh_window: int = 7
) -> tuple[date, date]:
    """The range to ask OONI for: from the first day not cached, or the last ``fresh_window``.

    Days older than ``fresh_window`` are closed: once fetched they are kept. The recent days
    are always fetched again because probes upload late (``until`` is exclusive).
    """
    since, until = window(today, days)
    fresh_from = today - timedelta(days=fresh_window - 1)
    while since < fresh_from and since in cached_days:
        since += timedelta(days=1)
    return since, until


def closed_days(since: date, until: date, today: date, fresh_window: int = 7) -> set[date]:
    """Days of a fetched range ``[since, until)`` that may be cached for good (even if empty)."""
    fresh_from = today - timedelta(days=fresh_window - 1)
    last = min(until, fresh_from)
    return {since + timedelta(days=i) for i in range((last - since).days)}


class _Dated(Protocol):
    @property
    def day(self) -> date: ...


_C = TypeVar("_C", bound=_Dated)


def merge_counts(
    cached: Iterable[_C], fresh: Iterable[_C], fetched_since: date, since: date
) -> list[_C]:
    """Cached counts before ``fetched_since`` plus every fresh count, none before ``since``.

    The fresh answer is the truth for its whole range: a cached day inside it that the
    fresh answer omits is dropped. Sorted by day, input order kept within a day.
    """
    kept = [c for c in cached if since <= c.day < fetched_since]
    kept.extend(c for c in fresh if c.day >= since)
    return sorted(kept, key=lambda c: c.day)


# ---------------------------------------------------------------- HTTP (I/O)


@dataclass(frozen=True, slots=True)
class CountryCounts:
    """Everything one poll of one country brings back."""

    country: str
    daily: tuple[DayCount, ...]
    networks: tuple[NetworkDayCount, ...]


class OoniClient:
    """Asks ``/api/v1/aggregation`` for day counts; each failure is an :class:`OoniError`."""

    def __init__(self, session: aiohttp.ClientSession, settings: OoniSettings) -> None:
        self._session = session
        self._settings = settings

    async def fetch_daily(self, country: str, since: date, until: date) -> list[DayCount]:
        """Per day and test in ``[since, until)``: one request for the four messenger tests."""
        params = _params(country, MESSENGER_TESTS, since, until, "test_name")
        what = f"{country} {since}..{until}"
        payload = await self._get(params, what)
        try:
            return parse_day_counts(payload)
        except OoniError as e:
            raise OoniError(f"OONI {what}: {e}") from e

    async def fetch_networks(self, country: str, since: date, until: date) -> list[NetworkDayCount]:
        """Per day, test and network: one request per test (the API has only two axes)."""
        out: list[NetworkDayCount] = []
        for test in MESSENGER_TESTS:
            params = _params(country, (test,), since, until, "probe_asn")
            what = f"{country} {test} networks {since}..{until}"
            payload = await self._get(params, what)
            try:
                out.extend(parse_network_counts(payload, test))
            except OoniError as e:
                raise OoniError(f"OONI {what}: {e}") from e
        return out

    async def fetch_country(self, country: str, since: date, until: date) -> CountryCounts:
        """Both views of one country; the first failure stops it."""
        daily = await self.fetch_daily(country, since, until)
        networks = await self.fetch_networks(country, since, until)
        return CountryCounts(country, tuple(daily), tuple(networks))

    async def _get(self, params: Mapping[str, str], what: str) -> object:
        url = self._settings.base_url.rstrip("/") + AGGREGATION_PATH
        timeout = aiohttp.ClientTimeout(total=self._settings.timeout)
        try:
            async with self._session.get(url, params=params, timeout=timeout) as resp:
                body = await _read_capped(resp, what)
                status = resp.status
                retry_after = resp.headers.get("Retry-After", "")
        except TimeoutError as e:
            raise OoniError(
                f"OONI {what}: no answer within {self._settings.timeout:g} s "
                "(API slow or unreachable; raise [ooni] timeout if it persists)"
            ) from e
        except aiohttp.ClientError as e:
            raise OoniError(f"OONI {what}: cannot reach {url}: {e}") from e
        if status != 200:
            raise OoniError(f"OONI {what}: {_status_reason(status, body, retry_after)}")
        try:
            payload: object = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise OoniError(f"OONI {what}: answer is not valid JSON ({e})") from e
        log.debug("OONI %s: %d bytes", what, len(body))
        return payload


def _params(
    country: str,
    tests: Sequence[str],
    since: date,
    until: date,
    axis_y: Literal["test_name", "probe_asn"],
) -> dict[str, str]:
    return {
        "probe_cc": country.upper(),
        "test_name": ",".join(tests),
        "since": since.isoformat(),
        "until": until.isoformat(),
        "axis_x": "measurement_start_day",
        "axis_y": axis_y,
        "time_grain": "day",
    }


async def _read_capped(resp: aiohttp.ClientResponse, what: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise OoniError(f"OONI {what}: answer larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _status_reason(status: int, body: bytes, retry_after: str) -> str:
    message = _error_message(body)
    if status == 429:
        wait = f", retry after {retry_after} s" if retry_after else ""
        return f"HTTP 429, rate limited by OONI{wait}"
    if status >= 500:
        return f"HTTP {status}, the OONI API is failing; retrying later" + (
            f": {message}" if message else ""
        )
    if status in (400, 422):
        return f"HTTP {status}, OONI rejected the query: {message or 'no reason given'}"
    return f"HTTP {status}" + (f": {message}" if message else "")


def _error_message(body: bytes) -> str:
    """The ``msg`` (old API) or ``detail`` (FastAPI) of an error body, else its start."""
    text = body.decode("utf-8", "replace").strip()
    try:
        payload = json.loads(text)
    except json.JSONDecodeError:
        return text[:160]
    if isinstance(payload, dict):
        for key in ("msg", "detail", "error"):
            if payload.get(key):
                return str(payload[key])[:300]
    return text[:160]

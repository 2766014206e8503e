"""A fake OONI API (``/api/v1/aggregation``) on 127.0.0.1, fed by fixtures in tests/data/ooni.

A fixture is one of:

- a scenario (has ``tests``): compact daily rates per test, per-network volumes, overrides,
  missing days and late-arriving data, expanded here into the API's rows;
- a fault (has ``fault``): an HTTP status with a JSON or text body, or a hang;
- a literal answer (has ``result``): served as written.

Scenario expansion is deterministic (CRC32 jitter, no randomness), so a fixture always
gives the same counts. Query parameters are validated like the real API: bad dates,
axes or test names and a ``time_grain`` the range does not allow give HTTP 400 with
``{"msg": ..., "v": 0}``. Only ``time_grain=day`` is served.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import zlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from itertools import pairwise
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from bot.chart import render_status_chart
from bot.detect import DayStat, build_series
from bot.ooni import (
    MESSENGER_TESTS,
    CountryCounts,
    parse_day_counts,
    parse_network_counts,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "ooni"
AXES = (
    "blocking_type",
    "category_code",
    "domain",
    "input",
    "measurement_start_day",
    "probe_asn",
    "probe_cc",
    "test_name",
)
GRAINS = (
    (7, ("hour", "day", "auto")),
    (30, ("day", "week", "auto")),
    (365, ("day", "week", "month", "auto")),
    (9_999_999, ("day", "week", "month", "year", "auto")),
)
_TEST_NAMES = re.compile(r"^[a-z0-9_,]+$")


@cache
def load_fixture(name: str) -> dict[str, Any]:
    """A fixture's JSON by file stem (``sudden_block``)."""
    loaded: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


def fixture_names() -> list[str]:
    return sorted(p.stem for p in DATA.glob("*.json"))


def _jitter(*keys: object) -> float:
    """A stable number in [0, 1) for these keys."""
    return zlib.crc32("|".join(map(str, keys)).encode()) / 2**32


def _curve(spec: Mapping[str, Any], day: date) -> float:
    """Value of a ``{"steps": [[day, v], …]}`` or ``{"linear": …}`` curve on ``day``."""
    kind = "linear" if "linear" in spec else "steps"
    points = [(date.fromisoformat(d), float(v)) for d, v in spec[kind]]
    if day <= points[0][0]:
        return points[0][1]
    for (d0, v0), (d1, v1) in pairwise(points):
        if d0 <= day < d1:
            if kind == "steps":
                return v0
            return v0 + (v1 - v0) * (day - d0).days / (d1 - d0).days
    return points[-1][1]


@dataclass(frozen=True)
class Scenario:
    """A compact scenario fixture; :meth:`counts` expands one (day, test, asn) cell."""

    raw: Mapping[str, Any]

    @property
    def country(self) -> str:
        return str(self.raw["country"])

    @property
    def today(self) -> date:
        return date.fromisoformat(self.raw["today"])

    def days(self) -> list[date]:
        n = int(self.raw.get("days", 30))
        return [self.today - timedelta(days=n - 1 - i) for i in range(n)]

    def counts(self, day: date, test: str, asn: str, published: bool) -> dict[str, int] | None:
        raw = self.raw
        if test not in raw["tests"] or day.isoformat() in raw.get("missing", ()):
            return None
        volume = raw["networks"][asn] * (0.85 + 0.3 * _jitter("v", day, test, asn))
        if "volume" in raw:
            volume *= _curve(raw["volume"], day)
        if not published:
            volume *= float(raw.get("late", {}).get(day.isoformat(), 1.0))
        measurements = round(volume)
        if measurements == 0:
            return None
        failure = round(measurements * float(raw.get("failure", 0.0)))
        usable = measurements - failure
        spec = raw.get("overrides", {}).get(asn, {}).get(test, raw["tests"][test])
        rate = _curve(spec, day) + 0.06 * (_jitter("r", day, test, asn) - 0.5)
        anomalous = round(usable * min(max(rate, 0.0), 1.0))
        confirmed = round(anomalous * float(raw.get("confirmed", 0.0)))
        return {
            "anomaly_count": anomalous - confirmed,
            "confirmed_count": confirmed,
            "failure_count": failure,
            "ok_count": usable - anomalous,
            "measurement_count": measurements,
        }

    def rows(
        self, tests: list[str], since: date, until: date, axis_y: str, published: bool
    ) -> list[dict[str, Any]]:
        """Rows per day and ``axis_y`` (``test_name`` or ``probe_asn``), summed over the rest."""
        groups: dict[tuple[str, Any], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for day in self.days():
            if not since <= day < until:
                continue
            for test in tests:
                for asn in self.raw["networks"]:
                    cell = self.counts(day, test, asn, published)
                    if cell is None:
                        continue
                    y = test if axis_y == "test_name" else int(asn)
                    for key, value in cell.items():
                        groups[(day.isoformat(), y)][key] += value
        return [
            {**counts, "measurement_start_day": day, axis_y: y}
            for (day, y), counts in sorted(groups.items(), key=lambda item: item[0])
        ]


def scenario_counts(name: str, published: bool = True) -> tuple[CountryCounts, date]:
    """A scenario's counts as the client would parse them, and the scenario's today."""
    scenario = Scenario(load_fixture(name))
    since, until = scenario.days()[0], scenario.today + timedelta(days=1)
    tests = list(MESSENGER_TESTS)
    daily = parse_day_counts({"result": scenario.rows(tests, since, until, "test_name", published)})
    networks = []
    for test in tests:
        rows = scenario.rows([test], since, until, "probe_asn", published)
        networks.extend(parse_network_counts({"result": rows}, test))
    return CountryCounts(scenario.country, tuple(daily), tuple(networks)), scenario.today


def scenario_series(name: str, published: bool = True) -> tuple[dict[str, list[DayStat]], date]:
    counts, today = scenario_counts(name, published)
    return build_series(counts.daily, counts.networks), today


def write_sample_chart(path: Path, fixture: str = "sudden_block") -> int:
    """Render a fixture's /status chart to ``path`` (docs/status-chart-sample.png).

    Returns the number of bytes written. For the README sample:
    ``python -c "from pathlib import Path; from tests.fakes.ooni import write_sample_chart;
    write_sample_chart(Path('docs/status-chart-sample.png'))"``
    """
    series, today = scenario_series(fixture)
    png = render_status_chart(str(load_fixture(fixture)["country"]), series, today)
    path.write_bytes(png)
    return len(png)


class BadQuery(ValueError):
    """A query the real API would refuse with HTTP 400."""


def _date_param(query: Mapping[str, str], key: str) -> date:
    try:
        return date.fromisoformat(query[key][:10])
    except (KeyError, ValueError) as e:
        raise BadQuery(f"Invalid or missing {key}") from e


def validate(query: Mapping[str, str]) -> tuple[date, date, list[str], str]:
    """(since, until, tests, axis_y) of a valid day-grain query, else :class:`BadQuery`."""
    since, until = _date_param(query, "since"), _date_param(query, "until")
    tests = query.get("test_name", "")
    if tests and not _TEST_NAMES.match(tests):
        raise BadQuery("Invalid test_name")
    axis_x, axis_y = query.get("axis_x", ""), query.get("axis_y", "")
    for axis in (axis_x, axis_y):
        if axis and axis not in AXES:
            raise BadQuery("Invalid axis name")
    if axis_x and axis_x == axis_y:
        raise BadQuery("Axis X and Y cannot be the same")
    delta = until - since
    if delta <= timedelta():
        raise BadQuery("Invalid since and until values")
    grain = query.get("time_grain", "auto")
    allowed = next(a for days, a in GRAINS if delta <= timedelta(days=days))
    if grain not in allowed:
        raise BadQuery(f"Choose time_grain between {', '.join(allowed)} for the given time range")
    if grain not in ("day", "auto") or axis_x != "measurement_start_day":
        raise BadQuery("this fake serves axis_x=measurement_start_day with time_grain=day only")
    if axis_y not in ("test_name", "probe_asn"):
        raise BadQuery("this fake serves axis_y=test_name or probe_asn only")
    names = [t for t in tests.split(",") if t] or list(MESSENGER_TESTS)
    return since, until, names, axis_y


@dataclass
class FakeOoni:
    """``async with FakeOoni({"RU": "sudden_block"}) as fake:`` then use ``fake.url``."""

    fixtures: Mapping[str, str]
    requests: list[dict[str, str]] = field(default_factory=list)
    published: bool = False
    url: str = ""
    _runner: web.AppRunner | None = None
    _closing: asyncio.Event = field(default_factory=asyncio.Event)

    def publish_late_data(self) -> None:
        """From now on, answer with the late-arriving measurements included."""
        self.published = True

    async def __aenter__(self) -> FakeOoni:
        app = web.Application()
        app.router.add_get("/api/v1/aggregation", self._aggregation)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(self._runner, sock)
        await site.start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _aggregation(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        self.requests.append(query)
        fixture = load_fixture(self.fixtures.get(query.get("probe_cc", ""), "empty"))
        if "fault" in fixture:
            return await self._fault(fixture["fault"])
        if "result" in fixture:
            return web.json_response(fixture)
        try:
            since, until, tests, axis_y = validate(query)
        except BadQuery as e:
            return web.json_response({"msg": str(e), "v": 0}, status=400)
        rows = Scenario(fixture).rows(tests, since, until, axis_y, self.published)
        return web.json_response(
            {
                "v": 0,
                "dimension_count": 2,
                "result": rows,
                "db_stats": {
                    "row_count": len(rows),
                    "bytes": 0,
                    "total_row_count": len(rows),
                    "elapsed_seconds": 0.01,
                },
            }
        )

    async def _fault(self, fault: Mapping[str, Any]) -> web.StreamResponse:
        if fault.get("hang"):
            await self._closing.wait()
        status = int(fault.get("status", 500))
        if "json" in fault:
            return web.json_response(fault["json"], status=status)
        return web.Response(
            text=str(fault.get("text", "")),
            status=status,
            content_type=str(fault.get("content_type", "text/plain")),
        )

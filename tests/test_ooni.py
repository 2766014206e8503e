"""The OONI client against the fake OONI server, its parser, and the pure caching rules."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import aiohttp
import pytest

from bot.detect import Verdict, build_series, detect
from bot.errors import OoniError
from bot.ooni import (
    MESSENGER_TESTS,
    DayCount,
    NetworkDayCount,
    OoniClient,
    OoniSettings,
    closed_days,
    merge_counts,
    parse_day_counts,
    parse_network_counts,
    refetch_range,
    window,
)
from tests.fakes.ooni import FakeOoni, load_fixture, validate

TODAY = date(2026, 11, 28)
SINCE, UNTIL = window(TODAY)
D = date.fromisoformat


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def client(session: aiohttp.ClientSession, url: str, timeout: float = 10.0) -> OoniClient:
    return OoniClient(session, OoniSettings(base_url=url, timeout=timeout))


async def test_fetch_daily_sends_the_documented_query(session: aiohttp.ClientSession) -> None:
    async with FakeOoni({"RU": "sudden_block"}) as fake:
        daily = await client(session, fake.url).fetch_daily("ru", SINCE, UNTIL)
    assert fake.requests == [
        {
            "probe_cc": "RU",
            "test_name": "telegram,whatsapp,signal,facebook_messenger",
            "since": "2026-10-30",
            "until": "2026-11-29",
            "axis_x": "measurement_start_day",
            "axis_y": "test_name",
            "time_grain": "day",
        }
    ]
    assert len(daily) == 30 * 4
    assert {c.test for c in daily} == set(MESSENGER_TESTS)
    blocked = next(c for c in daily if c.day == D("2026-11-21") and c.test == "whatsapp")
    assert blocked.anomalous / blocked.usable > 0.7


async def test_fetch_networks_asks_once_per_test(session: aiohttp.ClientSession) -> None:
    async with FakeOoni({"RU": "sudden_block"}) as fake:
        nets = await client(session, fake.url).fetch_networks("RU", SINCE, UNTIL)
    assert [(r["test_name"], r["axis_y"]) for r in fake.requests] == [
        (test, "probe_asn") for test in MESSENGER_TESTS
    ]
    assert {n.asn for n in nets} == {12389, 8359, 3216, 31213, 25513, 42610}
    untouched = [n for n in nets if n.asn == 42610 and n.test == "whatsapp"]
    assert all(n.anomalous / n.usable < 0.5 for n in untouched)


# What detection says at the fixture's today, from a cold start, through the client.
ALERTS_AT_TODAY = {
    "quiet_month": {},
    "sudden_block": {"whatsapp": "2026-11-20"},
    "gradual_throttle": {"telegram": "2026-11-22"},
    "noisy_network": {},
    "late_data": {},
    "missing_days": {"facebook_messenger": "2026-11-22"},
}


@pytest.mark.parametrize("fixture", sorted(ALERTS_AT_TODAY))
async def test_each_scenario_through_the_client(
    session: aiohttp.ClientSession, fixture: str
) -> None:
    country = load_fixture(fixture)["country"]
    async with FakeOoni({country: fixture}) as fake:
        counts = await client(session, fake.url).fetch_country(country, SINCE, UNTIL)
    assert counts.country == country and counts.daily and counts.networks
    settings = OoniSettings()
    series = build_series(counts.daily, counts.networks, min_rate=settings.min_rate)
    alerts = {}
    for test, stats in series.items():
        decision = detect(stats, settings, None, TODAY)
        if decision.verdict is Verdict.ALERT:
            assert decision.figures is not None
            alerts[test] = decision.figures.since.isoformat()
    assert alerts == ALERTS_AT_TODAY[fixture]


async def test_missing_days_have_no_rows(session: aiohttp.ClientSession) -> None:
    async with FakeOoni({"MM": "missing_days"}) as fake:
        daily = await client(session, fake.url).fetch_daily("MM", SINCE, UNTIL)
    days = {c.day for c in daily}
    assert len(days) == 25
    assert {D("2026-11-09"), D("2026-11-23"), D("2026-11-27")}.isdisjoint(days)


async def test_late_data_refetch_merges_and_then_alerts(session: aiohttp.ClientSession) -> None:
    settings = OoniSettings()
    async with FakeOoni({"IR": "late_data"}) as fake:
        ooni = client(session, fake.url)
        first = await ooni.fetch_country("IR", SINCE, UNTIL)
        series = build_series(first.daily, first.networks)
        assert detect(series["signal"], settings, None, TODAY).verdict is Verdict.NONE
        cached = closed_days(SINCE, UNTIL, TODAY)
        assert max(cached) == D("2026-11-21") and len(cached) == 23

        fake.publish_late_data()
        since, until = refetch_range(cached, TODAY)
        assert (since, until) == (D("2026-11-22"), UNTIL)
        fresh = await ooni.fetch_country("IR", since, until)
    assert fake.requests[-1]["since"] == "2026-11-22"
    daily = merge_counts(first.daily, fresh.daily, since, SINCE)
    networks = merge_counts(first.networks, fresh.networks, since, SINCE)
    assert len(daily) == len(first.daily)
    before = {(c.day, c.test): c.measurements for c in first.daily}
    after = {(c.day, c.test): c.measurements for c in daily}
    assert after[(D("2026-11-27"), "signal")] > 3 * before[(D("2026-11-27"), "signal")]
    assert after[(D("2026-11-20"), "signal")] == before[(D("2026-11-20"), "signal")]
    decision = detect(build_series(daily, networks)["signal"], settings, None, TODAY)
    assert decision.verdict is Verdict.ALERT
    assert decision.figures is not None and decision.figures.since == D("2026-11-26")


async def test_literal_answer_is_parsed_as_served(session: aiohttp.ClientSession) -> None:
    async with FakeOoni({"RU": "aggregation_sample"}) as fake:
        daily = await client(session, fake.url).fetch_daily("RU", SINCE, UNTIL)
    assert len(daily) == 8
    assert daily[-1] == DayCount(D("2026-11-20"), "whatsapp", 301, 22, 9, 80, 412)
    assert daily[-1].usable == 403 and daily[-1].anomalous == 323


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        (
            "error_400",
            "HTTP 400, OONI rejected the query: Choose time_grain between day, week, auto",
        ),
        ("error_500", "HTTP 500, the OONI API is failing; retrying later"),
        ("malformed", "answer is not valid JSON"),
        ("wrong_shape", "result is not a list"),
        ("error_in_200", "answer has no result: Axis X and Y cannot be the same"),
    ],
)
async def test_failures_become_ooni_errors(
    session: aiohttp.ClientSession, fixture: str, reason: str
) -> None:
    async with FakeOoni({"RU": fixture}) as fake:
        with pytest.raises(OoniError, match=reason) as caught:
            await client(session, fake.url).fetch_daily("RU", SINCE, UNTIL)
    assert str(caught.value).startswith("OONI RU 2026-10-30..2026-11-29: ")


async def test_bad_json_keeps_its_cause(session: aiohttp.ClientSession) -> None:
    async with FakeOoni({"RU": "malformed"}) as fake:
        with pytest.raises(OoniError) as caught:
            await client(session, fake.url).fetch_daily("RU", SINCE, UNTIL)
    assert caught.value.__cause__ is not None


async def test_an_api_that_never_answers_times_out(session: aiohttp.ClientSession) -> None:
    async with FakeOoni({"RU": "hang"}) as fake:
        with pytest.raises(OoniError, match=r"no answer within 0\.3 s"):
            await client(session, fake.url, timeout=0.3).fetch_networks("RU", SINCE, UNTIL)


async def test_unreachable_api(session: aiohttp.ClientSession) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(OoniError, match="cannot reach"):
        await client(session, f"http://127.0.0.1:{port}").fetch_daily("RU", SINCE, UNTIL)


async def test_a_query_the_api_refuses(session: aiohttp.ClientSession) -> None:
    async with FakeOoni({"RU": "sudden_block"}) as fake:
        with pytest.raises(OoniError, match="Invalid since and until values"):
            await client(session, fake.url).fetch_daily("RU", TODAY, TODAY)


async def test_fake_refuses_a_grain_the_range_does_not_allow(
    session: aiohttp.ClientSession,
) -> None:
    query = {"since": "2026-10-30", "until": "2026-11-29", "time_grain": "hour"}
    async with (
        FakeOoni({"RU": "sudden_block"}) as fake,
        session.get(f"{fake.url}/api/v1/aggregation", params=query) as resp,
    ):
        body = await resp.json()
    assert resp.status == 400
    assert body == {
        "msg": "Choose time_grain between day, week, auto for the given time range",
        "v": 0,
    }


BASE = {"axis_x": "measurement_start_day", "axis_y": "test_name", "time_grain": "day"}


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"since": "2026-11-22", "until": "2026-11-29"}, None),
        ({"since": "2026-11-22", "until": "2026-11-29", "time_grain": "hour"}, "day only"),
        ({"since": "2026-11-21", "until": "2026-11-29", "time_grain": "hour"}, "between day, week"),
        ({"since": "2026-01-01", "until": "2026-11-29", "time_grain": "week"}, "day only"),
        (
            {"since": "2025-01-01", "until": "2026-11-29", "time_grain": "hour"},
            "day, week, month, year",
        ),
        ({"since": "2026-11-29", "until": "2026-11-29"}, "Invalid since and until"),
        ({"since": "yesterday", "until": "2026-11-29"}, "Invalid or missing since"),
        ({"since": "2026-11-22", "until": "2026-11-29", "axis_y": "measurement_start_day"}, "same"),
        ({"since": "2026-11-22", "until": "2026-11-29", "axis_y": "isp"}, "Invalid axis name"),
        ({"since": "2026-11-22", "until": "2026-11-29", "test_name": "Telegram"}, "test_name"),
    ],
)
def test_fake_validates_like_the_api(query: dict[str, str], error: str | None) -> None:
    full = {**BASE, **query}
    if error is None:
        assert validate(full)[2] == list(MESSENGER_TESTS)
    else:
        with pytest.raises(ValueError, match=error):
            validate(full)


ROW: dict[str, Any] = {
    "anomaly_count": 3,
    "confirmed_count": 1,
    "failure_count": 2,
    "ok_count": 14,
    "measurement_count": 20,
    "measurement_start_day": "2026-11-27",
    "test_name": "signal",
}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([ROW], "not a JSON object"),
        ({"v": 0}, "has no result"),
        ({"detail": "Invalid ASN value"}, "Invalid ASN value"),
        ({"result": [ROW, "x"]}, "row is not an object"),
        ({"result": [{**ROW, "measurement_start_day": "27.11.2026"}]}, "bad measurement_start_day"),
        ({"result": [{**ROW, "anomaly_count": -1}]}, "bad anomaly_count"),
        ({"result": [{**ROW, "ok_count": True}]}, "bad ok_count"),
        ({"result": [{**ROW, "measurement_count": "20"}]}, "bad measurement_count"),
        ({"result": [{**ROW, "failure_count": 21}]}, "more failures than measurements"),
        ({"result": [{k: v for k, v in ROW.items() if k != "test_name"}]}, "without test_name"),
    ],
)
def test_parse_rejects_wrong_shapes(payload: object, reason: str) -> None:
    with pytest.raises(OoniError, match=reason):
        parse_day_counts(payload)


def test_parse_accepts_hour_stamps_and_round_trips_rows() -> None:
    counts = parse_day_counts(
        {"result": [{**ROW, "measurement_start_day": "2026-11-27T00:00:00Z"}]}
    )
    assert counts == [DayCount(D("2026-11-27"), "signal", 3, 1, 2, 14, 20)]
    assert parse_day_counts({"result": [c.as_row() for c in counts]}) == counts
    sample = parse_day_counts(load_fixture("aggregation_sample"))
    assert parse_day_counts({"result": [c.as_row() for c in sample]}) == sample


@pytest.mark.parametrize(("asn", "expected"), [(12389, 12389), ("AS8359", 8359), ("3216", 3216)])
def test_network_rows_accept_asn_forms(asn: object, expected: int) -> None:
    row = {**ROW, "probe_asn": asn}
    [count] = parse_network_counts({"result": [row]}, "signal")
    assert count == NetworkDayCount(D("2026-11-27"), "signal", expected, 3, 1, 2, 14, 20)
    assert parse_network_counts({"result": [count.as_row()]}, "signal") == [count]


def test_network_rows_reject_a_bad_asn() -> None:
    with pytest.raises(OoniError, match="bad probe_asn"):
        parse_network_counts({"result": [{**ROW, "probe_asn": "ASX"}]}, "signal")


def test_window_is_thirty_days_with_until_exclusive() -> None:
    assert window(TODAY) == (D("2026-10-30"), D("2026-11-29"))
    assert window(TODAY, 7) == (D("2026-11-22"), D("2026-11-29"))


def _days(first: str, last: str) -> set[date]:
    start = D(first)
    return {start + timedelta(days=i) for i in range((D(last) - start).days + 1)}


@pytest.mark.parametrize(
    ("cached", "since"),
    [
        pytest.param(set(), "2026-10-30", id="cold-start-fetches-the-window"),
        pytest.param(_days("2026-10-30", "2026-11-21"), "2026-11-22", id="warm-fetches-a-week"),
        pytest.param(_days("2026-10-30", "2026-11-28"), "2026-11-22", id="recent-always-again"),
        pytest.param(_days("2026-10-25", "2026-11-10"), "2026-11-11", id="hole-after-cache"),
        pytest.param(_days("2026-11-01", "2026-11-21"), "2026-10-30", id="oldest-day-missing"),
    ],
)
def test_refetch_range(cached: set[date], since: str) -> None:
    assert refetch_range(cached, TODAY) == (D(since), UNTIL)


def test_closed_days_are_those_older_than_a_week() -> None:
    assert closed_days(D("2026-11-18"), UNTIL, TODAY) == _days("2026-11-18", "2026-11-21")
    assert closed_days(D("2026-11-22"), UNTIL, TODAY) == set()


def test_merge_counts_fresh_wins_its_range_and_old_days_fall_out() -> None:
    def count(day: str, n: int) -> DayCount:
        return DayCount(D(day), "signal", 0, 0, 0, n, n)

    cached = [count("2026-10-29", 1), count("2026-11-20", 2), count("2026-11-23", 3)]
    cached.append(count("2026-11-24", 4))
    fresh = [count("2026-11-23", 30), count("2026-11-25", 50)]
    merged = merge_counts(cached, fresh, D("2026-11-22"), SINCE)
    assert merged == [count("2026-11-20", 2), count("2026-11-23", 30), count("2026-11-25", 50)]

"""When digests are due, as a pure function of now, the chat's clock and its zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.schedule import backoff_delay, next_digest_at, parse_clock


@pytest.mark.parametrize(
    ("now", "clock", "zone", "expected"),
    [
        ("2026-11-28T05:59:00+00:00", "09:00", "Europe/Moscow", "2026-11-28T06:00:00+00:00"),
        ("2026-11-28T06:00:00+00:00", "09:00", "Europe/Moscow", "2026-11-29T06:00:00+00:00"),
        ("2026-11-28T23:30:00+00:00", "07:00", "Asia/Tehran", "2026-11-29T03:30:00+00:00"),
        ("2026-11-28T12:00:00+00:00", "09:00", "UTC", "2026-11-29T09:00:00+00:00"),
        # New York springs forward on 8 March 2026: 09:00 is then UTC-4.
        ("2026-03-08T06:00:00+00:00", "09:00", "America/New_York", "2026-03-08T13:00:00+00:00"),
        # Berlin has no 02:30 on 29 March 2026: the digest comes at 03:30, not a day late.
        ("2026-03-29T00:30:00+00:00", "02:30", "Europe/Berlin", "2026-03-29T01:30:00+00:00"),
        # ... and an autumn 02:30 that happens twice is sent once, at the first one.
        ("2026-10-25T00:00:00+00:00", "02:30", "Europe/Berlin", "2026-10-25T00:30:00+00:00"),
    ],
)
def test_next_digest_is_at_the_local_clock_time(
    now: str, clock: str, zone: str, expected: str
) -> None:
    got = next_digest_at(datetime.fromisoformat(now), parse_clock(clock), ZoneInfo(zone))
    assert got == datetime.fromisoformat(expected)


@pytest.mark.parametrize("text", ["9", "25:00", "09:60", "nine", "09:00:00", ""])
def test_bad_clock_times_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="time of day"):
        parse_clock(text)


@pytest.mark.parametrize(
    ("errors", "expected"), [(0, 0.0), (1, 60.0), (2, 120.0), (5, 960.0), (40, 86400.0)]
)
def test_backoff_doubles_up_to_the_cap(errors: int, expected: float) -> None:
    assert backoff_delay(errors, 60.0, 86400.0) == expected

"""When things are due: digest times in a chat's zone, backoff, leases. Pure functions of now."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


def parse_clock(text: str) -> time:
    """``"09:00"`` → 09:00; raises ValueError for anything but HH:MM on a 24-hour clock."""
    parts = text.strip().split(":")
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() for p in parts):
        raise ValueError(f"not a time of day: {text!r} (write it like 09:00)")
    hour, minute = int(parts[0]), int(parts[1])
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ValueError(f"not a time of day: {text!r} (write it like 09:00)")
    return time(hour, minute)


def next_digest_at(now: datetime, clock: time, zone: ZoneInfo) -> datetime:
    """The next moment after ``now`` (aware) when the local clock in ``zone`` shows ``clock``."""
    local_now = now.astimezone(zone)
    candidate = datetime.combine(local_now.date(), clock, tzinfo=zone)
    for _ in range(3):
        # Round-trip through UTC to settle DST gaps (a non-existent 02:30 moves forward).
        settled = candidate.astimezone(ZoneInfo("UTC")).astimezone(zone)
        if settled > local_now:
            return settled.astimezone(ZoneInfo("UTC"))
        candidate = datetime.combine(candidate.date() + timedelta(days=1), clock, tzinfo=zone)
    raise AssertionError("unreachable: a day always has a next occurrence")


def backoff_delay(errors: int, base: float, cap: float) -> float:
    """Exponential backoff after ``errors`` consecutive failures: base, 2·base, 4·base … ≤ cap."""
    if errors <= 0:
        return 0.0
    return float(min(cap, base * (2 ** min(errors - 1, 30))))

"""Blocking episodes from OONI day counts: when to alert, when to call it resolved (pure).

Per country and app, a day's anomaly rate is (anomaly + confirmed) / (measurements -
failures). Each day is classified:

- *high*: at least ``min_measurements`` usable measurements, rate at least ``min_rate``,
  and at least ``min_networks`` networks whose own rate is at least ``min_rate``. Counting
  networks that show the anomaly (not merely networks that tested) is what keeps one ISP,
  or one broken probe carrying most of the measurements, from starting an alert.
- *clear*: enough usable measurements and a rate under ``min_rate``.
- *unknown*: everything else: a missing day, too few measurements, or a high rate seen on
  fewer than ``min_networks`` networks.

Unknown days are neither blocked nor clear: they never count towards a run or towards a
resolution, and they do not break either. A run may skip at most ``MAX_GAP_DAYS`` unknown
days in a row, and its last high day must be at most that many days before ``today``, so
an old burst never starts an alert after the data dried up (a shutdown empties the data).

An alert starts when the high days ending at the latest evidence number at least
``days_running``, each at least ``ratio`` times the median rate of the 7 calendar days
before the run (at least ``MIN_BASELINE_DAYS`` of them measured). The earliest start that
passes is reported as ``since``. A chronic block (rate always high) has a high median and
never alerts. An open episode is resolved when its last ``days_clear`` known days after
``since`` are all clear. One alert per episode: while a state is open, no new alert.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from bot.ooni import MESSENGER_TESTS, DayCount, NetworkDayCount, OoniSettings

MAX_GAP_DAYS = 2
"""Unknown days a run may skip in a row (and the most days its evidence may lag today)."""
BASELINE_DAYS = 7
MIN_BASELINE_DAYS = 3
"""Measured days needed in the 7-day baseline; with fewer there is no "before" to compare."""
_EPSILON = 1e-9
"""So that 0.6 counts as 3 × 0.2 despite binary floating point."""


@dataclass(frozen=True, slots=True)
class DayStat:
    """One day of one app in one country, reduced to what detection needs."""

    day: date
    rate: float
    usable: int
    networks: int
    anomalous_networks: int


@dataclass(frozen=True, slots=True)
class Figures:
    """The evidence quoted in an alert or a resolved message.

    ``day`` and the counts are the latest day of evidence; ``since`` is the first day of
    the episode; ``clear_since`` is set only when resolved (first of the clear days).
    """

    day: date
    rate: float
    usable: int
    networks: int
    anomalous_networks: int
    baseline: float
    since: date
    peak_rate: float
    clear_since: date | None = None


@dataclass(frozen=True, slots=True)
class EpisodeState:
    """An open blocking episode; absent (``None``) when there is none."""

    since: date
    alerted: date
    baseline: float
    peak_rate: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for storage."""
        return {
            "since": self.since.isoformat(),
            "alerted": self.alerted.isoformat(),
            "baseline": self.baseline,
            "peak_rate": self.peak_rate,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> EpisodeState:
        """Inverse of :meth:`as_dict`; ``KeyError``/``ValueError`` on a damaged record."""
        return cls(
            since=date.fromisoformat(raw["since"]),
            alerted=date.fromisoformat(raw["alerted"]),
            baseline=float(raw["baseline"]),
            peak_rate=float(raw["peak_rate"]),
        )


class Verdict(StrEnum):
    NONE = "none"
    ALERT = "alert"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Decision:
    """What to tell subscribers (``figures`` unless NONE) and the state to store next."""

    verdict: Verdict
    state: EpisodeState | None
    figures: Figures | None = None


class _Kind(StrEnum):
    HIGH = "high"
    CLEAR = "clear"
    UNKNOWN = "unknown"


def day_rate(anomalous: int, usable: int) -> float:
    """Anomalous share of usable measurements; 0.0 when nothing was usable."""
    return anomalous / usable if usable > 0 else 0.0


def build_series(
    day_counts: Iterable[DayCount],
    network_counts: Iterable[NetworkDayCount],
    *,
    min_rate: float = 0.5,
) -> dict[str, list[DayStat]]:
    """One country's counts as a day-sorted series per test (every messenger test a key).

    A network counts on a day when it has usable measurements; it counts as anomalous
    when its own rate is at least ``min_rate``. Days OONI has no row for are absent.
    """
    networks: dict[tuple[str, date], list[int]] = defaultdict(lambda: [0, 0])
    for net in network_counts:
        if net.usable > 0:
            entry = networks[(net.test, net.day)]
            entry[0] += 1
            if day_rate(net.anomalous, net.usable) >= min_rate:
                entry[1] += 1
    by_day: dict[str, dict[date, DayStat]] = {test: {} for test in MESSENGER_TESTS}
    for count in day_counts:
        seen, anomalous = networks.get((count.test, count.day), (0, 0))
        stat = DayStat(
            count.day, day_rate(count.anomalous, count.usable), count.usable, seen, anomalous
        )
        by_day.setdefault(count.test, {})[count.day] = stat
    return {test: [days[d] for d in sorted(days)] for test, days in by_day.items()}


def detect(
    series: Sequence[DayStat], settings: OoniSettings, state: EpisodeState | None, today: date
) -> Decision:
    """Decide for one country and app, given its day series and the open episode if any."""
    days = _upto(series, today)
    if state is None:
        figures = _find_alert(days, settings, today)
        if figures is None:
            return Decision(Verdict.NONE, None)
        opened = EpisodeState(figures.since, today, figures.baseline, figures.peak_rate)
        return Decision(Verdict.ALERT, opened, figures)
    resolved = _find_resolution(days, settings, state)
    if resolved is not None:
        return Decision(Verdict.RESOLVED, None, resolved)
    peak = max(
        (d.rate for d in days if d.day >= state.since and _kind(d, settings) is _Kind.HIGH),
        default=state.peak_rate,
    )
    if peak > state.peak_rate:
        state = replace(state, peak_rate=peak)
    return Decision(Verdict.NONE, state)


def _upto(series: Sequence[DayStat], today: date) -> list[DayStat]:
    """Days up to ``today``, sorted, one per day (the last given wins)."""
    unique = {d.day: d for d in series if d.day <= today}
    return [unique[day] for day in sorted(unique)]


def _kind(stat: DayStat, settings: OoniSettings) -> _Kind:
    if stat.usable < settings.min_measurements:
        return _Kind.UNKNOWN
    if stat.rate < settings.min_rate:
        return _Kind.CLEAR
    if stat.anomalous_networks < settings.min_networks:
        return _Kind.UNKNOWN
    return _Kind.HIGH


def _latest_run(days: Sequence[DayStat], settings: OoniSettings, today: date) -> list[DayStat]:
    """High days ending at the latest evidence, skipping short stretches of unknown days."""
    run: list[DayStat] = []
    for stat in reversed(days):
        kind = _kind(stat, settings)
        if kind is _Kind.UNKNOWN:
            continue
        if kind is _Kind.CLEAR:
            break
        after = run[-1].day if run else today + timedelta(days=1)
        if (after - stat.day).days > MAX_GAP_DAYS + 1:
            break
        run.append(stat)
    run.reverse()
    return run


def _baseline(days: Sequence[DayStat], start: date) -> float | None:
    """Median rate of the measured days among the 7 before ``start``; None if too few."""
    first = start - timedelta(days=BASELINE_DAYS)
    rates = [d.rate for d in days if first <= d.day < start and d.usable > 0]
    if len(rates) < MIN_BASELINE_DAYS:
        return None
    return statistics.median(rates)


def _find_alert(days: Sequence[DayStat], settings: OoniSettings, today: date) -> Figures | None:
    run = _latest_run(days, settings, today)
    for i, start in enumerate(run):
        tail = run[i:]
        if len(tail) < settings.days_running:
            return None
        baseline = _baseline(days, start.day)
        if baseline is None:
            continue
        if all(d.rate + _EPSILON >= settings.ratio * baseline for d in tail):
            last = tail[-1]
            return Figures(
                day=last.day,
                rate=last.rate,
                usable=last.usable,
                networks=last.networks,
                anomalous_networks=last.anomalous_networks,
                baseline=baseline,
                since=start.day,
                peak_rate=max(d.rate for d in tail),
            )
    return None


def _find_resolution(
    days: Sequence[DayStat], settings: OoniSettings, state: EpisodeState
) -> Figures | None:
    need = max(settings.days_clear, 1)
    known = [d for d in days if d.day > state.since and d.usable >= settings.min_measurements]
    recent = known[-need:]
    if len(recent) < need or any(d.rate >= settings.min_rate for d in recent):
        return None
    last = recent[-1]
    return Figures(
        day=last.day,
        rate=last.rate,
        usable=last.usable,
        networks=last.networks,
        anomalous_networks=last.anomalous_networks,
        baseline=state.baseline,
        since=state.since,
        peak_rate=state.peak_rate,
        clear_since=recent[0].day,
    )

"""Detection of blocking episodes on daily rate series, and the alert texts they produce."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest

from bot.alerts_text import alert_text, decision_text, explorer_url, resolved_text
from bot.detect import (
    DayStat,
    Decision,
    EpisodeState,
    Figures,
    Verdict,
    build_series,
    detect,
)
from bot.ooni import DayCount, NetworkDayCount, OoniSettings
from tests.fakes.ooni import scenario_series

SETTINGS = OoniSettings()
START = date(2026, 11, 1)
QUIET = [0.04] * 7


def day(i: int) -> date:
    return START + timedelta(days=i)


def series(
    rates: Sequence[float | None],
    *,
    usable: int = 100,
    networks: int = 5,
    anomalous: int | None = None,
    thin: Sequence[int] = (),
) -> list[DayStat]:
    """Day i gets rates[i]; None is a day without data; ``thin`` days have 10 usable tests."""
    out = []
    for i, rate in enumerate(rates):
        if rate is None:
            continue
        bad = anomalous if anomalous is not None else (networks if rate >= 0.5 else 0)
        out.append(DayStat(day(i), rate, 10 if i in thin else usable, networks, bad))
    return out


def run(rates: Sequence[float | None], **kw: Any) -> Decision:
    """Detect with no open episode, ``today`` being the last day of ``rates``."""
    return detect(series(rates, **kw), SETTINGS, None, day(len(rates) - 1))


@pytest.mark.parametrize(
    ("rates", "kw", "since"),
    [
        pytest.param([*QUIET, 0.8, 0.85], {}, 7, id="two-days-running"),
        pytest.param([*QUIET, 0.45, 0.48], {}, None, id="below-threshold"),
        pytest.param([*QUIET, 0.04, 0.9], {}, None, id="one-day-only"),
        pytest.param([0.3] * 7 + [0.6, 0.7], {}, None, id="ratio-not-met"),
        pytest.param([0.2] * 7 + [0.6, 0.6], {}, 7, id="ratio-exactly-met"),
        pytest.param([0.95] * 12, {}, None, id="chronic-block-never-alerts"),
        pytest.param([*QUIET, 0.8, 0.85], {"usable": 15}, None, id="too-few-measurements"),
        pytest.param([*QUIET, 0.8, 0.85], {"thin": (8,)}, None, id="second-day-too-thin"),
        pytest.param([*QUIET, 0.8, 0.85], {"networks": 1}, None, id="one-network-tested"),
        pytest.param([*QUIET, 0.8, 0.85], {"anomalous": 1}, None, id="one-network-anomalous"),
        pytest.param([*QUIET, 0.8, None, 0.85], {}, 7, id="missing-day-inside-run"),
        pytest.param([*QUIET, 0.8, None, None, None, 0.85], {}, None, id="long-gap-breaks-run"),
        pytest.param([*QUIET, 0.8, 0.85, None, None, None], {}, None, id="stale-run"),
        pytest.param([*QUIET, 0.8, 0.85, None, None], {}, 7, id="recent-days-not-in-yet"),
        pytest.param([*QUIET, 0.8, 0.85, 0.1], {}, None, id="already-clear-again"),
        pytest.param([None] * 5 + [0.04, 0.04, 0.8, 0.85], {}, None, id="no-baseline"),
        pytest.param([0.18] * 7 + [0.52, 0.9, 0.9], {}, 8, id="since-first-day-passing-ratio"),
        pytest.param([*QUIET, 0.8, 0.8, 0.9, 0.9], {}, 7, id="long-run-since-its-start"),
    ],
)
def test_alert_rules(rates: list[float | None], kw: dict[str, Any], since: int | None) -> None:
    decision = run(rates, **kw)
    if since is None:
        assert decision == Decision(Verdict.NONE, None)
        return
    assert decision.verdict is Verdict.ALERT
    assert decision.figures is not None and decision.state is not None
    assert decision.figures.since == day(since)
    assert decision.state.since == day(since)


def test_alert_figures_quote_the_latest_day_and_the_baseline() -> None:
    stats = [
        *series([*QUIET, 0.8]),
        DayStat(day(8), 0.78, 412, 6, 5),
    ]
    decision = detect(stats, SETTINGS, None, day(8))
    assert decision.figures == Figures(
        day=day(8),
        rate=0.78,
        usable=412,
        networks=6,
        anomalous_networks=5,
        baseline=0.04,
        since=day(7),
        peak_rate=0.8,
    )


def test_days_after_today_are_ignored() -> None:
    assert run([*QUIET, 0.8]).verdict is Verdict.NONE
    ahead = series([*QUIET, 0.8, 0.9])
    assert detect(ahead, SETTINGS, None, day(7)).verdict is Verdict.NONE


def replay(rates: Sequence[float | None], **kw: Any) -> list[tuple[Verdict, int]]:
    """Detect day after day as the bot would, carrying the state; (verdict, day index)."""
    stats = series(rates, **kw)
    state: EpisodeState | None = None
    events: list[tuple[Verdict, int]] = []
    for i in range(len(rates)):
        decision = detect([s for s in stats if s.day <= day(i)], SETTINGS, state, day(i))
        if decision.verdict is not Verdict.NONE:
            events.append((decision.verdict, i))
        state = decision.state
    return events


@pytest.mark.parametrize(
    ("rates", "kw", "events"),
    [
        pytest.param([*QUIET, *[0.8] * 10], {}, [(Verdict.ALERT, 8)], id="one-alert-per-episode"),
        pytest.param(
            [*QUIET, 0.8, 0.9, 0.9, 0.1, 0.05],
            {},
            [(Verdict.ALERT, 8), (Verdict.RESOLVED, 11)],
            id="resolved-after-two-days-under",
        ),
        pytest.param(
            [*QUIET, 0.8, 0.9, 0.9, 0.1, 0.9, 0.1],
            {},
            [(Verdict.ALERT, 8)],
            id="one-clear-day-is-not-enough",
        ),
        pytest.param(
            [*QUIET, 0.8, 0.9, None, None, None, None, None],
            {},
            [(Verdict.ALERT, 8)],
            id="missing-days-do-not-resolve",
        ),
        pytest.param(
            [*QUIET, 0.8, 0.9, 0.1, None, 0.1],
            {},
            [(Verdict.ALERT, 8), (Verdict.RESOLVED, 11)],
            id="missing-day-between-clear-days",
        ),
        pytest.param(
            [*QUIET, 0.8, 0.9, 0.1, 0.1],
            {"thin": (9, 10)},
            [(Verdict.ALERT, 8)],
            id="thin-clear-days-do-not-resolve",
        ),
        pytest.param(
            [*QUIET, 0.8, 0.9, 0.1, 0.1, *QUIET, 0.8, 0.85],
            {},
            [(Verdict.ALERT, 8), (Verdict.RESOLVED, 10), (Verdict.ALERT, 19)],
            id="a-new-episode-alerts-again",
        ),
    ],
)
def test_episodes(
    rates: list[float | None], kw: dict[str, Any], events: list[tuple[Verdict, int]]
) -> None:
    assert replay(rates, **kw) == events


def test_resolved_figures_and_peak_tracked_while_open() -> None:
    stats = series([*QUIET, 0.7, 0.75])
    opened = detect(stats, SETTINGS, None, day(8))
    assert opened.state is not None
    stats += series([*QUIET, 0.7, 0.75, 0.95])[-1:]
    still = detect(stats, SETTINGS, opened.state, day(9))
    assert still.verdict is Verdict.NONE
    assert still.state is not None and still.state.peak_rate == 0.95
    stats += [DayStat(day(10), 0.2, 90, 5, 0), DayStat(day(11), 0.03, 80, 4, 0)]
    resolved = detect(stats, SETTINGS, still.state, day(11))
    assert resolved.verdict is Verdict.RESOLVED and resolved.state is None
    assert resolved.figures == Figures(
        day=day(11),
        rate=0.03,
        usable=80,
        networks=4,
        anomalous_networks=0,
        baseline=0.04,
        since=day(7),
        peak_rate=0.95,
        clear_since=day(10),
    )


def test_episode_state_round_trips() -> None:
    state = EpisodeState(since=day(3), alerted=day(4), baseline=0.04, peak_rate=0.9)
    assert EpisodeState.from_dict(state.as_dict()) == state


def test_build_series_rates_networks_and_gaps() -> None:
    d1, d2 = day(0), day(2)
    daily = [
        DayCount(d1, "whatsapp", anomaly=60, confirmed=10, failure=20, ok=10, measurements=100),
        DayCount(d2, "whatsapp", anomaly=0, confirmed=0, failure=5, ok=0, measurements=5),
        DayCount(d1, "telegram", anomaly=1, confirmed=0, failure=0, ok=9, measurements=10),
    ]
    nets = [
        NetworkDayCount(d1, "whatsapp", 12389, 50, 10, 10, 0, 70),
        NetworkDayCount(d1, "whatsapp", 8359, 9, 0, 5, 11, 25),
        NetworkDayCount(d1, "whatsapp", 3216, 0, 0, 5, 0, 5),
        NetworkDayCount(d2, "whatsapp", 3216, 0, 0, 5, 0, 5),
    ]
    got = build_series(daily, nets)
    assert list(got) == ["telegram", "whatsapp", "signal", "facebook_messenger"]
    assert got["whatsapp"] == [
        DayStat(d1, 70 / 80, 80, networks=2, anomalous_networks=1),
        DayStat(d2, 0.0, 0, networks=0, anomalous_networks=0),
    ]
    assert got["telegram"] == [DayStat(d1, 0.1, 10, 0, 0)]
    assert got["signal"] == []


# The flagged results on each scenario fixture, replayed day by day as the bot would.
FLAGGED = {
    "quiet_month": {},
    "sudden_block": {
        "telegram": [
            ("alert", "2026-11-06", "2026-11-05"),
            ("resolved", "2026-11-14", "2026-11-05"),
        ],
        "whatsapp": [("alert", "2026-11-21", "2026-11-20")],
    },
    "gradual_throttle": {"telegram": [("alert", "2026-11-23", "2026-11-22")]},
    "noisy_network": {},
    "late_data": {"signal": [("alert", "2026-11-27", "2026-11-26")]},
    "missing_days": {"facebook_messenger": [("alert", "2026-11-24", "2026-11-22")]},
}


@pytest.mark.parametrize("fixture", sorted(FLAGGED))
def test_fixture_replay_flags(fixture: str) -> None:
    by_test, today = scenario_series(fixture)
    flagged = {}
    for test, stats in by_test.items():
        state: EpisodeState | None = None
        events = []
        current = today - timedelta(days=29)
        while current <= today:
            decision = detect(stats, SETTINGS, state, current)
            if decision.figures is not None:
                events.append(
                    (
                        decision.verdict.value,
                        current.isoformat(),
                        decision.figures.since.isoformat(),
                    )
                )
            state = decision.state
            current += timedelta(days=1)
        if events:
            flagged[test] = events
    assert flagged == FLAGGED[fixture]


def test_noisy_network_is_high_but_seen_on_one_network_only() -> None:
    by_test, _ = scenario_series("noisy_network")
    last = by_test["whatsapp"][-1]
    assert last.rate > 0.6 and last.networks == 4 and last.anomalous_networks == 1


FIG = Figures(
    day=date(2026, 11, 21),
    rate=0.78,
    usable=412,
    networks=6,
    anomalous_networks=5,
    baseline=0.04,
    since=date(2026, 11, 20),
    peak_rate=0.81,
)


def test_alert_text_english() -> None:
    text = alert_text(FIG, "RU", "whatsapp", "en")
    assert text.startswith(
        "⚠️ <b>RU · WhatsApp</b>: 78% of 412 OONI tests anomalous on 2026-11-21 "
        "(median of the 7 days before: 4%), 5 of 6 networks, since 2026-11-20."
    )
    assert text.endswith("OONI Explorer</a> · Data: OONI (CC BY-NC-SA 4.0)")
    url = explorer_url("RU", "whatsapp", date(2026, 11, 13), date(2026, 11, 22))
    assert url.replace("&", "&amp;") in text


def test_alert_text_russian_with_number_agreement() -> None:
    text = alert_text(FIG, "RU", "whatsapp", "ru")
    assert "аномальны 78% из 412 тестов OONI за 2026-11-21" in text
    assert "5 из 6 сетей, с 2026-11-20." in text
    assert text.endswith("Данные: OONI (CC BY-NC-SA 4.0)")
    one = alert_text(replace(FIG, usable=21, networks=21), "RU", "signal", "ru")
    assert "из 21 теста" in one and "из 21 сети" in one


def test_resolved_text_both_languages() -> None:
    fig = replace(FIG, rate=0.03, usable=380, clear_since=date(2026, 11, 27))
    en = resolved_text(fig, "RU", "facebook_messenger", "en")
    assert en.startswith("✅ <b>RU · Facebook Messenger</b>: back to normal: 3% of 380 OONI tests")
    assert "low since 2026-11-27 (peak 81%, anomalies since 2026-11-20)" in en
    ru = resolved_text(fig, "RU", "facebook_messenger", "ru")
    assert "снова в норме" in ru and "пик 81%" in ru and "Данные: OONI" in ru


def test_texts_escape_html_and_decision_text_picks_the_kind() -> None:
    text = alert_text(FIG, "R<U", "new&test", "en")
    assert "R&lt;U · new&amp;test" in text and "<U" not in text
    assert decision_text(Decision(Verdict.NONE, None), "RU", "whatsapp") is None
    alert = Decision(Verdict.ALERT, None, FIG)
    assert decision_text(alert, "RU", "whatsapp", "ru") == alert_text(FIG, "RU", "whatsapp", "ru")

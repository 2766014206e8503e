"""Texts of OONI blocking alerts and resolved notices, in Telegram HTML, English and Russian."""

from __future__ import annotations

from datetime import date, timedelta
from html import escape
from typing import Literal
from urllib.parse import urlencode

from bot.detect import Decision, Figures, Verdict

Lang = Literal["en", "ru"]

APP_NAMES: dict[str, str] = {
    "telegram": "Telegram",
    "whatsapp": "WhatsApp",
    "signal": "Signal",
    "facebook_messenger": "Facebook Messenger",
}
EXPLORER_MAT = "https://explorer.ooni.org/chart/mat"
CREDIT: dict[str, str] = {
    "en": "Data: OONI (CC BY-NC-SA 4.0)",
    "ru": "Данные: OONI (CC BY-NC-SA 4.0)",
}
_BASELINE_DAYS_SHOWN = 7


def app_name(test: str) -> str:
    """Display name of an OONI test name (``facebook_messenger`` → Facebook Messenger)."""
    return APP_NAMES.get(test, test)


def explorer_url(country: str, test: str, since: date, until: date) -> str:
    """OONI Explorer's chart of daily results per network for ``[since, until)``."""
    query = {
        "probe_cc": country.upper(),
        "test_name": test,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "axis_x": "measurement_start_day",
        "axis_y": "probe_asn",
        "time_grain": "day",
    }
    return f"{EXPLORER_MAT}?{urlencode(query)}"


def alert_text(figures: Figures, country: str, test: str, lang: Lang = "en") -> str:
    """The alert: rate, tests, baseline, networks, since-date, Explorer link and credit."""
    head = _head("⚠️", country, test)
    rate, median = _pct(figures.rate), _pct(figures.baseline)
    nets, seen = figures.anomalous_networks, figures.networks
    day, since = figures.day.isoformat(), figures.since.isoformat()
    if lang == "ru":
        body = (
            f"аномальны {rate} из {figures.usable} {_ru_of(figures.usable, 'теста', 'тестов')} "
            f"OONI за {day} (медиана за 7 дней до начала сбоя — {median}), "
            f"{nets} из {seen} {_ru_of(seen, 'сети', 'сетей')}, с {since}."
        )
    else:
        body = (
            f"{rate} of {figures.usable} OONI tests anomalous on {day} "
            f"(median of the 7 days before: {median}), {nets} of {seen} networks, since {since}."
        )
    return f"{head}: {body}\n{_footer(figures, country, test, lang)}"


def resolved_text(figures: Figures, country: str, test: str, lang: Lang = "en") -> str:
    """The all-clear: latest rate, since when under the threshold, peak and start."""
    head = _head("✅", country, test)
    rate, peak = _pct(figures.rate), _pct(figures.peak_rate)
    day, since = figures.day.isoformat(), figures.since.isoformat()
    clear = (figures.clear_since or figures.day).isoformat()
    if lang == "ru":
        body = (
            f"снова в норме: аномальны {rate} из {figures.usable} "
            f"{_ru_of(figures.usable, 'теста', 'тестов')} OONI за {day}, "
            f"низкий уровень с {clear} (пик {peak}, аномалии с {since})."
        )
    else:
        body = (
            f"back to normal: {rate} of {figures.usable} OONI tests anomalous on {day}, "
            f"low since {clear} (peak {peak}, anomalies since {since})."
        )
    return f"{head}: {body}\n{_footer(figures, country, test, lang)}"


def decision_text(decision: Decision, country: str, test: str, lang: Lang = "en") -> str | None:
    """The message a decision calls for, or None when there is nothing to say."""
    if decision.figures is None:
        return None
    if decision.verdict is Verdict.ALERT:
        return alert_text(decision.figures, country, test, lang)
    if decision.verdict is Verdict.RESOLVED:
        return resolved_text(decision.figures, country, test, lang)
    return None


def _head(mark: str, country: str, test: str) -> str:
    return f"{mark} <b>{escape(country.upper())} · {escape(app_name(test))}</b>"


def _footer(figures: Figures, country: str, test: str, lang: Lang) -> str:
    since = figures.since - timedelta(days=_BASELINE_DAYS_SHOWN)
    url = explorer_url(country, test, since, figures.day + timedelta(days=1))
    credit = CREDIT["ru" if lang == "ru" else "en"]
    return f'<a href="{escape(url, quote=True)}">OONI Explorer</a> · {escape(credit)}'


def _pct(rate: float) -> str:
    return f"{round(rate * 100)}%"


def _ru_of(n: int, genitive_one: str, genitive_many: str) -> str:
    """Noun after «из N»: «из 21 теста», «из 412 тестов»."""
    return genitive_one if n % 10 == 1 and n % 100 != 11 else genitive_many

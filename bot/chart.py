"""The /status chart: 30 days of messenger anomaly rates in one country, as a PNG.

The PNG is always ``WIDTH_PX`` × ``HEIGHT_PX`` (1000 × 500). Rendering uses a bare
``matplotlib.figure.Figure`` on an Agg canvas, never pyplot, so it holds no global state and
can run in a worker thread (``asyncio.to_thread``); matplotlib is imported on first use,
not when this module is imported.
"""

from __future__ import annotations

import io
import statistics
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Literal

from bot.alerts_text import CREDIT, app_name
from bot.detect import DayStat
from bot.ooni import MESSENGER_TESTS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

WIDTH_PX = 1000
HEIGHT_PX = 500
DPI = 100
TICK_EVERY_DAYS = 5
COLORS: dict[str, str] = {
    "telegram": "#229ED9",
    "whatsapp": "#25D366",
    "signal": "#2C3E50",
    "facebook_messenger": "#A033FF",
}
_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "{country}: messenger tests with anomalies, last {days} days (OONI)",
        "ylabel": "anomalous tests, %",
        "threshold": "alert threshold {pct}%",
        "footer": "{credit} · updated {today} · gaps: no measurements",
        "date": "%b %d",
    },
    "ru": {
        "title": "{country}: тесты мессенджеров с аномалиями, {days} дн. (OONI)",
        "ylabel": "тесты с аномалиями, %",
        "threshold": "порог оповещения {pct}%",
        "footer": "{credit} · обновлено {today} · разрывы: нет измерений",
        "date": "%d.%m",
    },
}


def _tests(series: Mapping[str, Sequence[DayStat]]) -> list[str]:
    return [*MESSENGER_TESTS, *sorted(t for t in series if t not in MESSENGER_TESTS)]


def build_figure(
    country: str,
    series: Mapping[str, Sequence[DayStat]],
    today: date,
    *,
    days: int = 30,
    threshold: float = 0.5,
    lang: Literal["en", "ru"] = "en",
) -> Figure:
    """The chart as a Figure: one line per app (label = app name) and the threshold line."""
    from matplotlib.figure import Figure

    texts = _TEXTS.get(lang, _TEXTS["en"])
    axis_days = [today - timedelta(days=days - 1 - i) for i in range(days)]
    xs = list(range(days))
    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    ax = fig.add_axes((0.07, 0.15, 0.70, 0.75))
    for test in _tests(series):
        by_day = {s.day: s for s in series.get(test, ()) if s.usable > 0}
        values = [by_day[d].rate * 100 if d in by_day else float("nan") for d in axis_days]
        ax.plot(
            xs,
            values,
            label=app_name(test),
            color=COLORS.get(test),
            marker="o",
            markersize=3,
            linewidth=1.8,
        )
    pct = round(threshold * 100)
    ax.axhline(
        threshold * 100,
        color="#C0392B",
        linestyle="--",
        linewidth=1.2,
        label=texts["threshold"].format(pct=pct),
    )
    ax.set_ylim(0, 100)
    ax.set_xlim(-0.5, days - 0.5)
    ticks = xs[::-TICK_EVERY_DAYS][::-1]
    ax.set_xticks(ticks, labels=[axis_days[i].strftime(texts["date"]) for i in ticks])
    ax.set_ylabel(texts["ylabel"])
    ax.grid(True, alpha=0.3)
    ax.set_title(texts["title"].format(country=country.upper(), days=days), loc="left")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    credit = CREDIT["ru" if lang == "ru" else "en"]
    fig.text(
        0.07,
        0.03,
        texts["footer"].format(credit=credit, today=today.isoformat()),
        fontsize=8,
        color="#555555",
    )
    return fig


def figure_png(fig: Figure) -> bytes:
    """Render a figure built by :func:`build_figure` to PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)  # attaches itself to the figure: no pyplot, no global backend
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def render_status_chart(
    country: str,
    series: Mapping[str, Sequence[DayStat]],
    today: date,
    *,
    days: int = 30,
    threshold: float = 0.5,
    lang: Literal["en", "ru"] = "en",
) -> bytes:
    """PNG of the last ``days`` days of anomaly rates; CPU-bound, run it in a thread."""
    fig = build_figure(country, series, today, days=days, threshold=threshold, lang=lang)
    return figure_png(fig)


def status_summary(
    series: Mapping[str, Sequence[DayStat]],
    lang: Literal["en", "ru"] = "en",
    *,
    min_rate: float = 0.5,
) -> list[str]:
    """One plain line per app: latest measured day, its rate and counts, the period median."""
    lines = []
    for test in _tests(series):
        measured = [s for s in series.get(test, ()) if s.usable > 0]
        name = app_name(test)
        if not measured:
            lines.append(
                f"{name}: нет данных OONI за период"
                if lang == "ru"
                else f"{name}: no OONI data in this period"
            )
            continue
        last = max(measured, key=lambda s: s.day)
        median = round(statistics.median(s.rate for s in measured) * 100)
        rate = round(last.rate * 100)
        mark = "⚠️ " if last.rate >= min_rate else ""
        if lang == "ru":
            lines.append(
                f"{mark}{name}: аномальны {rate}% тестов за {last.day.isoformat()} "
                f"(тестов: {last.usable}, сетей: {last.networks}); медиана за период {median}%"
            )
        else:
            lines.append(
                f"{mark}{name}: {rate}% of {last.usable} tests anomalous on "
                f"{last.day.isoformat()} ({last.networks} networks); period median {median}%"
            )
    return lines

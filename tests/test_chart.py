"""The /status chart: a valid PNG of the fixed size, drawing the four apps and the threshold."""

from __future__ import annotations

import asyncio
import math
import struct
import zlib
from datetime import date
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from matplotlib.lines import Line2D

from bot.chart import HEIGHT_PX, WIDTH_PX, build_figure, render_status_chart, status_summary
from bot.detect import DayStat
from tests.fakes.ooni import scenario_series, write_sample_chart

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LABELS = ["Telegram", "WhatsApp", "Signal", "Facebook Messenger"]


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, after checking signature and chunk CRC."""
    assert png[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", png[8:16])
    assert kind == b"IHDR" and length == 13
    data = png[16:29]
    (crc,) = struct.unpack(">I", png[29:33])
    assert crc == zlib.crc32(kind + data)
    width, height = struct.unpack(">II", data[:8])
    return width, height


def ydata(line: Line2D) -> list[float]:
    return [float(y) for y in np.asarray(line.get_ydata(), dtype=float)]


def test_status_chart_is_a_png_of_the_documented_size() -> None:
    series, today = scenario_series("sudden_block")
    png = render_status_chart("RU", series, today)
    assert png_size(png) == (WIDTH_PX, HEIGHT_PX) == (1000, 500)
    assert png.endswith(b"IEND\xaeB`\x82")


def test_figure_draws_each_app_and_the_threshold() -> None:
    series, today = scenario_series("sudden_block")
    fig = build_figure("RU", series, today)
    [ax] = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines) == [*LABELS, "alert threshold 50%"]
    whatsapp = ydata(lines["WhatsApp"])
    assert len(whatsapp) == 30
    assert max(whatsapp[:21]) < 15 and min(whatsapp[21:]) > 60
    threshold = set(ydata(lines["alert threshold 50%"]))
    assert threshold == {50.0}
    assert "RU" in ax.get_title(loc="left")
    assert any("Data: OONI (CC BY-NC-SA 4.0)" in t.get_text() for t in fig.texts)


def test_missing_days_are_gaps_in_the_lines() -> None:
    series, today = scenario_series("missing_days")
    fig = build_figure("MM", series, today)
    telegram = ydata(fig.axes[0].get_lines()[0])
    missing = [i for i, y in enumerate(telegram) if math.isnan(y)]
    assert missing == [10, 11, 24, 27, 28]


def test_russian_labels() -> None:
    series, today = scenario_series("quiet_month")
    fig = build_figure("BY", series, today, lang="ru", threshold=0.4)
    ax = fig.axes[0]
    assert ax.get_lines()[-1].get_label() == "порог оповещения 40%"
    assert ax.get_title(loc="left").startswith("BY: тесты мессенджеров с аномалиями")
    assert any("Данные: OONI" in t.get_text() for t in fig.texts)


async def test_renders_in_threads_side_by_side() -> None:
    series, today = scenario_series("gradual_throttle")
    first, second = await asyncio.gather(
        asyncio.to_thread(render_status_chart, "TR", series, today),
        asyncio.to_thread(render_status_chart, "TR", series, today),
    )
    assert first == second and png_size(first) == (1000, 500)


def test_an_empty_country_still_renders() -> None:
    png = render_status_chart("ZZ", {}, date(2026, 11, 28))
    assert png_size(png) == (1000, 500)


def test_sample_chart_function_writes_a_png(tmp_path: Path) -> None:
    path = tmp_path / "status-chart-sample.png"
    assert write_sample_chart(path) == path.stat().st_size
    assert png_size(path.read_bytes()) == (1000, 500)


def stat(day: int, rate: float, usable: int = 100, networks: int = 5) -> DayStat:
    return DayStat(date(2026, 11, day), rate, usable, networks, networks if rate >= 0.5 else 0)


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        (
            "en",
            [
                "Telegram: 3% of 100 tests anomalous on 2026-11-28 (5 networks); period median 4%",
                "⚠️ WhatsApp: 78% of 412 tests anomalous on 2026-11-28 (6 networks); "
                "period median 4%",
                "Signal: no OONI data in this period",
                "Facebook Messenger: no OONI data in this period",
            ],
        ),
        (
            "ru",
            [
                "Telegram: аномальны 3% тестов за 2026-11-28 (тестов: 100, сетей: 5); "
                "медиана за период 4%",
                "⚠️ WhatsApp: аномальны 78% тестов за 2026-11-28 (тестов: 412, сетей: 6); "
                "медиана за период 4%",
                "Signal: нет данных OONI за период",
                "Facebook Messenger: нет данных OONI за период",
            ],
        ),
    ],
)
def test_status_summary_one_line_per_app(lang: Literal["en", "ru"], expected: list[str]) -> None:
    series = {
        "telegram": [stat(26, 0.05), stat(27, 0.04), stat(28, 0.03)],
        "whatsapp": [
            *(stat(d, 0.04) for d in range(22, 27)),
            stat(27, 0.8),
            stat(28, 0.78, 412, 6),
        ],
        "signal": [stat(28, 0.0, usable=0, networks=0)],
    }
    series["whatsapp"].append(stat(28, 0.78, 412, 6))
    assert status_summary(series, lang) == expected

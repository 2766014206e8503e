"""Time compose_html on 1,000 realistic events; print JSON (median and p95 ms, messages)."""

from __future__ import annotations

import json
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.digest import DigestOptions, compose_html, compose_text
from bot.models import Event, Story

END = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
START = END - timedelta(days=1)
COUNTRIES = ["RU", "IR", "CN", "TR", "IN", "PK", "ET", "MM", "BY", "KZ", ""]
APPS = ["telegram", "whatsapp", "youtube", "facebook_messenger", "signal", "vpn", "twitter", ""]
SOURCES_EN = ["OONI blog", "NetBlocks", "Access Now", "The Moscow Times", "Meduza (English)"]
SOURCES_RU = ["Роскомсвобода", "Медуза", "OpenNet", "The Bell", "Новая газета Европа"]
TITLES_EN = [
    "{regulator} restricts access to {app} in {country} after it refused to register",
    "Users in {country} report {app} calls failing as {regulator} tests new DPI rules",
    "Court in {country} orders {app} blocked over data demands & fines",
]
TITLES_RU = [
    "{regulator} ограничил доступ к {app} в стране «{country}» после отказа от регистрации",
    "Пользователи из страны «{country}» жалуются на сбои {app}: {regulator} тестирует ТСПУ",
]
SUMMARY_EN = (
    "The regulator said the service had failed to store user data locally and ignored "
    "three requests to delete banned content. Measurements by volunteers showed that "
    "connections to the service's servers were reset within seconds on major mobile ISPs."
)
SUMMARY_RU = (
    "Регулятор заявил, что сервис не хранит данные пользователей в стране и проигнорировал "
    "три требования удалить запрещённые материалы. Измерения добровольцев показали, что "
    "соединения с серверами сервиса сбрасываются за секунды у крупных мобильных операторов."
)


def build_events(count: int, seed: int = 7) -> list[Event]:
    """``count`` events of one to three stories each, half English, half Russian."""
    rng = random.Random(seed)
    events = []
    for n in range(count):
        country, app = rng.choice(COUNTRIES), rng.choice(APPS)
        stories = []
        for k in range(rng.choice([1, 1, 2, 3])):
            russian = rng.random() < 0.5
            template = rng.choice(TITLES_RU if russian else TITLES_EN)
            title = template.format(
                regulator="РКН" if russian else "Roskomnadzor",
                app=app or "VPN",
                country=country or "world",
            )
            published = END - timedelta(minutes=rng.randrange(24 * 60))
            stories.append(
                Story(
                    id=f"{n}-{k}",
                    url=f'https://news.example.org/{n}/{k}?utm=x&ref="feed"',
                    title=title,
                    text="",
                    source=rng.choice(SOURCES_RU if russian else SOURCES_EN),
                    feed_url="https://news.example.org/feed",
                    published=published,
                    fetched=published,
                    lang="ru" if russian else "en",
                    countries=(country,) if country else (),
                    apps=(app,) if app else (),
                    summary=SUMMARY_RU if russian else SUMMARY_EN,
                )
            )
        events.append(Event(cluster=f"c{n}", stories=tuple(stories)))
    return events


def _time_ms(runs: int, call: object) -> list[float]:
    assert callable(call)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _p95(samples: list[float]) -> float:
    return sorted(samples)[max(0, round(0.95 * len(samples)) - 1)]


def main(count: int = 1000, runs: int = 20) -> None:
    events = build_events(count)
    cases = {
        "html_en_country": DigestOptions("en", START, END, group_by="country"),
        "html_ru_app_moscow": DigestOptions(
            "ru", START, END, group_by="app", tz=ZoneInfo("Europe/Moscow")
        ),
        "html_en_limit_20": DigestOptions("en", START, END, limit=20),
    }
    report: dict[str, object] = {"events": count, "runs": runs}
    for name, opts in cases.items():
        messages = compose_html(events, opts)
        samples = _time_ms(runs, lambda opts=opts: compose_html(events, opts))
        report[name] = {
            "median_ms": round(statistics.median(samples), 2),
            "p95_ms": round(_p95(samples), 2),
            "messages": len(messages),
        }
    opts = cases["html_en_country"]
    samples = _time_ms(runs, lambda: compose_text(events, opts))
    report["text_en_country"] = {
        "median_ms": round(statistics.median(samples), 2),
        "p95_ms": round(_p95(samples), 2),
        "chars": len(compose_text(events, opts)),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

"""Story clustering: which stored cluster a new story joins, and which it must not."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.cluster import (
    ClusterThresholds,
    Fingerprint,
    choose_cluster,
    entity_key,
    fingerprint,
    resemblance,
    same_event,
    similarity,
    transliterate,
)
from bot.models import Story

BASE = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
PAIRS = Path(__file__).parent / "data" / "cluster_pairs.jsonl"
TH = ClusterThresholds()


def story(
    title: str,
    text: str,
    *,
    lang: str = "en",
    hours: float = 0.0,
    apps: tuple[str, ...] = (),
    countries: tuple[str, ...] = (),
    actions: tuple[str, ...] = ("blocked",),
    sid: str = "",
    cluster: str = "",
) -> Story:
    sid = sid or hashlib.sha1(f"{title}{hours}".encode()).hexdigest()[:12]
    published = BASE + timedelta(hours=hours)
    return Story(
        id=sid,
        url=f"https://example.org/{sid}",
        title=title,
        text=text,
        source="Test",
        feed_url="https://example.org/feed",
        published=published,
        fetched=published,
        lang=lang,
        apps=apps,
        countries=countries,
        actions=actions,
        cluster=cluster,
    )


def joins(a: Story, b: Story, th: ClusterThresholds = TH) -> bool:
    return same_event(a, fingerprint(a), b, fingerprint(b), th)


YT_EN = story(
    "Russia slows YouTube speeds as regulator blames Google",
    "Russia's communications regulator Roskomnadzor has slowed down YouTube on fixed-line "
    "networks, cutting download speeds by up to 70%, a senior lawmaker said on Tuesday. "
    "Alexander Khinshtein, head of the Duma's information committee, blamed Google for failing "
    "to upgrade its caching servers in Russia.",
    apps=("youtube",),
    countries=("RU",),
    actions=("throttled",),
)
YT_EN_WIRE = story(
    "Russia Slows YouTube Speeds, Blames Google",
    "MOSCOW (Reuters) - Russia's communications regulator Roskomnadzor has slowed down YouTube "
    "on fixed-line networks, cutting download speeds by up to 70%, a senior lawmaker said on "
    "Tuesday. Alexander Khinshtein, head of the Duma's information committee, blamed Google.",
    hours=3,
    apps=("youtube",),
    countries=(),
    actions=("throttled",),
)
YT_RU = story(
    "Хинштейн: скорость YouTube в России упадет на 70%",
    "Скорость загрузки YouTube на компьютерах в России может упасть еще на 70%, заявил глава "
    "комитета Госдумы по информполитике Александр Хинштейн. Ответственность за замедление он "
    "возложил на Google, который не обновляет кэширующие серверы.",
    lang="ru",
    hours=2,
    apps=("youtube",),
    countries=("RU",),
    actions=("throttled",),
)
RKN_YT = story(
    "РКН замедлил YouTube",
    "Роскомнадзор замедлил работу YouTube на территории России, сообщили в ведомстве. "
    "Пользователи жалуются на медленную загрузку видео с утра вторника.",
    lang="ru",
    apps=("youtube",),
    countries=("RU",),
    actions=("throttled",),
)
RKN_WA = story(
    "РКН замедлил WhatsApp",
    "Роскомнадзор замедлил работу WhatsApp на территории России, сообщили в ведомстве. "
    "Пользователи жалуются на медленную загрузку видео с утра вторника.",
    lang="ru",
    hours=1,
    apps=("whatsapp",),
    countries=("RU",),
    actions=("throttled",),
)
TG_IRAN = story(
    "Telegram blocked nationwide after court order",
    "Internet providers blocked Telegram nationwide on Monday after a court order, the "
    "telecommunications minister said. The messenger has about 40 million users in the country.",
    apps=("telegram",),
    countries=("IR",),
)
TG_RUSSIA = story(
    "Telegram blocked nationwide after court order",
    "Internet providers blocked Telegram nationwide on Monday after a court order, the "
    "telecommunications minister said. The messenger has about 40 million users in the country.",
    hours=2,
    apps=("telegram",),
    countries=("RU",),
)
DAGESTAN_BLOCKED = story(
    "Telegram and WhatsApp blocked in Dagestan",
    "Roskomnadzor restricted Telegram and WhatsApp in Dagestan on Sunday evening during riots "
    "at Makhachkala airport, at the request of local authorities.",
    apps=("telegram", "whatsapp"),
    countries=("RU",),
)
DAGESTAN_RESTORED = story(
    "Telegram and WhatsApp unblocked in Dagestan",
    "Roskomnadzor lifted restrictions on Telegram and WhatsApp in Dagestan on Tuesday morning, "
    "after riots at Makhachkala airport, at the request of local authorities.",
    hours=36,
    apps=("telegram", "whatsapp"),
    countries=("RU",),
    actions=("unblocked",),
)
DUROV_EN = story(
    "Roskomnadzor demands Telegram register as information distributor",
    "Roskomnadzor head Alexander Zharov said on Friday that Telegram must hand over company data "
    "for the register of information dissemination organizers. If the messenger refuses, it will "
    "be blocked, Zharov warned in an open letter to Pavel Durov.",
    apps=("telegram",),
    countries=("RU",),
    actions=("data_demand", "blocked"),
)
DUROV_RU = story(
    "Глава Роскомнадзора пригрозил заблокировать Телеграм",
    "Руководитель Роскомнадзора Александр Жаров потребовал от Телеграма предоставить сведения о "
    "компании для реестра организаторов распространения информации. В открытом письме Павлу "
    "Дурову он предупредил, что в случае отказа мессенджер будет заблокирован.",
    lang="ru",
    hours=5,
    apps=("telegram",),
    countries=("RU",),
    actions=("data_demand", "blocked"),
)


def later(s: Story, hours: float, sid: str = "") -> Story:
    """The same story published ``hours`` later (a different record)."""
    return dataclasses.replace(
        s, id=sid or f"{s.id}+{hours}", published=s.published + timedelta(hours=hours)
    )


@pytest.mark.parametrize(
    ("a", "b", "why"),
    [
        (RKN_YT, RKN_WA, "same template, different app"),
        (TG_IRAN, TG_RUSSIA, "same text, different country"),
        (DAGESTAN_BLOCKED, DAGESTAN_RESTORED, "blocked against unblocked"),
        (
            DAGESTAN_BLOCKED,
            dataclasses.replace(DAGESTAN_RESTORED, actions=("unblocked", "blocked")),
            "a restoration that also mentions the block is still a restoration",
        ),
        (RKN_YT, later(RKN_YT, 24 * 21), "same app, country and action three weeks apart"),
        (YT_EN, later(YT_RU, 24 * 20), "same event family, weeks apart, across languages"),
        (TG_IRAN, DUROV_RU, "Iran's block against Russia's data demand"),
    ],
)
def test_hard_negatives_stay_apart(a: Story, b: Story, why: str) -> None:
    assert not joins(a, b), why
    assert not joins(b, a), why


@pytest.mark.parametrize(
    ("a", "b", "why"),
    [
        (YT_EN, YT_EN_WIRE, "wire copy with a dateline and a dropped sentence"),
        (YT_EN, later(YT_EN, 30), "the same text from another outlet a day later"),
        (RKN_YT, later(RKN_YT, 1), "a Russian reprint"),
    ],
)
def test_reprints_join(a: Story, b: Story, why: str) -> None:
    fa, fb = fingerprint(a), fingerprint(b)
    assert resemblance(fa, fb) >= TH.reprint, why
    assert same_event(a, fa, b, fb, TH), why


@pytest.mark.parametrize(
    ("a", "b", "why"),
    [
        (YT_EN, YT_RU, "Khinshtein, Google, 70%: English and Russian"),
        (DUROV_EN, DUROV_RU, "Zharov's letter to Durov, inflected Russian names"),
        (YT_EN_WIRE, YT_RU, "one side has no country tag"),
    ],
)
def test_same_event_joins_across_languages(a: Story, b: Story, why: str) -> None:
    assert joins(a, b), why
    assert joins(b, a), why


@pytest.mark.parametrize(
    ("hours", "window", "expected"),
    [
        (47.9, 48.0, True),
        (48.0, 48.0, True),
        (48.0 + 1 / 60, 48.0, False),
        (30.0, 24.0, False),
        (30.0, 72.0, True),
    ],
)
def test_time_window_edge(hours: float, window: float, expected: bool) -> None:
    th = ClusterThresholds(reprint=TH.reprint, event=TH.event, window_hours=window)
    assert joins(YT_EN, later(YT_EN, hours), th) is expected
    assert joins(YT_EN, later(YT_RU, hours - 2), th) is expected


LONG = " ".join(
    f"Roskomnadzor said on day {i} that it had restricted {i * 7} more sites hosting VPN "
    f"services in region {i % 9}, citing the law on information."
    for i in range(40)
)


@pytest.mark.parametrize(
    "s",
    [
        YT_EN,
        YT_RU,
        DUROV_RU,
        story("Telegram", "", apps=("telegram",)),
        story("Long", LONG),
        story("", ""),
    ],
)
def test_fingerprint_round_trip(s: Story) -> None:
    fp = fingerprint(s)
    text = fp.dumps()
    assert "\n" not in text
    back = Fingerprint.loads(text)
    assert back == fp
    assert similarity(back, fp) == pytest.approx(similarity(fp, fp))


def test_long_texts_are_sketched_and_still_compare() -> None:
    fp = fingerprint(story("Long", LONG))
    assert not fp.complete
    assert len(fp.sketch) == 128
    assert resemblance(fp, fp) == 1.0
    assert resemblance(fp, fingerprint(YT_EN)) < 0.05
    assert len(fp.dumps()) < 2000


@pytest.mark.parametrize(
    "text",
    ["", "hello", "c1|en|1|!!!|e:drv|x", "c1|en|1|AAA=|e:drv|x", "c1|en|1||q:x|x", "c0|en|1|||"],
)
def test_fingerprint_loads_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="fingerprint"):
        Fingerprint.loads(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Роскомнадзор", "roskomnadzor"),
        ("Телеграм", "telegram"),
        ("Павел Дуров", "pavel durov"),
        ("Durov", "durov"),
    ],
)
def test_transliterate(text: str, expected: str) -> None:
    assert transliterate(text) == expected


@pytest.mark.parametrize(
    ("ru", "en"),
    [
        ("Дуровым", "Durov's"),
        ("Роскомнадзора", "Roskomnadzor"),
        ("РКН", "Roskomnadzor"),
        ("Таганского", "Tagansky"),
        ("Навальный", "Navalny"),
        ("Москве", "Moscow"),
        ("Хинштейн", "Khinshtein"),
    ],
)
def test_names_meet_across_scripts(ru: str, en: str) -> None:
    assert entity_key(ru) == entity_key(en)


def with_fp(s: Story) -> tuple[Story, Fingerprint]:
    return s, fingerprint(s)


def test_choose_cluster_picks_the_best_candidate() -> None:
    new = later(YT_EN, 4, sid="new")
    candidates = [
        with_fp(dataclasses.replace(RKN_WA, cluster="whatsapp-cluster")),
        with_fp(dataclasses.replace(YT_RU, cluster="russian-report")),
        with_fp(dataclasses.replace(YT_EN_WIRE, cluster="wire-cluster")),
        with_fp(dataclasses.replace(TG_RUSSIA, cluster="telegram-cluster")),
    ]
    assert choose_cluster(new, fingerprint(new), candidates, TH) == "wire-cluster"
    assert choose_cluster(new, fingerprint(new), candidates[:2], TH) == "russian-report"


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        ([], None),
        ([with_fp(RKN_WA), with_fp(TG_IRAN)], None),
        ([with_fp(dataclasses.replace(YT_RU, id="ru-1", cluster=""))], "ru-1"),
        ([with_fp(YT_EN)], None),  # the story itself is not a candidate
        ([with_fp(later(YT_EN_WIRE, 24 * 10))], None),  # out of the window
    ],
)
def test_choose_cluster_without_a_good_candidate(
    candidates: list[tuple[Story, Fingerprint]], expected: str | None
) -> None:
    assert choose_cluster(YT_EN, fingerprint(YT_EN), candidates, TH) == expected


def load_pairs() -> list[dict[str, Any]]:
    return [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines()]


def pair_stories(row: dict[str, Any]) -> tuple[Story, Story]:
    sides = []
    for side in ("a", "b"):
        d = row[side]
        published = datetime.fromisoformat(d["published"].replace("Z", "+00:00"))
        sides.append(
            dataclasses.replace(
                story(d["title"], d["text"], lang=d["lang"], sid=row["id"] + side),
                source=d["source"],
                published=published,
                fetched=published,
                apps=tuple(d["apps"]),
                countries=tuple(d["countries"]),
                actions=tuple(d["actions"]),
            )
        )
    return sides[0], sides[1]


def test_labelled_pairs_are_well_formed() -> None:
    rows = load_pairs()
    assert len(rows) >= 120
    assert len({r["id"] for r in rows}) == len(rows)
    kinds = {"reprint", "cross_outlet", "cross_language", "hard_negative"}
    for r in rows:
        assert r["kind"] in kinds
        assert r["same"] is (r["kind"] != "hard_negative")
        # The split is a hash of the event group, fixed before any tuning.
        group = r["id"].split("-")[0]
        expected = "tune" if hashlib.sha256(group.encode()).digest()[0] % 2 == 0 else "heldout"
        assert r["split"] == expected
    for split in ("tune", "heldout"):
        assert {r["kind"] for r in rows if r["split"] == split} == kinds


def test_heldout_precision_stays_above_target() -> None:
    predicted = []
    for row in load_pairs():
        if row["split"] != "heldout":
            continue
        a, b = pair_stories(row)
        predicted.append((joins(a, b), row["same"]))
    tp = sum(1 for p, y in predicted if p and y)
    fp = sum(1 for p, y in predicted if p and not y)
    positives = sum(1 for _, y in predicted if y)
    assert tp / (tp + fp) >= 0.9
    assert tp / positives >= 0.8  # and it still joins most of what it should

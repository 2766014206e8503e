"""Story clustering: precision and recall on the labelled pairs, and the cost of each call.

Run: ``python -m bench.cluster [--curve] [--retag]``. Prints one JSON object:

- ``tune`` / ``heldout``: precision, recall, F1 (and counts) of ``same_event`` with the
  default ``ClusterThresholds`` on each half of ``tests/data/cluster_pairs.jsonl``, overall
  and per kind (reprint, cross_outlet, cross_language, hard_negative).
- ``speed``: microseconds per ``fingerprint``, ``same_event``, ``dumps``/``loads``, and per
  ``choose_cluster`` of one new story against 300 candidates of the last 48 hours.
- ``--curve``: precision and recall on the *tuning* half for a range of ``event``
  thresholds (how the default was chosen; the held-out half is never swept).
- ``--retag``: the same figures with tags from ``bot.relevance`` instead of the labels.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.cluster import (
    ClusterThresholds,
    Fingerprint,
    choose_cluster,
    fingerprint,
    same_event,
    tag_agreement,
)
from bot.models import Story

PAIRS = Path(__file__).resolve().parent.parent / "tests" / "data" / "cluster_pairs.jsonl"
Pair = tuple[dict[str, Any], Story, Fingerprint, Story, Fingerprint]


def load_story(pid: str, d: dict[str, Any]) -> Story:
    """A Story from one side of a labelled pair."""
    published = datetime.fromisoformat(d["published"].replace("Z", "+00:00"))
    return Story(
        id=pid,
        url=f"https://example.org/{pid}",
        title=d["title"],
        text=d["text"],
        source=d["source"],
        feed_url="https://example.org/feed",
        published=published,
        fetched=published,
        lang=d["lang"],
        apps=tuple(d["apps"]),
        countries=tuple(d["countries"]),
        actions=tuple(d["actions"]),
    )


def load_pairs(retag: Callable[[Story], Story] | None = None) -> list[Pair]:
    """Every labelled pair with its stories and fingerprints."""
    pairs: list[Pair] = []
    for line in PAIRS.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        a, b = load_story(row["id"] + "a", row["a"]), load_story(row["id"] + "b", row["b"])
        if retag is not None:
            a, b = retag(a), retag(b)
        pairs.append((row, a, fingerprint(a), b, fingerprint(b)))
    return pairs


def scores(outcomes: Iterable[tuple[bool, bool]]) -> dict[str, Any]:
    """Counts, precision, recall and F1 of (predicted, labelled) outcomes."""
    tp = fp = fn = tn = 0
    for predicted, same in outcomes:
        tp += predicted and same
        fp += predicted and not same
        fn += not predicted and same
        tn += not predicted and not same
    # Precision means nothing for a group with no same-event pairs: report "rejected".
    precision = tp / (tp + fp) if tp + fp and tp + fn else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else None
    rejected = tn / (tn + fp) if tn + fp else None
    return {
        "pairs": tp + fp + fn + tn,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "precision": _round(precision),
        "recall": _round(recall),
        "f1": _round(f1),
        "rejected": _round(rejected),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def evaluate(pairs: list[Pair], split: str, th: ClusterThresholds) -> dict[str, Any]:
    """Scores of one half, overall and per kind."""
    rows = [(r, same_event(a, fa, b, fb, th)) for r, a, fa, b, fb in pairs if r["split"] == split]
    result = scores((p, r["same"]) for r, p in rows)
    kinds = sorted({r["kind"] for r, _ in rows})
    result["kinds"] = {k: scores((p, r["same"]) for r, p in rows if r["kind"] == k) for k in kinds}
    result["errors"] = sorted(r["id"] for r, p in rows if p != r["same"])
    return result


def curve(pairs: list[Pair]) -> list[dict[str, Any]]:
    """Tuning-half precision and recall as the ``event`` threshold moves."""
    base = ClusterThresholds()
    out = []
    for event in (0.1, 0.15, 0.2, 0.25, 0.3, 0.35):
        th = dataclasses.replace(base, event=event)
        s = evaluate(pairs, "tune", th)
        out.append({"event": event, "precision": s["precision"], "recall": s["recall"]})
    return out


def _per_call_us(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) / calls * 1e6


def speed(pairs: list[Pair]) -> dict[str, float]:
    """Microseconds per call of each public function, on the labelled stories."""
    th = ClusterThresholds()
    stories = [(a, fa) for _, a, fa, _, _ in pairs] + [(b, fb) for _, _, _, b, fb in pairs]
    repeat = 50

    def all_pairs() -> None:
        for _ in range(repeat):
            for _, a, fa, b, fb in pairs:
                same_event(a, fa, b, fb, th)

    # The costly path: tags agree and the times are close, so the texts are compared.
    close = [
        (a, fa, b, fb)
        for _, a, fa, b, fb in pairs
        if tag_agreement(a, b) is not None
        and abs(a.published - b.published) <= timedelta(hours=th.window_hours)
    ]

    def close_pairs() -> None:
        for _ in range(repeat):
            for a, fa, b, fb in close:
                same_event(a, fa, b, fb, th)

    # 300 candidates re-stamped into the 48 hours before each new story, as in a poll.
    rng = random.Random(7)
    now = max(s.published for s, _ in stories)
    window = [
        (dataclasses.replace(s, published=now - timedelta(hours=rng.uniform(0, 48))), fp)
        for s, fp in rng.sample(stories, 300)
    ]
    news = [(dataclasses.replace(s, published=now), fp) for s, fp in rng.sample(stories, 40)]

    def choose_all() -> None:
        for s, fp in news:
            choose_cluster(s, fp, window, th)

    texts = [fp.dumps() for _, fp in stories]
    n = len(stories)
    return {
        "same_event_us": round(_per_call_us(all_pairs, repeat * len(pairs)), 2),
        "same_event_compared_us": round(_per_call_us(close_pairs, repeat * len(close)), 2),
        "choose_cluster_300_us": round(_per_call_us(choose_all, len(news)), 1),
        "fingerprint_us": round(_per_call_us(lambda: [fingerprint(s) for s, _ in stories], n), 1),
        "dumps_us": round(_per_call_us(lambda: [fp.dumps() for _, fp in stories], n), 1),
        "loads_us": round(_per_call_us(lambda: [Fingerprint.loads(t) for t in texts], n), 1),
        "fingerprint_chars_mean": round(sum(map(len, texts)) / n),
    }


def relevance_tags() -> Callable[[Story], Story]:
    """Tags from the relevance classifier, replacing the labelled ones."""
    from bot.relevance import classify, default_vocabulary

    vocabulary = default_vocabulary()

    def retag(story: Story) -> Story:
        rel = classify(story.title, story.text, story.lang, vocabulary)
        return dataclasses.replace(
            story, apps=rel.apps, countries=rel.countries, actions=rel.actions
        )

    return retag


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--curve", action="store_true", help="sweep the tuning half")
    parser.add_argument("--retag", action="store_true", help="also score with classifier tags")
    args = parser.parse_args(argv)
    th = ClusterThresholds()
    pairs = load_pairs()
    report: dict[str, Any] = {
        "thresholds": dataclasses.asdict(th),
        "tune": evaluate(pairs, "tune", th),
        "heldout": evaluate(pairs, "heldout", th),
        "speed": speed(pairs),
    }
    if args.curve:
        report["tune_curve"] = curve(pairs)
    if args.retag:
        retagged = load_pairs(relevance_tags())
        report["retagged"] = {s: evaluate(retagged, s, th) for s in ("tune", "heldout")}
    json.dump(report, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Precision and recall of the relevance classifier on the hand-labelled stories.

Usage: ``python -m bench.relevance [--errors SPLIT]``. Prints
``{"tune": {"precision", "recall", "f1", "n"}, "heldout": {...}}``; ``--errors tune`` also
lists the misclassified stories of that split on stderr (tune on ``tune`` only).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.relevance import classify, default_vocabulary, is_relevant

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "relevance_labelled.jsonl"
SPLITS = ("tune", "heldout")


def load(split: str) -> list[dict[str, Any]]:
    """The labelled stories of one split."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    with DATA.open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [row for row in rows if row["split"] == split]


def predictions(split: str) -> list[tuple[dict[str, Any], bool, float]]:
    """Each story of ``split`` with the classifier's verdict and score."""
    vocabulary = default_vocabulary()
    out = []
    for row in load(split):
        rel = classify(row["title"], row["lead"], row["lang"], vocabulary)
        out.append((row, is_relevant(rel, vocabulary), rel.score))
    return out


def evaluate(split: str) -> dict[str, float]:
    """Precision, recall, F1 and the number of stories ``n`` on one split."""
    results = predictions(split)
    tp = sum(1 for row, got, _ in results if got and row["on_topic"])
    fp = sum(1 for row, got, _ in results if got and not row["on_topic"])
    fn = sum(1 for row, got, _ in results if not got and row["on_topic"])
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "n": float(len(results)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", choices=SPLITS, help="list misclassified stories")
    args = parser.parse_args()
    if args.errors:
        for row, got, score in predictions(args.errors):
            if got != row["on_topic"]:
                label = "FP" if got else "FN"
                print(f"{label} {score:.3f} {row['id']}: {row['title']}", file=sys.stderr)
    print(json.dumps({split: evaluate(split) for split in SPLITS}))


if __name__ == "__main__":
    main()

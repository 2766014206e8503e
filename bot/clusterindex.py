"""Recent stories indexed for clustering, so a new story is compared with few candidates.

A story can only join a cluster of a story that shares an app or a country with it (the
event rule), or near-identical text (a reprint, which shares its smallest shingle hashes).
Each of those keys keeps its most recent ``per_key`` stories; a story's candidates are the
union over its keys. That bounds the work per story, whatever the poll's size.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable

from bot.cluster import ClusterThresholds, Fingerprint, choose_cluster
from bot.models import Story

SKETCH_KEYS = 4
PER_KEY = 48


def blocking_keys(story: Story, fp: Fingerprint) -> list[str]:
    keys = [f"a:{app}" for app in story.apps] + [f"c:{cc}" for cc in story.countries]
    keys += [f"h:{h}" for h in fp.sketch[:SKETCH_KEYS]]
    if not story.apps and not story.countries:
        keys.append("untagged")
    return keys


class ClusterIndex:
    """In-memory index of recent (story, fingerprint) pairs for one process's polls."""

    def __init__(self, thresholds: ClusterThresholds | None = None, per_key: int = PER_KEY) -> None:
        self._thresholds = thresholds or ClusterThresholds()
        self._per_key = per_key
        self._buckets: dict[str, deque[tuple[Story, Fingerprint]]] = defaultdict(
            lambda: deque(maxlen=self._per_key)
        )

    def reset(self, items: Iterable[tuple[Story, Fingerprint]]) -> None:
        """Fill from stored stories, oldest first, so each key keeps its newest."""
        self._buckets.clear()
        for story, fp in sorted(items, key=lambda item: item[0].published):
            self.add(story, fp)

    def add(self, story: Story, fp: Fingerprint) -> None:
        for key in blocking_keys(story, fp):
            self._buckets[key].append((story, fp))

    def candidates(self, story: Story, fp: Fingerprint) -> list[tuple[Story, Fingerprint]]:
        seen: set[str] = set()
        found: list[tuple[Story, Fingerprint]] = []
        for key in blocking_keys(story, fp):
            for item in self._buckets.get(key, ()):
                if item[0].id not in seen:
                    seen.add(item[0].id)
                    found.append(item)
        return found

    def cluster_for(self, story: Story, fp: Fingerprint) -> str | None:
        """The cluster ``story`` joins, or None for a cluster of its own."""
        return choose_cluster(story, fp, self.candidates(story, fp), self._thresholds)

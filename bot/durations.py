"""Durations as people write them in the config: ``30s``, ``10m``, ``2h``, ``1d``."""

from __future__ import annotations

import re

DURATION = {"duration": True}
"""Field metadata: this float field is seconds, written in the config as ``10m`` etc."""

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")


def parse_duration(text: str) -> float:
    """Seconds in ``text``; raises ValueError for anything but ``<number><unit>``."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (write it like 30s, 10m, 2h or 1d)")
    return float(match.group(1)) * _UNITS[match.group(2)]

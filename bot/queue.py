"""The delivery queue: a Redis stream every process consumes through one consumer group.

An entry is one logical message to one chat (a digest in several parts, an alert, an
announcement). Enqueueing is idempotent by the entry's ``key``: a Lua call sets the key's
marker and adds the entry together, so a scheduler that crashes and runs again never queues
the same digest twice. Delivery writes a receipt after each part is sent, so an entry
re-delivered after a crash (``XAUTOCLAIM`` of a dead consumer's pending entries) resumes
after its last sent part: only a part in flight at the crash can be sent twice.

Every key here shares the ``{dq}`` hash tag, so the Lua calls work on Redis Cluster.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot import keys
from bot.storage import Redis

GROUP = "senders"
MARK_TTL = 8 * 86400
RECEIPT_TTL = 8 * 86400

_ENQUEUE = """
local added = 0
for i = 1, #ARGV - 1, 2 do
  local mark = KEYS[2] .. ARGV[i]
  if redis.call('SET', mark, '1', 'NX', 'EX', ARGV[#ARGV]) then
    redis.call('XADD', KEYS[1], '*', 'e', ARGV[i + 1])
    added = added + 1
  end
end
return added
"""


@dataclass(frozen=True, slots=True)
class Entry:
    """One message to one chat. ``parts`` are sent in order; ``clusters`` mark what it holds."""

    key: str
    chat: int
    kind: str
    parts: tuple[str, ...] = ()
    job: str = ""
    clusters: tuple[str, ...] = field(default_factory=tuple)

    def dumps(self) -> str:
        return json.dumps(
            {"k": self.key, "c": self.chat, "t": self.kind, "p": self.parts, "j": self.job,
             "cl": self.clusters},
            ensure_ascii=False,
        )  # fmt: skip

    @classmethod
    def loads(cls, text: str) -> Entry:
        raw = json.loads(text)
        return cls(
            key=str(raw["k"]),
            chat=int(raw["c"]),
            kind=str(raw["t"]),
            parts=tuple(raw.get("p", ())),
            job=str(raw.get("j", "")),
            clusters=tuple(raw.get("cl", ())),
        )


async def ensure_group(redis: Redis) -> None:
    """Create the stream and its consumer group if they are missing (idempotent)."""
    from redis.exceptions import ResponseError

    try:
        await redis.xgroup_create(keys.queue(), GROUP, id="0", mkstream=True)
    except ResponseError as e:
        if "BUSYGROUP" not in str(e):
            raise


async def enqueue(redis: Redis, entries: Sequence[Entry]) -> int:
    """Queue entries whose key was never queued before; returns how many were added."""
    if not entries:
        return 0
    args: list[str] = []
    for entry in entries:
        args += [entry.key, entry.dumps()]
    args.append(str(MARK_TTL))
    added = await redis.eval(_ENQUEUE, 2, keys.queue(), keys.queue_mark_prefix(), *args)
    return int(added)


async def read(redis: Redis, consumer: str, count: int, block_ms: int) -> list[tuple[str, Entry]]:
    """New entries for this consumer (blocking up to ``block_ms``)."""
    answer: Any = await redis.xreadgroup(
        GROUP, consumer, {keys.queue(): ">"}, count=count, block=block_ms
    )
    return _entries(answer[0][1] if answer else [])


async def claim_stale(
    redis: Redis, consumer: str, idle_ms: int, count: int
) -> list[tuple[str, Entry]]:
    """Entries left pending by a consumer that died (idle longer than ``idle_ms``)."""
    answer: Any = await redis.xautoclaim(keys.queue(), GROUP, consumer, idle_ms, "0-0", count=count)
    return _entries(answer[1])


async def touch(redis: Redis, consumer: str, entry_ids: Sequence[str]) -> None:
    """Reset the idle time of entries this consumer is still working on, so that no other
    consumer takes them over as abandoned while they wait for a rate-limit slot."""
    if entry_ids:
        await redis.xclaim(keys.queue(), GROUP, consumer, 0, list(entry_ids), justid=True)


def _entries(raw: Any) -> list[tuple[str, Entry]]:
    found = []
    for entry_id, fields in raw:
        if fields and "e" in fields:
            found.append((str(entry_id), Entry.loads(str(fields["e"]))))
    return found


async def ack(redis: Redis, entry_id: str) -> None:
    """Done with an entry: acknowledged and deleted from the stream."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xack(keys.queue(), GROUP, entry_id)
        pipe.xdel(keys.queue(), entry_id)
        pipe.delete(keys.queue_receipt(entry_id))
        await pipe.execute()


async def parts_sent(redis: Redis, entry_id: str) -> int:
    value = await redis.get(keys.queue_receipt(entry_id))
    return int(value or 0)


async def part_done(redis: Redis, entry_id: str, sent: int) -> None:
    await redis.set(keys.queue_receipt(entry_id), sent, ex=RECEIPT_TTL)


async def depth(redis: Redis) -> int:
    """Entries waiting or in flight."""
    return int(await redis.xlen(keys.queue()))

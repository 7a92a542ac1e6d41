"""Serving the collector over TCP with the connection limits of `limits:` in the configuration.

aiohttp alone keeps a connection that never completes its request head for an hour (its
keep-alive default) and accepts connections without bound, so a few thousand slow clients
(slowloris) could hold every file descriptor. Here:

- `header_timeout_seconds` is aiohttp's keep-alive timeout: since aiohttp 3.10 that timer also
  runs from the moment a connection opens, and it closes a connection still waiting for a
  complete request head when it fires, however slowly bytes trickle in. So a head must be
  complete within the timeout of the connection opening or of the previous response.
- `max_connections` caps connections open at once: beyond it a connection is answered 503
  (`Connection: close`, `Retry-After`) and closed before anything is read, and counted in
  `pantau_http_connections_refused_total`.
- `body_timeout_seconds` is applied where bodies are read (`collector.web.requests.read_body`):
  a body not complete in time answers 408 and ends the connection.
"""

from __future__ import annotations

import asyncio
import gc

from aiohttp import web
from prometheus_client import Counter

from collector.web import keys

_REFUSAL_TEXT = b"too many open connections to the collector, retry later\n"
_REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Retry-After: 5\r\n"
    b"Connection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_REFUSAL_TEXT), _REFUSAL_TEXT)
)


class _Refuse(asyncio.Protocol):
    """A connection over the cap: a 503 for clients that read it, then closed at once."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(_REFUSAL)
        transport.close()


class _CappedFactory:
    """Protocol factory for `loop.create_server`: aiohttp's server while under the cap."""

    def __init__(self, server: web.Server, *, limit: int, refused: Counter) -> None:
        self._server = server
        self._limit = limit
        self._refused = refused

    def __call__(self) -> asyncio.Protocol:
        # `connections` holds every connection aiohttp has not finished with yet.
        if len(self._server.connections) >= self._limit:
            self._refused.inc()
            return _Refuse()
        return self._server()


class CappedSite(web.BaseSite):
    """Like `web.TCPSite`, with the protocol factory above."""

    def __init__(
        self, runner: web.AppRunner, host: str, port: int, *, limit: int, refused: Counter
    ) -> None:
        super().__init__(runner)
        self._host, self._port = host, port
        self._limit, self._refused = limit, refused

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None, "runner.setup() first"
        factory = _CappedFactory(server, limit=self._limit, refused=self._refused)
        self._server = await asyncio.get_running_loop().create_server(
            factory, self._host, self._port, reuse_address=True
        )


def freeze_startup_heap() -> None:
    """Exclude what start-up built (modules, configuration, pools) from garbage collection.

    A full collection holds the GIL while it scans every tracked object, and it runs in
    whichever thread allocates: while the background jobs build tens of thousands of objects,
    scanning the long-lived heap as well held the event loop for 40-50 ms (10,000 apps);
    frozen, it is scanned no more (bench/README.md, /metrics). Call once, after start-up.
    """
    gc.collect()
    gc.freeze()


def make_runner(app: web.Application) -> web.AppRunner:
    """The runner for the collector `app`, with its configured header timeout."""
    limits = app[keys.CONFIG].limits
    return web.AppRunner(
        app,
        access_log=None,
        keepalive_timeout=limits.header_timeout_seconds,
        # After an early answer (413, 408, 401) aiohttp reads and drops the rest of the body for
        # a while, so the client sees the answer instead of a reset; never longer than a body
        # may take anyway (aiohttp's default is 10 s).
        lingering_time=min(10.0, limits.body_timeout_seconds),
    )


async def start_site(runner: web.AppRunner, host: str, port: int) -> str:
    """Listen on host:port (0: any free port) after `runner.setup()`; returns the base URL."""
    app = runner.app
    site = CappedSite(
        runner,
        host,
        port,
        limit=app[keys.CONFIG].limits.max_connections,
        refused=app[keys.METRICS].connections_refused,
    )
    await site.start()
    return f"http://{host}:{runner.addresses[-1][1]}"

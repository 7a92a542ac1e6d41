"""A stand-in for the collector's `POST /api/v1/results`, on a real socket of 127.0.0.1."""

from __future__ import annotations

import asyncio
import gzip
from collections import deque
from typing import Literal

import msgspec
from aiohttp import web

from wire.messages import BatchAck, CheckResult, ErrorBody, ResultBatch

# How to treat one request: an HTTP status to answer (nothing stored), "lost_ack" (store, then
# drop the connection unanswered) or "slow" (store, then answer after `slow_seconds`).
Behaviour = int | Literal["lost_ack", "slow"]


class FakeCollector:
    def __init__(self, *, token: str, slow_seconds: float = 0.5) -> None:
        self.token = token
        self.slow_seconds = slow_seconds
        self.script: deque[Behaviour] = deque()  # for the next requests; afterwards: normal
        self.requests: list[str] = []  # batch id of every well-formed request, in order
        self.batches: dict[str, ResultBatch] = {}  # stored once per batch id, in arrival order
        self.duplicates = 0
        self.retry_after: str | None = None  # sent with scripted error answers when set
        self.ready_requests = 0  # GET /readyz seen
        self.port = 0  # chosen by the OS on the first start, kept across stop/start
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def results(self, app: str) -> list[CheckResult]:
        """Stored results of one app, in the order they were stored."""
        return [r for batch in self.batches.values() for r in batch.results if r.app == app]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/v1/results", self._results)
        app.router.add_get("/readyz", self._readyz)
        # Undecoded, so the test sees whether the probe really sent gzip.
        runner = web.AppRunner(app, auto_decompress=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        self._runner = runner
        self.port = runner.addresses[0][1]

    async def stop(self) -> None:
        """Close the socket: the probe now gets "connection refused"."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _results(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _error(401, "unauthorized", "unknown token")
        if (
            request.headers.get("Content-Encoding") != "gzip"
            or request.content_type != "application/json"
        ):
            return _error(400, "bad_request", "expected gzip-compressed JSON")
        try:
            batch = msgspec.json.decode(gzip.decompress(await request.read()), type=ResultBatch)
        except (OSError, EOFError) as exc:
            return _error(400, "bad_request", f"not gzip: {exc}")
        except msgspec.ValidationError as exc:
            return _error(422, "invalid", str(exc))
        self.requests.append(batch.batch_id)
        behaviour = self.script.popleft() if self.script else None
        if isinstance(behaviour, int):
            answer = _error(behaviour, f"http_{behaviour}", f"scripted answer {behaviour}")
            if self.retry_after is not None:
                answer.headers["Retry-After"] = self.retry_after
            return answer
        duplicate = batch.batch_id in self.batches
        if duplicate:
            self.duplicates += 1
        else:
            self.batches[batch.batch_id] = batch
        if behaviour == "lost_ack":
            assert request.transport is not None
            request.transport.abort()
        elif behaviour == "slow":
            await asyncio.sleep(self.slow_seconds)
        ack = BatchAck(
            batch_id=batch.batch_id,
            duplicate=duplicate,
            results=len(batch.results),
            usage=len(batch.usage),
        )
        return web.Response(body=msgspec.json.encode(ack), content_type="application/json")

    async def _readyz(self, request: web.Request) -> web.Response:
        self.ready_requests += 1
        return web.Response(text="ready")


def _error(status: int, code: str, message: str) -> web.Response:
    body = msgspec.json.encode(ErrorBody(error=code, message=message))
    return web.Response(status=status, body=body, content_type="application/json")

"""Local demo applications for `make run`, so the probe has something real to watch.

One flaky website that goes down for a while every few minutes, one slow SIMPUS, apps with JSON
statistics and Prometheus endpoints whose counters grow (and reset now and then, as real apps do).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

DOWN_EVERY_SECONDS = 180
DOWN_FOR_SECONDS = 40


class DemoState:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self._rng = random.Random(7)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def website_down(self) -> bool:
        # Up for the first cycle, then down for DOWN_FOR_SECONDS at the end of every cycle.
        return self.elapsed() % DOWN_EVERY_SECONDS > DOWN_EVERY_SECONDS - DOWN_FOR_SECONDS

    def counter(self, per_second: float, *, reset_every: float | None = None) -> int:
        t = self.elapsed()
        if reset_every:
            t %= reset_every
        return int(t * per_second)

    def jitter(self, low: float, high: float) -> float:
        return self._rng.uniform(low, high)


STATE = web.AppKey("state", DemoState)
Handler = Callable[[web.Request], Awaitable[web.Response]]


def _page(title: str) -> web.Response:
    html = (
        f"<!doctype html><title>{title}</title><h1>{title}</h1><p>Kabupaten Kotawaringin Timur</p>"
    )
    return web.Response(text=html, content_type="text/html")


async def website(request: web.Request) -> web.Response:
    if request.app[STATE].website_down():
        return web.Response(status=503, text="Service Unavailable: maintenance of the web server")
    return _page("Website Resmi Kabupaten Kotawaringin Timur")


async def website_stats(request: web.Request) -> web.Response:
    return web.json_response({"data": {"visits": request.app[STATE].counter(3.5)}})


async def simpus(request: web.Request) -> web.Response:
    await asyncio.sleep(request.app[STATE].jitter(0.1, 1.4))  # sometimes over its 1 s limit
    return _page("SIMPUS Dinas Kesehatan")


async def simpus_metrics(request: web.Request) -> web.Response:
    visits = request.app[STATE].counter(0.8, reset_every=900)  # the app restarts every 15 min
    text = (
        "# HELP simpus_visits_total Patient visits recorded.\n# TYPE simpus_visits_total counter\n"
        f'simpus_visits_total{{puskesmas="baamang"}} {visits}\n'
        f'simpus_visits_total{{puskesmas="ketapang"}} {visits // 2}\n'
    )
    return web.Response(text=text, content_type="text/plain")


async def retribusi_health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "version": "2.3.1"})


async def retribusi_metrics(request: web.Request) -> web.Response:
    paid = request.app[STATE].counter(0.4)
    text = (
        "# TYPE retribusi_transactions_total counter\n"
        f'retribusi_transactions_total{{status="paid",channel="qris"}} {paid}\n'
        f'retribusi_transactions_total{{status="paid",channel="bank"}} {paid // 3}\n'
        f'retribusi_transactions_total{{status="failed",channel="qris"}} {paid // 20}\n'
    )
    return web.Response(text=text, content_type="text/plain")


async def retribusi_stats(request: web.Request) -> web.Response:
    return web.json_response({"active_users": int(request.app[STATE].jitter(5, 40))})


def _static_page(title: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return _page(title)

    return handler


def make_demo_app() -> web.Application:
    app = web.Application()
    app[STATE] = DemoState()
    app.router.add_get("/website/", website)
    app.router.add_get("/website/stats", website_stats)
    app.router.add_get("/simpus/", simpus)
    app.router.add_get("/simpus/metrics", simpus_metrics)
    app.router.add_get("/e-retribusi/health", retribusi_health)
    app.router.add_get("/e-retribusi/metrics", retribusi_metrics)
    app.router.add_get("/e-retribusi/stats", retribusi_stats)
    for name, title in (("jdih", "JDIH"), ("ppid", "PPID"), ("satu-data", "Satu Data Kotim"),
                        ("simrs", "SIMRS RSUD dr. Murjani")):  # fmt: skip
        app.router.add_get(f"/{name}/", _static_page(title))
    return app

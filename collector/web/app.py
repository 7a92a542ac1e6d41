"""The collector's aiohttp application factory."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CollectorRegistry

from collector import __version__, accounts, db, portal, templating
from collector.app_metrics import AppMetrics
from collector.auth import TokenCache
from collector.config import CollectorConfig
from collector.ingest import Ingestor, IngestPolicy
from collector.own_metrics import CollectorMetrics
from collector.review.rollup import rollup
from collector.state.evaluate import Evaluator
from collector.state.rules import RulesCache
from collector.web import (
    audit_routes,
    catalog_routes,
    ingest_routes,
    keys,
    ops_routes,
    proposal_routes,
    report_routes,
    state_routes,
)
from collector.web.errors import Handler, error_middleware
from collector.web.openapi import build_openapi
from collector.web.routes import Route

log = logging.getLogger(__name__)

ALL_ROUTES: list[Route] = [
    *catalog_routes.ROUTES,
    *proposal_routes.ROUTES,
    *audit_routes.ROUTES,
    *state_routes.ROUTES,
    *report_routes.ROUTES,
    *ingest_routes.ROUTES,
    *ops_routes.ROUTES,
]


@web.middleware
async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    resp = await handler(request)
    route = request.match_info.route.resource
    name = route.canonical if route is not None else "unmatched"
    request.app[keys.METRICS].requests.labels(name, request.method, str(resp.status)).inc()
    return resp


def make_app(
    config: CollectorConfig, *, dsn: str, registry: CollectorRegistry | None = None
) -> web.Application:
    """Build the app; the pool and background tasks live in its cleanup context."""
    # Bodies are decompressed by read_body() under a size cap, not by the parser.
    app = web.Application(
        middlewares=[count_requests, error_middleware],
        handler_args={"auto_decompress": False},
    )
    app[keys.CONFIG] = config
    app[keys.METRICS] = CollectorMetrics(registry=registry or CollectorRegistry())
    app[keys.TOKENS] = TokenCache()
    app[ops_routes.OPENAPI] = build_openapi(ALL_ROUTES, version=__version__)
    for route in ALL_ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    templating.setup(app)
    accounts.setup(app)  # sign-in, sessions, CSRF for every form (after the error middleware)
    portal.setup(app)  # HTML pages: not part of the API document

    async def database(app: web.Application) -> AsyncIterator[None]:
        pool = await db.create_pool(
            dsn,
            max_size=config.db_pool_max,
            statement_cache_size=config.database.statement_cache_size(),
        )
        async with pool.acquire() as conn:
            await db.migrate(conn, months_ahead=config.partitions_ahead_months)
        app[keys.POOL] = pool
        settings = config.state_settings()
        policy = IngestPolicy(
            max_age_seconds=config.retention.raw_days * 86_400,
            thresholds=settings.thresholds,
        )
        app[keys.INGESTOR] = Ingestor(pool, policy=policy)
        app[keys.APP_METRICS] = AppMetrics(
            pool,
            metrics=app[keys.METRICS],
            interval=config.metrics_refresh_seconds,
        )
        app[keys.EVALUATOR] = Evaluator(
            pool, settings=settings, interval=config.state.evaluate_seconds
        )
        with contextlib.suppress(Exception):
            await app[keys.EVALUATOR].run_once()
            await app[keys.APP_METRICS].refresh()  # first scrape already has the catalogue
        tasks = [
            asyncio.create_task(app[keys.EVALUATOR].run(), name="state-evaluator"),
            asyncio.create_task(app[keys.APP_METRICS].run(), name="app-metrics"),
            asyncio.create_task(_partition_maintenance(app), name="partitions"),
            asyncio.create_task(_rollups(app), name="rollups"),
        ]
        if not config.database.pgbouncer:  # else no LISTEN: tokens are never cached
            tasks.append(
                asyncio.create_task(app[keys.TOKENS].listen(dsn), name="token-revocations")
            )
        mailer = None
        if config.review_mail is not None:
            from collector.review.delivery import ReviewMailer

            mailer = ReviewMailer(pool, config)
            mailer.start()
        yield
        if mailer is not None:
            await mailer.stop()  # before the pool closes: a send in progress holds a connection
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await pool.close()

    app.cleanup_ctx.append(database)
    return app


async def _rollups(app: web.Application) -> None:
    """Keep the review's aggregates current; one replica at a time (the job takes a lock)."""
    config = app[keys.CONFIG]
    settings = config.state_settings()
    rules = RulesCache(settings)
    while True:
        await asyncio.sleep(config.retention.rollup_seconds)
        try:
            async with app[keys.POOL].acquire() as conn:
                await rollup(conn, settings=settings, rules_cache=rules)
        except Exception as exc:  # the next round catches up
            log.warning("rollup failed: %s", exc)


async def _partition_maintenance(app: web.Application) -> None:
    """Keep partitions created months ahead, so ingest never meets a missing one."""
    while True:
        await asyncio.sleep(6 * 3600)
        try:
            async with app[keys.POOL].acquire() as conn:
                await db.ensure_partitions(
                    conn,
                    around=dt.datetime.now(dt.UTC),
                    months_ahead=app[keys.CONFIG].partitions_ahead_months,
                )
        except Exception as exc:  # retried in six hours; ingest also creates on demand
            log.warning("partition maintenance failed: %s", exc)

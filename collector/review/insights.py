"""Planning insights for the review, each with the figures behind it."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Literal

import msgspec

from collector.db import Conn
from collector.review.monthly import AppReview, Review

InsightKind = Literal[
    "falling_usage", "little_usage", "most_downtime", "certificates_expiring",
    "not_monitored", "consolidation",
]  # fmt: skip

FALLING_PERCENT = -25.0  # usage down by a quarter or more against last month
CERT_DAYS = 30


def days_left(expiry: dt.datetime, now: dt.datetime) -> float:
    """Days until a certificate expires, to one decimal (rounded to nearest), as the alerts say."""
    return round((expiry - now).total_seconds() / 86_400, 1)


class InsightItem(msgspec.Struct, frozen=True, kw_only=True):
    app: str | None = None
    agency: str | None = None
    figures: dict[str, float | int | str | None] = {}


class Insight(msgspec.Struct, frozen=True, kw_only=True):
    kind: InsightKind
    items: list[InsightItem]


def _usage_insights(apps: list[AppReview]) -> list[Insight]:
    """A metric may belong to both: one that fell to zero is falling and little used."""
    falling, little = [], []
    for a in apps:
        for u in a.usage:
            value = u.total if u.kind == "counter" else u.average
            if u.change_percent is not None and u.change_percent <= FALLING_PERCENT:
                falling.append(InsightItem(app=a.app, agency=a.agency, figures={
                    "metric": u.metric, "this_month": value, "last_month": u.previous,
                    "change_percent": u.change_percent}))  # fmt: skip
            if value is not None and value == 0:
                little.append(
                    InsightItem(
                        app=a.app, agency=a.agency, figures={"metric": u.metric, "this_month": 0}
                    )
                )
    return [
        Insight(kind="falling_usage", items=falling),
        Insight(kind="little_usage", items=little),
    ]


def _downtime(apps: list[AppReview], top: int = 5) -> Insight:
    worst = sorted((a for a in apps if a.availability.down_seconds > 0),
                   key=lambda a: (-a.availability.down_seconds, a.app))[:top]  # fmt: skip
    return Insight(kind="most_downtime", items=[
        InsightItem(app=a.app, agency=a.agency, figures={
            "down_minutes": round(a.availability.down_seconds / 60), "incidents": a.incidents,
            "uptime_percent": a.availability.uptime_percent,
            "target_uptime": a.target_uptime})
        for a in worst])  # fmt: skip


def _not_monitored(apps: list[AppReview], usage_specs: dict[str, int]) -> Insight:
    items = [
        InsightItem(app=a.app, agency=a.agency, figures={
            "has_check": "yes" if a.checked else "no",
            "has_usage_source": "yes" if usage_specs.get(a.app, 0) else "no"})
        for a in apps
        if a.lifecycle in ("active", "deprecated") and (not a.checked or not usage_specs.get(a.app, 0))
    ]  # fmt: skip
    return Insight(kind="not_monitored", items=items)


def _consolidation(apps: list[AppReview]) -> Insight:
    by_category: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for a in apps:
        if a.category and a.lifecycle in ("active", "deprecated") and a.managed_by != "central":
            by_category[a.category][a.agency].append(a.app)
    items = [
        InsightItem(figures={"category": cat, "agencies": len(agencies),
                             "apps": ", ".join(sorted(x for xs in agencies.values() for x in xs))})
        for cat, agencies in sorted(by_category.items())
        if len(agencies) >= 2
    ]  # fmt: skip
    return Insight(kind="consolidation", items=items)


async def _certificates(conn: Conn, now: dt.datetime) -> Insight:
    rows = await conn.fetch(
        "SELECT l.app_id, a.agency_id, min(l.tls_expiry) AS expiry FROM check_latest l"
        " JOIN apps a ON a.id = l.app_id WHERE l.tls_expiry IS NOT NULL"
        " GROUP BY l.app_id, a.agency_id HAVING min(l.tls_expiry) < $1 ORDER BY expiry",
        now + dt.timedelta(days=CERT_DAYS),
    )
    return Insight(kind="certificates_expiring", items=[
        InsightItem(app=r["app_id"], agency=r["agency_id"], figures={
            "expires": r["expiry"].date().isoformat(),
            "days_left": days_left(r["expiry"], now)})
        for r in rows])  # fmt: skip


async def insights(conn: Conn, review: Review, *, now: dt.datetime | None = None) -> list[Insight]:
    usage_specs = {
        r["id"]: r["n"]
        for r in await conn.fetch("SELECT id, jsonb_array_length(usage) AS n FROM apps")
    }
    return [
        *_usage_insights(review.apps),
        _downtime(review.apps),
        await _certificates(conn, now or dt.datetime.now(dt.UTC)),
        _not_monitored(review.apps, usage_specs),
        _consolidation(review.apps),
    ]

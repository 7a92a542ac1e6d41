"""The monthly report: the review's figures plus planning insights, ready to render."""

from __future__ import annotations

import datetime as dt

import msgspec

from collector.db import Conn
from collector.review.insights import Insight, insights
from collector.review.monthly import Review, review_from_aggregates
from collector.review.rollup import rollup
from collector.state.rules import StateSettings


class MonthlyReport(msgspec.Struct, kw_only=True):
    generated_at: dt.datetime
    agency: str | None  # the report of one agency, or None for the whole regency
    review: Review
    insights: list[Insight]


async def build_report(conn: Conn, *, month: str, settings: StateSettings, agency: str | None = None,
                       now: dt.datetime | None = None) -> MonthlyReport:  # fmt: skip
    """Bring the aggregates up to date (cheap when they are), then read the month from them."""
    now = now or dt.datetime.now(dt.UTC)
    await rollup(conn, settings=settings, now=now)
    review = await review_from_aggregates(
        conn, month=month, settings=settings, agency=agency, now=now
    )
    return MonthlyReport(generated_at=now, agency=agency, review=review,
                         insights=await insights(conn, review, now=now))  # fmt: skip

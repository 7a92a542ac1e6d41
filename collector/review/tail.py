"""The time after the aggregates: from the last rolled-up hour to now, straight from the results.

The rollup stops at the last complete hour; the review and the portal add the running hour (and
any hours a lagging rollup has not reached) by sweeping the raw results from the last hour's
carry. The pieces are cut at local midnights and at any other moment asked for (a month's end),
so they add to the daily figures exactly as the hourly rows do.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import msgspec

from collector.db import Conn
from collector.review.rollup import accounting_start
from collector.review.timeline import Carry, Outage, Result, sweep
from collector.state.rules import AppRules

_carry_decoder = msgspec.json.Decoder(Carry)


@dataclass(frozen=True)
class Piece:
    start: dt.datetime
    end: dt.datetime
    day: dt.date  # the local day the piece lies in
    seconds: dict[str, float]


@dataclass
class Pieces:
    pieces: list[Piece] = field(default_factory=list)
    outages: list[Outage] = field(default_factory=list)  # ended within the sweep
    carry: Carry | None = None


def sweep_pieces(results: Sequence[Result], *, rules: AppRules, start: dt.datetime,
                 end: dt.datetime, carry: Carry | None, tz: zoneinfo.ZoneInfo,
                 cuts: Iterable[dt.datetime] = ()) -> Pieces:  # fmt: skip
    """Sweep [start, end) in pieces cut at local midnights and at `cuts`, carrying the state."""
    out = Pieces(carry=carry)
    t = start
    results = [r for r in results if start <= r.ts < end]
    i = 0
    extra = sorted(c for c in cuts if start < c < end)
    while t < end:
        local = t.astimezone(tz).date()
        midnight = dt.datetime.combine(local + dt.timedelta(days=1), dt.time(), tz)
        nxt = min([end, midnight.astimezone(dt.UTC), *(c for c in extra if c > t)])
        j = i
        while j < len(results) and results[j].ts < nxt:
            j += 1
        s = sweep(results[i:j], rules=rules, start=t, end=nxt, carry=out.carry)
        out.pieces.append(Piece(t, nxt, local, s.seconds))
        out.outages.extend(s.outages)
        out.carry = s.carry
        i, t = j, nxt
    return out


@dataclass(frozen=True)
class Tail:
    through: dt.datetime  # where the aggregates end (the tail starts here)
    pieces: Pieces


async def tails(conn: Conn, rules: dict[str, AppRules], app_ids: Sequence[str], *,
                now: dt.datetime, tz: zoneinfo.ZoneInfo,
                cuts: Iterable[dt.datetime] = ()) -> dict[str, Tail]:  # fmt: skip
    """Per app, its state from the end of its aggregates to `now`."""
    cuts = list(cuts)
    progress = {
        r["app_id"]: r
        for r in await conn.fetch(
            "SELECT p.app_id, p.rolled_until, h.carry FROM rollup_progress p"
            " LEFT JOIN app_hourly h ON h.app_id = p.app_id AND h.hour = p.rolled_until - interval '1 hour'"
            " WHERE p.app_id = ANY ($1::text[]) AND p.rolled_until IS NOT NULL",
            list(app_ids),
        )
    }
    through: dict[str, tuple[dt.datetime, Carry | None]] = {}
    for app_id in app_ids:
        if app_id not in rules:
            continue
        p = progress.get(app_id)
        if p is not None:
            carry = _carry_decoder.decode(p["carry"]) if p["carry"] else None
            through[app_id] = (p["rolled_until"], carry)
        elif (start := await accounting_start(conn, app_id)) is not None:
            # Never rolled up: everything since its accounting start is tail. (None: the app
            # was deleted since its rules were read.)
            through[app_id] = (start, None)
    waiting = [a for a, (t, _) in through.items() if t < now]
    results: dict[str, list[Result]] = {a: [] for a in waiting}
    if waiting:
        for r in await conn.fetch(
            "SELECT app_id, ts, zone, check_name, ok, reason FROM check_results"
            " WHERE app_id = ANY ($1::text[]) AND ts >= $2 AND ts < $3 ORDER BY app_id, ts",
            waiting, min(through[a][0] for a in waiting), now,
        ):  # fmt: skip
            if r["ts"] >= through[r["app_id"]][0]:
                results[r["app_id"]].append(
                    Result(r["ts"], r["zone"], r["check_name"], r["ok"], r["reason"])
                )
    out = {}
    for app_id, (start, carry) in through.items():
        pieces = (
            sweep_pieces(
                results[app_id],
                rules=rules[app_id],
                start=start,
                end=now,
                carry=carry,
                tz=tz,
                cuts=cuts,
            )
            if start < now
            else Pieces(carry=carry)
        )
        out[app_id] = Tail(through=start, pieces=pieces)
    return out

"""An app's state over time, replayed from its check results (see docs/accounting.md).

The same rules as the live state (collector.state.machine), with freshness judged in result
time: a check's latest result speaks for `stale_after` after it was taken. The sweep can run over
a month at once (the raw computation) or hour by hour with its state carried over (the rollup
job); both give the same figures because the hours are cut at exact boundaries.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import msgspec

from collector.state.machine import (
    AppStateName,
    CheckState,
    ZoneState,
    app_state,
    is_cause,
    observe,
    zone_state,
)
from collector.state.rules import AppRules
from wire.maintenance import MaintenanceWindow

STATES: tuple[AppStateName, ...] = ("up", "down", "degraded", "maintenance", "unknown")


@dataclass(frozen=True, slots=True)
class Result:
    ts: dt.datetime
    zone: str
    check: str
    ok: bool
    reason: str | None


class CarriedCheck(msgspec.Struct, frozen=True, array_like=True):
    zone: str
    check: str
    state: str
    failures: int
    successes: int
    since: dt.datetime
    last_ts: dt.datetime
    reason: str | None


class Carry(msgspec.Struct, frozen=True, kw_only=True):
    """What a sweep hands to the next one: the checks' counters and an outage in progress."""

    checks: list[CarriedCheck] = []
    outage_start: dt.datetime | None = None
    outage_causes: list[str] = []


@dataclass
class Outage:
    start: dt.datetime
    end: dt.datetime
    causes: list[str]

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass
class Sweep:
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STATES, 0.0))
    outages: list[Outage] = field(default_factory=list)  # ended within the period
    carry: Carry = field(default_factory=Carry)


def maintenance_intervals(
    windows: Sequence[MaintenanceWindow], start: dt.datetime, end: dt.datetime, *, timezone: str
) -> list[tuple[dt.datetime, dt.datetime]]:
    """The parts of [start, end) inside any window, merged and sorted."""
    spans: list[tuple[dt.datetime, dt.datetime]] = []
    for w in windows:
        if w.start is not None and w.end is not None:
            spans.append((w.start, w.end))
            continue
        assert w.duration_minutes is not None
        length = dt.timedelta(minutes=w.duration_minutes)
        # Starts from `start - length` on (strictly after it: a window that began exactly then has
        # already ended at `start`).
        for fire in w.starts(start - length, default_timezone=timezone):
            if fire >= end:
                break
            spans.append((fire, fire + length))
    clipped = sorted((max(s, start), min(e, end)) for s, e in spans if e > start and s < end)
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for s, e in clipped:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def sweep(results: Iterable[Result], *, rules: AppRules, start: dt.datetime, end: dt.datetime,
          carry: Carry | None = None) -> Sweep:  # fmt: skip
    """Seconds in each state over [start, end), the outages that ended in it, and the carry.

    `results` must be sorted by time; those outside [start, end) are ignored.
    """
    out = Sweep()
    checks: dict[tuple[str, str], CheckState] = {}
    for c in (carry or Carry()).checks:
        checks[(c.zone, c.check)] = CheckState(state=c.state, failures=c.failures,  # type: ignore[arg-type]
                                               successes=c.successes, since=c.since, last_ts=c.last_ts,
                                               reason=c.reason)  # fmt: skip
    outage_start = carry.outage_start if carry else None
    causes: set[str] = set(carry.outage_causes) if carry else set()
    windows = maintenance_intervals(rules.windows, start, end, timezone=rules.timezone)
    boundaries = sorted({t for span in windows for t in span if start < t < end})
    stale: list[dt.datetime] = [c.last_ts + rules.stale_after for c in checks.values()]
    heapq.heapify(stale)
    it = iter(results)
    pending = next(it, None)
    while pending is not None and pending.ts < start:
        pending = next(it, None)

    def state_at(t: dt.datetime) -> tuple[AppStateName, tuple[str, ...]]:
        if any(s <= t < e for s, e in windows):
            return "maintenance", ()
        zones: dict[str, ZoneState] = {}
        for zone in rules.zones:
            members = [c for (z, _), c in checks.items() if z == zone]
            zones[zone] = zone_state(members, now=t, stale_after=rules.stale_after - _EPSILON)
        result = app_state(zones, quorum=rules.thresholds.quorum, in_maintenance=False)
        return result.state, result.down_zones

    def follow(t: dt.datetime) -> AppStateName:
        """The state at `t`, opening or closing an outage when it changes there."""
        nonlocal outage_start, causes
        new, down_zones = state_at(t)
        if new == "down":
            causes |= {
                c.reason
                for (z, _), c in checks.items()
                if z in down_zones and c.state == "down" and is_cause(c.reason)
            }
            if outage_start is None:
                outage_start = t
        elif outage_start is not None and new != "unknown":
            # `unknown` keeps an outage open, as it keeps an incident open: no news is not good news.
            out.outages.append(Outage(outage_start, t, sorted(causes)))
            outage_start, causes = None, set()
        return new

    t = start
    # A chunk may begin on a change (a window's edge on the hour): the same rules apply there.
    current = follow(t)
    while t < end:
        # The next moment anything can change: a result, a check going stale, a window edge.
        candidates = [end]
        if pending is not None:
            candidates.append(pending.ts)
        while stale and stale[0] <= t:
            heapq.heappop(stale)
        if stale:
            candidates.append(stale[0])
        while boundaries and boundaries[0] <= t:
            boundaries.pop(0)
        if boundaries:
            candidates.append(boundaries[0])
        nxt = min(candidates)
        out.seconds[current] += (nxt - t).total_seconds()
        t = nxt
        if t >= end:
            break
        while pending is not None and pending.ts <= t:
            key = (pending.zone, pending.check)
            checks[key] = observe(checks.get(key), ok=pending.ok, reason=pending.reason,
                                  ts=pending.ts, thresholds=rules.thresholds)  # fmt: skip
            heapq.heappush(stale, pending.ts + rules.stale_after)
            pending = next(it, None)
        current = follow(t)
    out.carry = Carry(
        checks=[CarriedCheck(z, c, s.state, s.failures, s.successes, s.since, s.last_ts, s.reason)
                for (z, c), s in sorted(checks.items())],
        outage_start=outage_start,
        outage_causes=sorted(causes),
    )  # fmt: skip
    return out


# A result exactly `stale_after` old no longer counts: freshness is [ts, ts + stale_after).
_EPSILON = dt.timedelta(microseconds=1)

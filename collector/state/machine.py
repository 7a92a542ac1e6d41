"""The state rules, as pure functions: per check, then per zone, then per app.

- A check is `down` after `failure_threshold` consecutive failures and `up` again after
  `success_threshold` consecutive successes; an answer that came with a warning (slower than its
  latency limit, or a certificate about to expire) counts as a success for these counters but
  makes the check `degraded`. Only failures name an outage's causes.
- A new check is `unknown` until its first answer (`up` or `degraded` at once) or until
  `failure_threshold` failures in a row (`down`). Failures short of the threshold keep the state
  the check had (`up`, `degraded` or `unknown`).
- A zone is the worst of its fresh checks; a check without a fresh result is `unknown`.
- An app is `down` when at least `quorum` of its zones are down, so one agency's broken uplink
  pages nobody about a healthy app; `maintenance` overrides everything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeGuard

CheckStateName = Literal["up", "down", "degraded", "unknown"]
AppStateName = Literal["up", "down", "degraded", "maintenance", "unknown"]
APP_STATES: tuple[AppStateName, ...] = ("up", "down", "degraded", "maintenance", "unknown")
_SEVERITY = {"unknown": 0, "up": 1, "degraded": 2, "down": 3}
# Reasons of a result that did answer: a warning, not a failure (wire.messages.FailureReason).
ANSWERED_REASONS = frozenset({"latency", "expiring"})


def is_cause(reason: str | None) -> TypeGuard[str]:
    """Whether a down check's latest reason names a cause of the outage (a failure, not a warning)."""
    return reason is not None and reason not in ANSWERED_REASONS


@dataclass(frozen=True, slots=True, kw_only=True)
class Thresholds:
    failure: int = 3
    success: int = 2
    quorum: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckState:
    state: CheckStateName
    failures: int
    successes: int
    since: dt.datetime
    last_ts: dt.datetime
    reason: str | None


def observe(prev: CheckState | None, *, ok: bool, reason: str | None, ts: dt.datetime,
            thresholds: Thresholds) -> CheckState:  # fmt: skip
    """The check's state after one more result."""
    if prev is None:
        prev = CheckState(
            state="unknown", failures=0, successes=0, since=ts, last_ts=ts, reason=None
        )
    if ok or reason in ANSWERED_REASONS:
        answered: CheckStateName = "up" if ok else "degraded"
        successes, failures = prev.successes + 1, 0
        if prev.state == "down" and successes < thresholds.success:
            new_state: CheckStateName = "down"
        else:
            new_state = answered
    else:
        successes, failures = 0, prev.failures + 1
        new_state = "down" if failures >= thresholds.failure else prev.state
    since = prev.since if new_state == prev.state else ts
    # Built directly rather than with dataclasses.replace: this runs once per ingested result.
    return CheckState(state=new_state, failures=failures, successes=successes, since=since,
                      last_ts=ts, reason=None if ok else reason)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ZoneState:
    state: CheckStateName
    since: dt.datetime


def zone_state(
    checks: Sequence[CheckState], *, now: dt.datetime, stale_after: dt.timedelta
) -> ZoneState:
    """The worst state among the zone's fresh checks; `unknown` when none is fresh."""
    fresh = [c for c in checks if now - c.last_ts <= stale_after and c.state != "unknown"]
    if not fresh:
        latest = max((c.last_ts for c in checks), default=now)
        return ZoneState("unknown", min(now, latest + stale_after))
    worst = max(fresh, key=lambda c: _SEVERITY[c.state])
    same = [c.since for c in fresh if c.state == worst.state]
    return ZoneState(worst.state, max(same))


@dataclass(frozen=True, slots=True)
class AppState:
    state: AppStateName
    since: dt.datetime | None  # None: keep the previous `since` if the state did not change
    down_zones: tuple[str, ...] = ()


def app_state(zones: dict[str, ZoneState], *, quorum: int, in_maintenance: bool) -> AppState:
    if in_maintenance:
        return AppState("maintenance", None)
    down = sorted((z.since, name) for name, z in zones.items() if z.state == "down")
    # A quorum larger than the zones watching the app could never be met.
    needed = max(1, min(quorum, len(zones)))
    if len(down) >= needed:
        return AppState("down", down[needed - 1][0], tuple(sorted(n for _, n in down)))
    for name in ("degraded", "up"):
        matching = [z.since for z in zones.values() if z.state == name]
        if matching:
            return AppState(name, max(matching))
    return AppState("unknown", None)

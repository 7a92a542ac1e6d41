"""Check kinds, chosen by table (as blackbox_exporter's prober/), and `run_check`."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable
from typing import Any, Final, Literal, Protocol, cast, get_args

from probe.checks.base import (
    CheckContext,
    Failure,
    Outcome,
    bounded,
    clamp_timestamp,
    clean_message,
    spec_secrets,
)
from probe.checks.dns import check_dns
from probe.checks.http import check_http
from probe.checks.icmp import check_icmp
from probe.checks.tcp import check_tcp
from probe.checks.tls import check_tls
from wire.messages import CheckResult
from wire.specs import CheckSpec

__all__ = ["CHECKS", "CheckContext", "CheckFunc", "Outcome", "run_check"]

log = logging.getLogger(__name__)

CheckKind = Literal["http", "tcp", "dns", "tls", "icmp"]
# A spec that cannot run here, or may not, will not on the next attempt either.
_FINAL: Final = frozenset({"config", "secret", "blocked"})


class CheckFunc(Protocol):
    """One attempt of a check kind. It may raise; `run_check` maps exceptions to reasons."""

    def __call__(self, spec: Any, /, *, ctx: CheckContext) -> Awaitable[Outcome]: ...


CHECKS: Final[dict[str, CheckFunc]] = {
    "http": check_http,
    "tcp": check_tcp,
    "dns": check_dns,
    "tls": check_tls,
    "icmp": check_icmp,
}


async def run_check(spec: CheckSpec, *, app: str, ctx: CheckContext) -> CheckResult:
    """Run a check with its timeout and retries; never raises (cancellation aside)."""
    timeout = spec.timeout_seconds or ctx.default_timeout
    ts = time.time()
    started = time.perf_counter()
    attempts = 0
    while True:
        attempts += 1
        outcome = await _attempt(spec, ctx=ctx, limit=timeout)
        if outcome.ok or outcome.reason in _FINAL or attempts > spec.retries:
            break
    duration = time.perf_counter() - started
    if outcome.duration_seconds is not None:  # the kind measured it itself (icmp: the RTT)
        duration = outcome.duration_seconds
    status, message = outcome.status_code, outcome.message
    if status is not None and not 100 <= status <= 599:
        # HTTP allows any three digits (some firewalls answer 999); the wire carries 100..599.
        message = f"status {status}" + (f"; {message}" if message else "")
        status = None
    if message is not None:  # most checks pass without one: no secrets to look up then
        message = clean_message(message, secrets=spec_secrets(spec, env=ctx.env))
    if outcome.packet_loss is not None and ctx.metrics is not None:
        ctx.metrics.icmp_loss.labels(app, spec.check_name).set(outcome.packet_loss)
        if outcome.duration_seconds is not None:
            ctx.metrics.icmp_rtt.labels(app, spec.check_name).set(outcome.duration_seconds)
        else:  # nothing answered: no round-trip time, rather than a made-up one
            with contextlib.suppress(KeyError):
                ctx.metrics.icmp_rtt.remove(app, spec.check_name)
    if not outcome.ok:
        log.debug("check %s/%s failed: %s: %s", app, spec.check_name, outcome.reason, message)
    return CheckResult(
        app=app,
        check=spec.check_name,
        kind=cast(CheckKind, spec.kind),  # CHECKS holds only these kinds (see _attempt)
        ts=ts,
        ok=outcome.ok,
        reason=None if outcome.ok else outcome.reason or "error",
        message=message,
        duration_seconds=duration,
        status_code=status,
        tls_expiry=None if outcome.tls_expiry is None else clamp_timestamp(outcome.tls_expiry),
        attempts=attempts,
    )


async def _attempt(spec: CheckSpec, *, ctx: CheckContext, limit: float) -> Outcome:
    check = CHECKS.get(spec.kind)
    if check is None or spec.kind not in get_args(CheckKind):
        return Outcome(ok=False, reason="config", message=f"unknown check kind {spec.kind!r}")
    result = await bounded(check(spec, ctx=ctx), seconds=limit)
    if isinstance(result, Failure):
        return Outcome(ok=False, reason=result.reason, message=result.message)
    return result

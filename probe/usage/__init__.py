"""Usage sources, chosen by table, and `read_usage`.

Only the raw number is read here: counter resets and rates are the collector's business.
"""

from __future__ import annotations

import logging
import time
from typing import Final

from probe.checks.base import CheckContext, Failure, bounded, clean_message, spec_secrets
from probe.usage.base import SourceFunc, UsageReading
from probe.usage.json_source import read_json
from probe.usage.prometheus_source import read_prometheus
from probe.usage.sql_source import read_sql
from wire.specs import PushSource, UsageSpec

__all__ = ["SOURCES", "SourceFunc", "UsageReading", "read_usage"]

log = logging.getLogger(__name__)

# The wire's UsageSample.value range: outside it the collector would reject the whole batch.
MAX_VALUE: Final = 1e18


async def _not_pulled(source: PushSource, *, ctx: CheckContext, seconds: float) -> float:
    raise Failure("config", "push sources are not pulled")


SOURCES: Final[dict[str, SourceFunc]] = {
    "json": read_json,
    "prometheus": read_prometheus,
    "sql": read_sql,
    "push": _not_pulled,
}


async def read_usage(spec: UsageSpec, *, app: str, ctx: CheckContext) -> UsageReading:
    """Read one usage value within the spec's timeout; never raises (cancellation aside)."""
    ts = time.time()
    seconds = spec.timeout_seconds or ctx.default_timeout
    tag = type(spec.source).__struct_config__.tag
    read = SOURCES.get(str(tag))
    if read is None:
        result: float | Failure = Failure("config", f"unknown usage source {tag!r}")
    else:
        result = await bounded(read(spec.source, ctx=ctx, seconds=seconds), seconds=seconds)
    if not isinstance(result, Failure) and not 0 <= result <= MAX_VALUE:
        result = Failure("body", f"value {result:g} is outside 0..{MAX_VALUE:g}")
    if not isinstance(result, Failure):
        return UsageReading(value=result, ts=ts)
    message = clean_message(result.message, secrets=spec_secrets(spec.source, env=ctx.env))
    log.debug("usage %s/%s failed: %s: %s", app, spec.metric, result.reason, message)
    return UsageReading(value=None, reason=result.reason, message=message, ts=ts)

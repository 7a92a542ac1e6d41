"""What the usage sources share: the reading, the source signature, fetching, numbers."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from multidict import CIMultiDict

from probe.checks.base import MAX_REDIRECTS, CheckContext, Failure, read_body, tls_context
from wire.messages import FailureReason


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageReading:
    """One reading of a usage source: a value, or the reason there is none."""

    value: float | None
    reason: FailureReason | None = None
    message: str | None = None
    ts: float  # when the reading started, unix seconds


class SourceFunc(Protocol):
    """Reads one raw number; raises on failure (`read_usage` maps exceptions to reasons).

    `seconds` is the whole reading's time budget, for sources that pass it on (SQL).
    """

    def __call__(
        self, source: Any, /, *, ctx: CheckContext, seconds: float
    ) -> Awaitable[float]: ...


async def fetch(
    ctx: CheckContext,
    *,
    url: str,
    headers: Mapping[str, str],
    tls_verify: bool = True,
) -> bytes:
    """GET a URL and return at most 1 MiB of a 2xx answer's body."""
    async with ctx.session.get(
        url,
        headers=CIMultiDict(headers),
        ssl=tls_context(verify=tls_verify),
        max_redirects=MAX_REDIRECTS,
    ) as resp:
        body = await read_body(resp)
        status = resp.status
    if not 200 <= status < 300:
        raise Failure("status", f"status {status}, expected 2xx")
    return body


def as_number(value: object) -> float | None:
    """A finite float for a number (int, float, Decimal; not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None

"""TCP check: the port accepts a connection."""

from __future__ import annotations

from probe.checks.base import CheckContext, Outcome, close_stream
from wire.specs import TcpCheck


async def check_tcp(spec: TcpCheck, *, ctx: CheckContext) -> Outcome:
    # Refused, unknown name, denied address and timeout escape as exceptions, mapped in one place.
    _, writer = await ctx.guard.open_connection(spec.host, spec.port)
    await close_stream(writer)
    return Outcome(ok=True)

"""TLS check: handshake, chain and hostname verification, days until the certificate expires."""

from __future__ import annotations

import time

from probe.checks.base import CheckContext, Outcome, cert_not_after, close_stream, tls_context
from wire.specs import TlsCheck

_DAY = 86_400.0


async def check_tls(spec: TlsCheck, *, ctx: CheckContext) -> Outcome:
    context = tls_context(ca_file=spec.ca_file)
    # An invalid or expired certificate fails the handshake (mapped to "tls" in one place).
    _, writer = await ctx.guard.open_connection(
        spec.host, spec.port, ssl=context, server_hostname=spec.server_name or spec.host
    )
    try:
        not_after = cert_not_after(writer.get_extra_info("ssl_object"))
    finally:
        await close_stream(writer)
    if not_after is None:
        return Outcome(ok=False, reason="tls", message="the server sent no certificate")
    days_left = (not_after - time.time()) / _DAY
    if days_left < spec.min_days_left:
        return Outcome(
            ok=False,
            reason="expiring",  # it answered: a warning (degraded), not an outage
            message=f"certificate expires in {days_left:.1f} days,"
            f" fewer than min_days_left={spec.min_days_left}",
            tls_expiry=not_after,
        )
    return Outcome(ok=True, tls_expiry=not_after)

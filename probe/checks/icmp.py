"""ICMP check: echo requests (ping) for servers that answer nothing else.

Up when at least one reply comes back, as ping's exit status says; packet loss and round-trip
times are the result's message, its `duration_seconds` (the average round-trip time) and the
probe's metrics, so a lossy link can be alerted on before it goes down.

Unprivileged ICMP sockets where the kernel allows them (`net.ipv4.ping_group_range` holds one of
the probe's groups), raw sockets otherwise, which need root or CAP_NET_RAW.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import icmplib

from probe.checks.base import CheckContext, Failure, Outcome
from wire.specs import IcmpCheck

INTERVAL_SECONDS: Final = 0.2  # between echo requests of one check
_PING_GROUP_RANGE: Final = Path("/proc/sys/net/ipv4/ping_group_range")


async def check_icmp(spec: IcmpCheck, *, ctx: CheckContext) -> Outcome:
    # The deny list judges the address pinged, as it judges the one connected to.
    infos = await ctx.guard.resolve(spec.host, 0)
    address = str(infos[0][4][0]).split("%", 1)[0]
    budget = spec.timeout_seconds or ctx.default_timeout
    # Each request waits for its reply in turn: share the check's timeout between them.
    per_reply = max(0.1, (budget - (spec.count - 1) * INTERVAL_SECONDS) / spec.count * 0.9)
    try:
        host = await icmplib.async_ping(
            address,
            count=spec.count,
            interval=INTERVAL_SECONDS,
            timeout=per_reply,
            privileged=not unprivileged_allowed(),
        )
    except icmplib.SocketPermissionError as exc:
        raise Failure(
            "config",
            "ICMP needs root (or CAP_NET_RAW), or net.ipv4.ping_group_range holding the probe's"
            " group",
        ) from exc
    except icmplib.ICMPLibError as exc:
        raise Failure("connect", f"ping {address}: {exc}") from exc
    shown = spec.host if spec.host == address else f"{spec.host} ({address})"
    loss = host.packet_loss
    summary = f"{host.packets_received}/{host.packets_sent} replies, {loss:.0%} loss"
    if not host.packets_received:
        return Outcome(
            ok=False, reason="timeout", message=f"no reply from {shown}: {summary}", packet_loss=1.0
        )
    rtt = host.avg_rtt / 1000.0
    summary += f", rtt min/avg/max {host.min_rtt:.3f}/{host.avg_rtt:.3f}/{host.max_rtt:.3f} ms"
    if spec.max_rtt_seconds is not None and rtt > spec.max_rtt_seconds:
        return Outcome(
            ok=False,
            reason="latency",  # it answered: a warning, not an outage
            message=f"{shown} answered slower than max_rtt_seconds={spec.max_rtt_seconds:g}:"
            f" {summary}",
            duration_seconds=rtt,
            packet_loss=loss,
        )
    return Outcome(ok=True, message=summary, duration_seconds=rtt, packet_loss=loss)


def unprivileged_allowed() -> bool:
    """Whether the kernel lets this process open an unprivileged ICMP (ping) socket."""
    try:
        low, high = (int(n) for n in _PING_GROUP_RANGE.read_text().split())
    except (OSError, ValueError):
        return False
    return any(low <= group <= high for group in {os.getegid(), *os.getgroups()})

"""DNS check: the name resolves, optionally to every expected address."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Final

from probe.checks.base import CheckContext, Failure, Outcome
from wire.specs import DnsCheck

_FAMILIES: Final = {"A": socket.AF_INET, "AAAA": socket.AF_INET6, "ANY": socket.AF_UNSPEC}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


async def check_dns(spec: DnsCheck, *, ctx: CheckContext) -> Outcome:
    expected = [_address(text) for text in spec.expect_addresses]
    # The system resolver, like the applications' users: /etc/hosts and search domains count.
    infos = await asyncio.get_running_loop().getaddrinfo(
        spec.hostname, None, family=_FAMILIES[spec.record], type=socket.SOCK_STREAM
    )
    # An IPv6 answer may carry a zone ("fe80::1%eth0"); the address alone is compared.
    answers = {ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos}
    if not answers:
        return Outcome(ok=False, reason="dns", message=f"{spec.hostname} has no {spec.record}")
    missing = [address for address in expected if address not in answers]
    if missing:
        got = ", ".join(str(a) for a in sorted(answers, key=lambda a: (a.version, a)))
        want = ", ".join(str(a) for a in missing)
        return Outcome(
            ok=False, reason="dns", message=f"{spec.hostname} resolved to {got}; missing {want}"
        )
    return Outcome(ok=True)


def _address(text: str) -> IPAddress:
    try:
        return ipaddress.ip_address(text)
    except ValueError as exc:
        raise Failure("config", f"expect_addresses: {text!r} is not an IP address") from exc

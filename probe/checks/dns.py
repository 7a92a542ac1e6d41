"""DNS check: the name resolves, optionally to every expected address.

Without `server`, through the system resolver, like the applications' users (/etc/hosts and
search domains count). With `server` (and `port`), by asking that server directly, so an agency's
own DNS server is tested; its answer code is reported, NXDOMAIN and SERVFAIL told apart.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Final

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype

from probe.checks.base import CheckContext, Failure, Outcome
from wire.specs import DnsCheck

_FAMILIES: Final = {"A": socket.AF_INET, "AAAA": socket.AF_INET6, "ANY": socket.AF_UNSPEC}
# ANY asks for both address types (DNS's own ANY query is refused by many servers, RFC 8482).
_TYPES: Final = {"A": ("A",), "AAAA": ("AAAA",), "ANY": ("A", "AAAA")}
_RCODE_MEANING: Final = {
    dns.rcode.NXDOMAIN: "the name does not exist",
    dns.rcode.SERVFAIL: "the server failed to resolve it",
    dns.rcode.REFUSED: "the server refused to answer",
}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


async def check_dns(spec: DnsCheck, *, ctx: CheckContext) -> Outcome:
    expected = [_address(text) for text in spec.expect_addresses]
    if spec.server is None:
        answers = await _system(spec)
    else:
        answers = await _ask_server(spec, ctx=ctx)
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


async def _system(spec: DnsCheck) -> set[IPAddress]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        spec.hostname, None, family=_FAMILIES[spec.record], type=socket.SOCK_STREAM
    )
    # An IPv6 answer may carry a zone ("fe80::1%eth0"); the address alone is compared.
    return {ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos}


async def _ask_server(spec: DnsCheck, *, ctx: CheckContext) -> set[IPAddress]:
    assert spec.server is not None
    # The deny list judges the server's address, as it judges every address a check reaches.
    infos = await ctx.guard.resolve(spec.server, spec.port)
    server = str(infos[0][4][0]).split("%", 1)[0]
    shown = f"{spec.server}:{spec.port}" if spec.server == server else (
        f"{spec.server} ({server}):{spec.port}"
    )  # fmt: skip
    timeout = spec.timeout_seconds or ctx.default_timeout
    answers: set[IPAddress] = set()
    for rdtype in _TYPES[spec.record]:
        query = dns.message.make_query(spec.hostname, rdtype)
        try:
            response, _ = await dns.asyncquery.udp_with_fallback(
                query, server, port=spec.port, timeout=timeout
            )
        except dns.exception.Timeout as exc:
            raise Failure("timeout", f"no answer from DNS server {shown}") from exc
        except dns.exception.DNSException as exc:
            raise Failure("dns", f"DNS server {shown}: {exc}") from exc
        rcode = response.rcode()
        if rcode != dns.rcode.NOERROR:
            name = dns.rcode.to_text(rcode)
            meaning = _RCODE_MEANING.get(rcode, "an error")
            raise Failure("dns", f"{spec.hostname}: {name} from {shown} ({meaning})")
        wanted = dns.rdatatype.from_text(rdtype)
        for rrset in response.answer:  # a CNAME chain ends in the addresses
            if rrset.rdtype == wanted:
                answers.update(ipaddress.ip_address(rdata.address) for rdata in rrset)
    return answers


def _address(text: str) -> IPAddress:
    try:
        return ipaddress.ip_address(text)
    except ValueError as exc:
        raise Failure("config", f"expect_addresses: {text!r} is not an IP address") from exc

"""The probe's deny list: addresses no check or usage source may reach, whatever the catalogue says.

An agency writes the catalogue; the probe runs inside a network the agency does not own. So the
probe refuses, by default, link-local addresses and the cloud metadata services (which hand out
the machine's credentials), and its operator can add networks (its own loopback, management
LANs) and carve exceptions. The check is made on the address actually connected to, after name
resolution: a DNS name that points at a denied address is refused as an IP literal is.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddrInfo = tuple[Any, ...]

# Link-local (where AWS, Azure, GCP, Oracle and OpenStack serve metadata at 169.254.169.254) and
# the metadata addresses outside it: AWS's IPv6 one, GCP's IPv6 one, Alibaba Cloud's.
DEFAULT_DENY_NETWORKS: Final = (
    "169.254.0.0/16",
    "fe80::/10",
    "fd00:ec2::254/128",
    "fd20:ce::254/128",
    "100.100.100.200/32",
)


class BlockedAddress(OSError):
    """A connection to a denied address was refused before any packet was sent."""

    def __init__(self, *, host: str, address: IPAddress, network: IPNetwork) -> None:
        shown = host if host == str(address) else f"{host} ({address})"
        super().__init__(errno.EACCES, f"{shown} is in the probe's deny list ({network})")
        self.host = host
        self.address = address
        self.network = network


def networks(texts: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(text) for text in texts)


def _address(text: str) -> IPAddress:
    address = ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 zone is not part of it
    # ::ffff:169.254.169.254 reaches the IPv4 address: judge it as that.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkGuard:
    """Deny these networks, except where `allow` says otherwise (an exception wins)."""

    deny: tuple[IPNetwork, ...] = networks(DEFAULT_DENY_NETWORKS)
    allow: tuple[IPNetwork, ...] = ()

    def denied(self, address: str) -> IPNetwork | None:
        """The deny network holding `address`, or None when it may be reached."""
        ip = _address(address)
        if any(ip in net for net in self.allow if net.version == ip.version):
            return None
        return next((net for net in self.deny if net.version == ip.version and ip in net), None)

    def check(self, address: str, *, host: str | None = None) -> None:
        network = self.denied(address)
        if network is not None:
            raise BlockedAddress(host=host or address, address=_address(address), network=network)

    def allowed(self, host: str, infos: Sequence[AddrInfo]) -> list[AddrInfo]:
        """The resolved addresses that may be reached; BlockedAddress when none may."""
        kept = [info for info in infos if self.denied(str(info[4][0])) is None]
        if infos and not kept:
            self.check(str(infos[0][4][0]), host=host)
        return kept

    async def resolve(self, host: str, port: int, *, every: bool = False) -> list[AddrInfo]:
        """getaddrinfo for a stream connection, less the denied addresses.

        `every`: refuse the name if any of its addresses is denied (for a caller that must
        connect by name and so cannot choose the address).
        """
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        if every:
            for info in infos:
                self.check(str(info[4][0]), host=host)
        return self.allowed(host, infos)

    async def open_connection(
        self, host: str, port: int, **kwargs: Any
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """asyncio.open_connection to the first checked address of `host` that answers.

        Pass `server_hostname` with `ssl`: the connection is made to an address, not a name.
        """
        error: OSError | None = None
        for info in await self.resolve(host, port):
            try:
                return await asyncio.open_connection(str(info[4][0]), port, **kwargs)
            except OSError as exc:  # refused or unreachable: try the next address
                error = exc
        raise error or OSError(errno.EHOSTUNREACH, f"{host} has no address")

    # --- aiohttp -------------------------------------------------------------------------

    def socket_factory(self, addr_info: AddrInfo) -> socket.socket:
        """For aiohttp's TCPConnector: every connection, IP literals included, passes here."""
        family, type_, proto, _, sockaddr = addr_info
        self.check(str(sockaddr[0]))
        return socket.socket(family=family, type=type_, proto=proto)

    def resolver(self) -> AbstractResolver:
        """For aiohttp's TCPConnector: a name resolves to its allowed addresses only."""
        return _GuardedResolver(self)


class _GuardedResolver(AbstractResolver):
    # The system resolver, as the DNS check uses: /etc/hosts and search domains count.
    def __init__(self, guard: NetworkGuard) -> None:
        self._guard = guard
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        kept = [r for r in results if self._guard.denied(r["host"]) is None]
        if results and not kept:
            self._guard.check(results[0]["host"], host=host)
        return kept

    async def close(self) -> None:
        await self._inner.close()

"""Lock-out: sign-in refused after too many failures for an account or from an address.

An attempt is recorded as a failure before its password is checked, and the record deleted if
it was right, so attempts sent in parallel all count (checking first and recording after would
let a burst through). Counting and recording for one account and one address run under two
transaction-scoped advisory locks (always in that order), so the count is exact. Attempts made
while locked out are answered without being recorded, so the lock-out ends on time.

A name that matches no account is counted under the name itself, exactly as an account would
be: the answers (wrong, then locked out after the same number of tries) say nothing about
whether it exists.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass

import asyncpg
from aiohttp import web

from collector.config import AccountsConfig
from collector.db import Executor


@dataclass(frozen=True)
class Attempt:
    """A recorded attempt (deleted when it succeeds), or the time a lock-out ends."""

    failure_id: int | None
    locked_until: dt.datetime | None


def account_key(account_id: int | None, name: str) -> bytes:
    subject = f"account:{account_id}" if account_id is not None else f"name:{name.casefold()}"
    return hashlib.sha256(subject.encode()).digest()


def client_address(request: web.Request, config: AccountsConfig) -> str:
    """The client's address: behind a trusted proxy, the nearest untrusted X-Forwarded-For
    entry. IPv6 is counted per /64, the block one subscriber usually has."""
    trusted = [ipaddress.ip_network(n, strict=False) for n in config.trusted_proxies]
    # The peer, then what each proxy says it saw, nearest first; stop at the first hop that is
    # not a trusted proxy (the ones before it may be made up by the client).
    hops = [request.remote or ""]
    for line in reversed(request.headers.getall("X-Forwarded-For", []) if trusted else []):
        hops += [h.strip() for h in reversed(line.split(","))]
    address = hops[0]
    for hop in hops:
        address = hop
        if not _within(hop, trusted):
            break
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]  # not an address (a Unix socket, a garbled header): as sent
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _within(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


async def begin(pool: asyncpg.Pool, key: bytes, address: str, config: AccountsConfig) -> Attempt:
    """Record an attempt, or say until when this account or address is locked out."""
    window = dt.timedelta(minutes=config.lockout_minutes)
    async with pool.acquire() as tx, tx.transaction():
        await tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('pantau-signin:' || encode($1, 'hex'), 0)),"
            " pg_advisory_xact_lock(hashtextextended('pantau-signin-address:' || $2, 0))",
            key, address,
        )  # fmt: skip
        # When the count falls below the limit: the window after the failure that would then
        # be the oldest one counted.
        until = await tx.fetchval(
            "SELECT max(u) FROM ("
            " (SELECT at + $3::interval AS u FROM signin_failures"
            "  WHERE account_key = $1 AND at > now() - $3::interval"
            "  ORDER BY at DESC OFFSET $4 - 1 LIMIT 1)"
            " UNION ALL"
            " (SELECT at + $3::interval FROM signin_failures"
            "  WHERE address = $2 AND at > now() - $3::interval"
            "  ORDER BY at DESC OFFSET $5 - 1 LIMIT 1)) t",
            key, address, window,
            config.lockout_account_failures, config.lockout_address_failures,
        )  # fmt: skip
        if until is not None:
            return Attempt(None, until)
        failure_id = await tx.fetchval(
            "INSERT INTO signin_failures (account_key, address) VALUES ($1, $2) RETURNING id",
            key, address,
        )  # fmt: skip
        return Attempt(int(failure_id), None)


async def succeeded(conn: Executor, key: bytes) -> None:
    """The attempt was right: the account's failures are forgotten (the address's are not, or
    one good account would let an address guess at the others without end)."""
    await conn.execute("DELETE FROM signin_failures WHERE account_key = $1", key)


async def forget(conn: Executor, account_id: int) -> None:
    """A new password was set: past failures of the account no longer count."""
    await conn.execute(
        "DELETE FROM signin_failures WHERE account_key = $1", account_key(account_id, "")
    )


async def purge(conn: Executor, config: AccountsConfig) -> None:
    await conn.execute(
        "DELETE FROM signin_failures WHERE at < now() - $1::interval",
        dt.timedelta(minutes=config.lockout_minutes),
    )

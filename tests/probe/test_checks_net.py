"""TCP, DNS and TLS checks against real local servers."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import msgspec
import pytest

from probe.checks import run_check
from probe.checks.base import CheckContext
from tests.probe.servers import Certs, closed_port, serve_tcp, unanswered_port
from wire.messages import CheckResult
from wire.specs import CheckSpec, DnsCheck, TcpCheck, TlsCheck

UNKNOWN = "no-such-host.invalid"  # the reserved TLD never resolves


async def check(ctx: CheckContext, spec: CheckSpec) -> CheckResult:
    result = await run_check(spec, app="registry", ctx=ctx)
    # Every result must pass the collector's validation of the wire format.
    return msgspec.json.decode(msgspec.json.encode(result), type=CheckResult)


# --- TCP ------------------------------------------------------------------------------------


async def test_tcp_open_port(ctx: CheckContext) -> None:
    async with serve_tcp() as port:
        result = await check(ctx, TcpCheck(host="127.0.0.1", port=port))
    assert (result.ok, result.kind, result.check, result.attempts) == (True, "tcp", "tcp", 1)
    assert result.reason is None
    assert result.status_code is None


async def test_tcp_closed_port_is_connect(ctx: CheckContext) -> None:
    result = await check(ctx, TcpCheck(host="127.0.0.1", port=closed_port(), retries=1))
    assert (result.ok, result.reason, result.attempts) == (False, "connect", 2)
    assert result.message


async def test_tcp_unknown_name_is_dns(ctx: CheckContext) -> None:
    result = await check(ctx, TcpCheck(host=UNKNOWN, port=80, timeout_seconds=2))
    assert (result.ok, result.reason) == (False, "dns")
    assert result.duration_seconds < 2


async def test_tcp_unanswered_connect_times_out(ctx: CheckContext) -> None:
    with unanswered_port() as port:
        result = await check(ctx, TcpCheck(host="127.0.0.1", port=port, timeout_seconds=0.3))
    assert (result.ok, result.reason) == (False, "timeout")
    assert 0.3 <= result.duration_seconds < 1


# --- DNS ------------------------------------------------------------------------------------


@pytest.mark.parametrize("record", ["A", "ANY"])
async def test_dns_resolves_to_expected(ctx: CheckContext, record: Literal["A", "ANY"]) -> None:
    spec = DnsCheck(hostname="localhost", record=record, expect_addresses=["127.0.0.1"])
    result = await check(ctx, spec)
    assert (result.ok, result.kind) == (True, "dns")


async def test_dns_resolving_at_all_is_enough_without_expectations(ctx: CheckContext) -> None:
    assert (await check(ctx, DnsCheck(hostname="localhost"))).ok


async def test_dns_missing_expected_address(ctx: CheckContext) -> None:
    spec = DnsCheck(hostname="localhost", record="A", expect_addresses=["127.0.0.1", "10.9.8.7"])
    result = await check(ctx, spec)
    assert (result.ok, result.reason) == (False, "dns")
    assert result.message is not None
    assert "10.9.8.7" in result.message
    assert "127.0.0.1" in result.message


async def test_dns_expected_addresses_compare_as_addresses(ctx: CheckContext) -> None:
    # The same address spelled differently is the same address (a literal needs no server).
    spec = DnsCheck(hostname="::1", record="AAAA", expect_addresses=["0:0:0:0:0:0:0:1"])
    result = await check(ctx, spec)
    assert result.ok, result.message


async def test_dns_unknown_name(ctx: CheckContext) -> None:
    result = await check(ctx, DnsCheck(hostname=UNKNOWN, timeout_seconds=2))
    assert (result.ok, result.reason) == (False, "dns")
    assert result.duration_seconds < 2


async def test_dns_bad_expected_address_is_config(ctx: CheckContext) -> None:
    result = await check(ctx, DnsCheck(hostname="localhost", expect_addresses=["not-an-ip"]))
    assert (result.ok, result.reason) == (False, "config")
    assert "not-an-ip" in (result.message or "")


# --- TLS ------------------------------------------------------------------------------------


async def test_tls_valid_with_ca_file(ctx: CheckContext, certs: Certs) -> None:
    async with serve_tcp(tls=certs.valid) as port:
        spec = TlsCheck(host="127.0.0.1", port=port, ca_file=str(certs.valid.cert))
        result = await check(ctx, spec)
    assert (result.ok, result.kind) == (True, "tls"), result.message
    assert result.tls_expiry == pytest.approx(certs.valid.not_after, abs=1)


async def test_tls_server_name_is_verified(ctx: CheckContext, certs: Certs) -> None:
    async with serve_tcp(tls=certs.valid) as port:
        good = TlsCheck(
            host="127.0.0.1", port=port, server_name="localhost", ca_file=str(certs.valid.cert)
        )
        bad = TlsCheck(
            host="127.0.0.1", port=port, server_name="portal.example", ca_file=str(certs.valid.cert)
        )
        assert (await check(ctx, good)).ok
        result = await check(ctx, bad)
    assert (result.ok, result.reason) == (False, "tls")
    assert "portal.example" in (result.message or "")


async def test_tls_self_signed_without_ca_file(ctx: CheckContext, certs: Certs) -> None:
    async with serve_tcp(tls=certs.valid) as port:
        result = await check(ctx, TlsCheck(host="127.0.0.1", port=port))
    assert (result.ok, result.reason) == (False, "tls")
    assert "self" in (result.message or "")


async def test_tls_expired(ctx: CheckContext, certs: Certs) -> None:
    async with serve_tcp(tls=certs.expired) as port:
        spec = TlsCheck(host="127.0.0.1", port=port, ca_file=str(certs.expired.cert))
        result = await check(ctx, spec)
    assert (result.ok, result.reason) == (False, "tls")
    assert "expired" in (result.message or "")


async def test_tls_too_few_days_left(ctx: CheckContext, certs: Certs) -> None:
    async with serve_tcp(tls=certs.short) as port:
        ca = str(certs.short.cert)
        result = await check(ctx, TlsCheck(host="127.0.0.1", port=port, ca_file=ca))
        relaxed = await check(
            ctx, TlsCheck(host="127.0.0.1", port=port, ca_file=ca, min_days_left=3)
        )
    assert (result.ok, result.reason) == (False, "expiring")
    assert result.message is not None
    assert "5.0 days" in result.message
    assert "min_days_left=14" in result.message
    # The expiry is reported either way, so dashboards can show it before it bites.
    assert result.tls_expiry == pytest.approx(certs.short.not_after, abs=1)
    assert relaxed.ok
    assert relaxed.tls_expiry == result.tls_expiry


async def test_tls_handshake_hangs(ctx: CheckContext) -> None:
    async with serve_tcp() as port:  # accepts, never speaks TLS
        started = time.perf_counter()
        result = await check(ctx, TlsCheck(host="127.0.0.1", port=port, timeout_seconds=0.3))
    assert (result.ok, result.reason) == (False, "timeout")
    assert time.perf_counter() - started < 1


async def test_tls_closed_port(ctx: CheckContext) -> None:
    result = await check(ctx, TlsCheck(host="127.0.0.1", port=closed_port()))
    assert (result.ok, result.reason) == (False, "connect")


async def test_tls_missing_ca_file_is_config(ctx: CheckContext, tmp_path: Path) -> None:
    spec = TlsCheck(host="127.0.0.1", port=closed_port(), ca_file=str(tmp_path / "ca.pem"))
    result = await check(ctx, spec)
    assert (result.ok, result.reason) == (False, "config")


async def test_tls_ca_file_not_pem_is_config(ctx: CheckContext, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate\n")
    result = await check(ctx, TlsCheck(host="127.0.0.1", port=closed_port(), ca_file=str(ca)))
    assert (result.ok, result.reason) == (False, "config")

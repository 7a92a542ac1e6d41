"""DNS checks against a named server (dnsmasq from Debian) and ICMP checks (issue 11, "Probe")."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import dns.asyncquery
import dns.message
import dns.rcode
import msgspec
import pytest
from prometheus_client import CollectorRegistry

from probe.checks import run_check
from probe.checks.base import CheckContext
from probe.metrics import ProbeMetrics
from probe.netguard import NetworkGuard, networks
from tests.probe.servers import probe_context
from tests.tools import require_tools
from wire.messages import CheckResult
from wire.specs import CheckSpec, DnsCheck, IcmpCheck

UNROUTABLE = (
    "198.51.100.1"  # TEST-NET-2 (RFC 5737): never a real host; the echo requests go nowhere
)


async def check(ctx: CheckContext, spec: CheckSpec) -> CheckResult:
    result = await run_check(spec, app="registry", ctx=ctx)
    return msgspec.json.decode(msgspec.json.encode(result), type=CheckResult)


class _ServFail(asyncio.DatagramProtocol):
    """An upstream that answers every query SERVFAIL, so dnsmasq's answer is deterministic."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = dns.message.make_response(dns.message.from_wire(data))
        reply.set_rcode(dns.rcode.SERVFAIL)
        self.transport.sendto(reply.to_wire(), addr)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def servfail() -> AsyncIterator[int]:
    """A DNS server on 127.0.0.1 that answers every query SERVFAIL (dnsmasq waits out an
    upstream's SERVFAIL instead of passing it on, so it cannot play this part quickly)."""
    loop = asyncio.get_running_loop()
    server, _ = await loop.create_datagram_endpoint(_ServFail, local_addr=("127.0.0.1", 0))
    yield int(server.get_extra_info("sockname")[1])
    server.close()


def _free_udp_and_tcp_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1: dnsmasq listens on both."""
    while True:
        port = free_udp_port()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


async def _answers(port: int) -> bool:
    query = dns.message.make_query("simpus.pemda.test", "A")
    with contextlib.suppress(Exception):
        await dns.asyncquery.udp(query, "127.0.0.1", port=port, timeout=0.2)
        return True
    return False


@pytest.fixture
async def dnsmasq(tmp_path: Path) -> AsyncIterator[int]:
    """dnsmasq on 127.0.0.1: simpus.pemda.test has addresses, other pemda.test names do not
    exist. A port taken between choosing it and dnsmasq binding it (other programs run on this
    machine too) makes dnsmasq exit: then it starts again on another port."""
    tools = require_tools({"dnsmasq": "dnsmasq-base"})
    log_path = tmp_path / "dnsmasq.log"
    for _attempt in range(5):
        port = _free_udp_and_tcp_port()
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [tools["dnsmasq"], "--no-daemon", "--conf-file=/dev/null", "--no-resolv",
                 "--no-hosts", f"--port={port}", "--listen-address=127.0.0.1",
                 "--bind-interfaces", "--pid-file=", "--local=/pemda.test/",
                 "--host-record=simpus.pemda.test,10.1.2.3,fd00::3", "--log-queries"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            for _ in range(100):  # until it answers, or exits
                if proc.poll() is not None or await _answers(port):
                    break
                await asyncio.sleep(0.05)
            if proc.poll() is None and await _answers(port):
                yield port
                return
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    pytest.fail(f"dnsmasq did not answer on 127.0.0.1: {log_path.read_text()}")


@pytest.mark.parametrize("record", ["A", "AAAA", "ANY"])
async def test_dns_asks_the_named_server(ctx: CheckContext, dnsmasq: int, record: str) -> None:
    expect = {"A": ["10.1.2.3"], "AAAA": ["fd00::3"], "ANY": ["10.1.2.3", "fd00::3"]}[record]
    spec = msgspec.convert(
        {"type": "dns", "hostname": "simpus.pemda.test", "record": record,
         "server": "127.0.0.1", "port": dnsmasq, "expect_addresses": expect},
        DnsCheck,
    )  # fmt: skip
    result = await check(ctx, spec)
    assert (result.ok, result.reason, result.message) == (True, None, None)


async def test_dns_named_server_missing_address(ctx: CheckContext, dnsmasq: int) -> None:
    spec = DnsCheck(hostname="simpus.pemda.test", record="A", server="127.0.0.1", port=dnsmasq,
                    expect_addresses=["10.9.9.9"])  # fmt: skip
    result = await check(ctx, spec)
    assert (result.ok, result.reason) == (False, "dns")
    assert "resolved to 10.1.2.3; missing 10.9.9.9" in (result.message or "")


async def test_dns_nxdomain_and_servfail_are_told_apart(
    ctx: CheckContext, dnsmasq: int, servfail: int
) -> None:
    nx = await check(ctx, DnsCheck(hostname="nope.pemda.test", server="127.0.0.1", port=dnsmasq))
    fail = await check(ctx, DnsCheck(hostname="x.fail.test", server="127.0.0.1", port=servfail))
    assert (nx.ok, nx.reason, fail.ok, fail.reason) == (False, "dns", False, "dns")
    assert "NXDOMAIN" in (nx.message or "")
    assert "SERVFAIL" in (fail.message or "")
    assert "SERVFAIL" not in (nx.message or "")
    assert "NXDOMAIN" not in (fail.message or "")


async def test_dns_server_that_does_not_answer_times_out(ctx: CheckContext) -> None:
    port = free_udp_port()
    result = await check(
        ctx, DnsCheck(hostname="a.test", server="127.0.0.1", port=port, timeout_seconds=0.5)
    )
    assert (result.ok, result.reason) == (False, "timeout")


async def test_dns_server_in_the_deny_list_is_blocked(dnsmasq: int) -> None:
    guard = NetworkGuard(deny=networks(["127.0.0.0/8"]))
    async with probe_context(guard=guard) as ctx:
        result = await check(
            ctx, DnsCheck(hostname="simpus.pemda.test", server="127.0.0.1", port=dnsmasq)
        )
    assert (result.ok, result.reason) == (False, "blocked")


def test_dns_spec_takes_server_and_port() -> None:
    spec = msgspec.convert({"type": "dns", "hostname": "a.test", "server": "10.0.0.53"}, DnsCheck)
    assert (spec.server, spec.port) == ("10.0.0.53", 53)
    with pytest.raises(msgspec.ValidationError, match="port"):
        msgspec.convert({"type": "dns", "hostname": "a", "server": "x", "port": 0}, DnsCheck)


# --- ICMP -----------------------------------------------------------------------------------


@pytest.fixture
def metrics() -> ProbeMetrics:
    return ProbeMetrics(registry=CollectorRegistry())


@pytest.fixture
async def icmp_ctx(metrics: ProbeMetrics) -> AsyncIterator[CheckContext]:
    async with probe_context() as ctx:
        yield dataclasses.replace(ctx, metrics=metrics)


def sample(metrics: ProbeMetrics, name: str) -> float | None:
    return metrics.registry.get_sample_value(name, {"app": "registry", "check": "icmp"})


async def test_icmp_loopback_answers(icmp_ctx: CheckContext, metrics: ProbeMetrics) -> None:
    result = await check(icmp_ctx, IcmpCheck(host="127.0.0.1", count=3))
    assert (result.ok, result.kind, result.reason) == (True, "icmp", None)
    assert "3/3 replies, 0% loss" in (result.message or "")
    assert 0 < result.duration_seconds < 1  # the average round-trip time
    assert sample(metrics, "pantau_probe_icmp_packet_loss_ratio") == 0
    assert 0 < (sample(metrics, "pantau_probe_icmp_rtt_seconds") or 0) < 1


async def test_icmp_unroutable_is_full_loss(icmp_ctx: CheckContext, metrics: ProbeMetrics) -> None:
    await check(icmp_ctx, IcmpCheck(host="127.0.0.1", count=1))
    result = await check(icmp_ctx, IcmpCheck(host=UNROUTABLE, count=2, timeout_seconds=1))
    assert (result.ok, result.reason) == (False, "timeout")
    assert "0/2 replies, 100% loss" in (result.message or "")
    assert sample(metrics, "pantau_probe_icmp_packet_loss_ratio") == 1
    assert sample(metrics, "pantau_probe_icmp_rtt_seconds") is None


async def test_icmp_slow_answer_is_latency(icmp_ctx: CheckContext) -> None:
    result = await check(icmp_ctx, IcmpCheck(host="127.0.0.1", count=1, max_rtt_seconds=1e-9))
    assert (result.ok, result.reason) == (False, "latency")


async def test_icmp_target_in_the_deny_list_is_blocked() -> None:
    async with probe_context() as ctx:
        result = await check(ctx, IcmpCheck(host="169.254.169.254", count=1))
    assert (result.ok, result.reason) == (False, "blocked")


async def test_icmp_unknown_name_is_dns() -> None:
    async with probe_context() as ctx:
        result = await check(ctx, IcmpCheck(host="no-such-host.invalid", count=1))
    assert (result.ok, result.reason) == (False, "dns")


def test_icmp_spec_is_bounded() -> None:
    spec = msgspec.convert({"type": "icmp", "host": "10.0.0.1"}, IcmpCheck)
    assert (spec.kind, spec.count) == ("icmp", 3)
    with pytest.raises(msgspec.ValidationError, match="count"):
        msgspec.convert({"type": "icmp", "host": "10.0.0.1", "count": 1000}, IcmpCheck)

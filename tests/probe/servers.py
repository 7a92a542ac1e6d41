"""Local targets for the probe's tests: certificates, HTTP(S), raw TCP/TLS servers, a context.

Everything listens on 127.0.0.1 port 0; nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from probe.agent import check_session
from probe.checks.base import CheckContext
from probe.netguard import NetworkGuard
from probe.secrets import SecretRelease

_OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = localhost
[ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,digitalSignature,keyCertSign
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
[ca]
default_ca = selfsigning
[selfsigning]
database = index.txt
new_certs_dir = .
rand_serial = yes
default_md = sha256
policy = anything
unique_subject = no
[anything]
commonName = supplied
"""
_EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class Cert:
    """A self-signed certificate for localhost and 127.0.0.1; `cert` doubles as its CA file."""

    cert: Path
    key: Path

    @property
    def not_after(self) -> float:
        out = subprocess.run(
            ["openssl", "x509", "-in", str(self.cert), "-noout", "-enddate"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return float(ssl.cert_time_to_seconds(out.strip().removeprefix("notAfter=")))

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


@dataclass(frozen=True)
class Certs:
    valid: Cert  # a year
    short: Cert  # five days
    expired: Cert  # January 2020


def make_certs(directory: Path) -> Certs:
    """Generate the test certificates with the openssl CLI (EC keys: fast)."""
    config = directory / "openssl.cnf"
    config.write_text(_OPENSSL_CONFIG)
    (directory / "index.txt").touch()

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    def self_signed(name: str, days: int) -> Cert:
        cert = Cert(directory / f"{name}.pem", directory / f"{name}.key")
        openssl(
            "req",
            "-x509",
            "-config",
            str(config),
            "-extensions",
            "ext",
            *_EC_KEY,
            "-keyout",
            str(cert.key),
            "-out",
            str(cert.cert),
            "-days",
            str(days),
        )
        return cert

    # `req -x509` cannot backdate; `ca -selfsign` takes explicit dates.
    expired = Cert(directory / "expired.pem", directory / "expired.key")
    csr = directory / "expired.csr"
    openssl(
        "req",
        "-new",
        "-config",
        str(config),
        *_EC_KEY,
        "-keyout",
        str(expired.key),
        "-out",
        str(csr),
    )
    openssl(
        "ca",
        "-batch",
        "-config",
        str(config),
        "-selfsign",
        "-notext",
        "-keyfile",
        str(expired.key),
        "-in",
        str(csr),
        "-out",
        str(expired.cert),
        "-startdate",
        "20200101000000Z",
        "-enddate",
        "20200201000000Z",
        "-extensions",
        "ext",
    )
    return Certs(valid=self_signed("valid", 365), short=self_signed("short", 5), expired=expired)


@contextlib.asynccontextmanager
async def serve_app(app: web.Application, *, tls: Cert | None = None) -> AsyncIterator[str]:
    """Run an aiohttp app on 127.0.0.1; yields its base URL (no trailing slash)."""
    # Handlers of clients that gave up (the hang tests) are cancelled, so cleanup is quick.
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls.server_context() if tls else None)
    await site.start()
    try:
        port = runner.addresses[0][1]
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept, say nothing, and close when the client does."""
    try:
        await reader.read()
    except OSError:
        pass
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


@contextlib.asynccontextmanager
async def serve_tcp(*, tls: Cert | None = None, handler: Handler = _silent) -> AsyncIterator[int]:
    """A raw TCP (or TLS) server on 127.0.0.1; yields its port.

    Without TLS it accepts and stays silent; with TLS it completes the handshake only: a client
    that waits for anything more hangs (the TLS timeout test uses the plain one for that).
    """
    server = await asyncio.start_server(
        handler, "127.0.0.1", 0, ssl=tls.server_context() if tls else None
    )
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def closed_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago: connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def unanswered_port() -> Iterator[int]:
    """A port on 127.0.0.1 whose connects hang: its accept queue is full, so SYNs are dropped.

    The only local way to make a TCP connect time out (a black-hole address is not local).
    """
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)  # never accepted: the queue holds one connection
        port: int = listener.getsockname()[1]
        for _ in range(2):
            filler = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        yield port


@contextlib.asynccontextmanager
async def probe_context(
    env: Mapping[str, str] | None = None,
    *,
    default_timeout: float = 2.0,
    guard: NetworkGuard | None = None,
    secrets: SecretRelease | None = None,
    agency: str | None = "portal",
) -> AsyncIterator[CheckContext]:
    """A CheckContext as the probe builds it: a fresh connection per check, the deny list, and
    (as for every job) the agency of the app checked: `portal`, whose secrets are
    PANTAU_SECRET_PORTAL_*."""
    guard = guard or NetworkGuard()
    async with check_session(limit=0, guard=guard) as session:
        yield CheckContext(
            session=session,
            default_timeout=default_timeout,
            env={} if env is None else env,
            secrets=secrets or SecretRelease(),
            guard=guard,
            agency=agency,
        )

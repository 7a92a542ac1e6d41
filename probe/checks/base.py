"""What every check kind and usage source shares: context, outcome, failure mapping, helpers.

A check never raises to its caller. Kind modules return an `Outcome` for what they judge
themselves and let transport errors escape; `outcome_for_exception` is the one place that turns
an exception into a reason from the fixed set in `wire.messages.FailureReason`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import dataclasses
import functools
import importlib
import os
import socket
import ssl
from collections.abc import Awaitable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final, TypeVar
from urllib.parse import unquote, urlsplit

import aiohttp
import msgspec

from probe.metrics import ProbeMetrics
from probe.netguard import BlockedAddress, NetworkGuard
from probe.secrets import SecretRelease
from wire.messages import FailureReason
from wire.specs import BasicAuth

MAX_BODY_BYTES: Final = 1 << 20  # a huge answer must not exhaust the probe's memory
MAX_REDIRECTS: Final = 10
MAX_MESSAGE_CHARS: Final = 300  # wire allows 1024; a reason's message is a hint, not a log
CLOSE_GRACE_SECONDS: Final = 0.5
# CheckResult.tls_expiry and friends must stay within the wire's Timestamp range (2000..2100),
# or the collector would reject the whole batch (certificates "valid until 9999" exist).
MIN_TIMESTAMP: Final = 946_684_800.0
MAX_TIMESTAMP: Final = 4_102_444_800.0

T = TypeVar("T")

# aiohttp >= 3.11 says so itself; older ones wrap the resolver's gaierror.
_DNS_ERROR: tuple[type[Exception], ...] = tuple(
    filter(None, [getattr(aiohttp, "ClientConnectorDNSError", None)])
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckContext:
    """What a check needs besides its spec, built once by the probe.

    `session` should use `aiohttp.TCPConnector(force_close=True, limit=0)` so every check opens
    a fresh connection (and so measures connect and handshake); TLS options go per request.
    Its connector must enforce `guard` too (`probe.agent.check_session` builds such a session).
    """

    session: aiohttp.ClientSession
    default_timeout: float = 10.0
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    secrets: SecretRelease = field(default_factory=SecretRelease)  # env variables it may read
    # The agency of the app being checked: its specs read only PANTAU_SECRET_<AGENCY>_*.
    # The probe sets it per job (`for_agency`); None releases no secret at all.
    agency: str | None = None
    guard: NetworkGuard = field(default_factory=NetworkGuard)  # addresses it may connect to
    metrics: ProbeMetrics | None = None  # for kinds that export their own measurements (icmp)

    def for_agency(self, agency: str) -> CheckContext:
        """This context for a check of an app of `agency`."""
        return dataclasses.replace(self, agency=agency)


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """The verdict of one attempt of a check kind, before timing and retries are added."""

    ok: bool
    reason: FailureReason | None = None
    message: str | None = None
    status_code: int | None = None
    tls_expiry: float | None = None
    duration_seconds: float | None = None  # instead of the attempt's wall time
    packet_loss: float | None = None  # icmp: share of echo requests without a reply


class Failure(Exception):
    """A judged failure raised from inside a check or source (e.g. a missing env variable)."""

    def __init__(self, reason: FailureReason, message: str) -> None:
        super().__init__(message)
        self.reason: FailureReason = reason
        self.message = message


# --- exception -> reason --------------------------------------------------------------------


def classify(exc: BaseException) -> tuple[FailureReason, str]:
    """The reason and a short message for an exception; the one mapping for all kinds.

    Order matters: aiohttp's errors subclass several builtin ones (a certificate error is also a
    connector error and an OSError; TimeoutError is an OSError).
    """
    if isinstance(exc, Failure):
        return exc.reason, exc.message
    if isinstance(exc, BlockedAddress):
        return "blocked", str(exc.strerror)
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, BlockedAddress):
        return "blocked", str(exc.os_error.strerror)
    if isinstance(exc, aiohttp.TooManyRedirects):
        return "redirects", f"stopped after {len(exc.history)} redirects"
    if isinstance(exc, aiohttp.RedirectClientError):
        return "redirects", f"bad redirect: {exc}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return "tls", _tls_message(exc.certificate_error)
    if isinstance(exc, aiohttp.ClientSSLError):
        return "tls", _tls_message(exc.os_error)
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc, _DNS_ERROR) or isinstance(exc.os_error, socket.gaierror):
            return "dns", f"{exc.host} did not resolve: {_os_message(exc.os_error)}"
        return "connect", f"cannot connect to {exc.host}:{exc.port}: {_os_message(exc.os_error)}"
    if isinstance(exc, ssl.SSLError):  # includes certificate verification errors
        return "tls", _tls_message(exc)
    if isinstance(exc, socket.gaierror):
        return "dns", f"name did not resolve: {_os_message(exc)}"
    if isinstance(exc, TimeoutError):  # one of the client's own (the deadline's: see bounded)
        return "timeout", "timed out"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "connect", "server closed the connection without answering"
    if isinstance(exc, OSError):  # refused, reset, unreachable
        return "connect", _os_message(exc)
    if isinstance(exc, aiohttp.InvalidURL):
        return "config", f"invalid URL: {exc}"
    return "error", f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def bounded(awaitable: Awaitable[T], *, seconds: float) -> T | Failure:
    """The awaitable's result within `seconds`, or the Failure for whatever went wrong.

    Cancellation from outside still propagates: only the probe's shutdown does that.
    """
    deadline = asyncio.timeout(seconds)
    try:
        async with deadline:
            return await awaitable
    except Exception as exc:
        # Past the deadline, a driver may surface its own error from the interrupted call.
        if deadline.expired():
            return Failure("timeout", f"no answer within {seconds:g} s")
        return Failure(*classify(exc))


def _os_message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _tls_message(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return f"TLS handshake failed: {exc.reason}"
    return f"TLS handshake failed: {exc}"


# --- messages never carry secrets -----------------------------------------------------------


def spec_secrets(spec: msgspec.Struct, *, env: Mapping[str, str]) -> list[str]:
    """Values of the env variables a spec names (`*_env` fields, nested), and URL passwords in them.

    Used to scrub messages: a driver's error could echo a DSN or a header.
    """
    found: list[str] = []
    for name in spec.__struct_fields__:
        value = getattr(spec, name)
        if isinstance(value, msgspec.Struct):
            found.extend(spec_secrets(value, env=env))
        elif name.endswith("_env") and value:
            for var in value.values() if isinstance(value, Mapping) else [value]:
                secret = env.get(var)
                if not secret:
                    continue
                found.append(secret)
                with contextlib.suppress(ValueError):
                    password = urlsplit(secret).password
                    if password:
                        found.extend({password, unquote(password)})
    return found


def clean_message(message: str | None, *, secrets: Iterable[str] = ()) -> str | None:
    """Scrub secrets out of a message and cut it to the wire's limit."""
    if message is None:
        return None
    # Longest first, so a DSN is replaced whole before its password alone.
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            message = message.replace(secret, "***")
    message = message.replace("\x00", "")  # the wire refuses NUL (PostgreSQL text cannot hold it)
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 1] + "…"
    return message


# --- env, auth, bodies, JSON paths ----------------------------------------------------------


def env_value(ctx: CheckContext, name: str) -> str:
    """The value of env variable `name`, if the probe released it to the catalogue.

    An unreleased name is refused before the environment is read; a missing one is the spec's
    fault, named not shown.
    """
    refusal = ctx.secrets.refusal(name, agency=ctx.agency)
    if refusal is not None:
        raise Failure("secret", refusal)
    value = ctx.env.get(name)
    if value is None:
        raise Failure("config", f"environment variable {name} is not set")
    return value


def secret_headers(ctx: CheckContext, headers_env: Mapping[str, str]) -> dict[str, str]:
    """The headers whose values a spec keeps in env variables (`headers_env`)."""
    return {header: env_value(ctx, name) for header, name in headers_env.items()}


def authorization(
    ctx: CheckContext, *, basic: BasicAuth | None = None, bearer_env: str | None = None
) -> str | None:
    """The Authorization header value for basic auth or a bearer token, read from env."""
    if basic is not None and bearer_env is not None:
        raise Failure("config", "basic_auth and bearer_token_env exclude each other")
    if basic is not None:
        if ":" in basic.username:
            raise Failure("config", "basic_auth username must not contain ':'")
        password = env_value(ctx, basic.password_env)
        # By hand: aiohttp's helpers for this changed across the 3.x versions we allow.
        credentials = f"{basic.username}:{password}".encode()
        return f"Basic {base64.b64encode(credentials).decode('ascii')}"
    if bearer_env is not None:
        return f"Bearer {env_value(ctx, bearer_env)}"
    return None


async def read_body(resp: aiohttp.ClientResponse, *, limit: int = MAX_BODY_BYTES) -> bytes:
    """At most `limit` bytes of the body; the rest is left unread (the connection is closed)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await resp.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


MISSING: Final = object()


def json_lookup(doc: object, path: str) -> object:
    """The value at a dotted path (`data.items.0.count`), or MISSING.

    Numbers index lists; keys that contain a dot cannot be addressed.
    """
    node = doc
    for part in path.split("."):
        if isinstance(node, dict):
            if part not in node:
                return MISSING
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return MISSING
    return node


def clamp_timestamp(ts: float) -> float:
    return min(max(ts, MIN_TIMESTAMP), MAX_TIMESTAMP)


# --- TLS ------------------------------------------------------------------------------------


class _PeerCert:
    """Box for the peer certificate's notAfter of the connection a check opened."""

    __slots__ = ("not_after",)

    def __init__(self) -> None:
        self.not_after: float | None = None


_PEER_CERT: contextvars.ContextVar[_PeerCert | None] = contextvars.ContextVar(
    "pantau_peer_cert", default=None
)


class _RecordingSSLObject(ssl.SSLObject):
    """Records the peer certificate's expiry as soon as the handshake completes.

    aiohttp releases (with force_close: closes) the connection as soon as a short body has been
    read, often before the caller sees the response, so `resp.connection` cannot be relied on.
    The transport runs in a copy of the check's context, so the box found here is the check's.
    """

    def do_handshake(self) -> None:
        super().do_handshake()
        box = _PEER_CERT.get()
        if box is not None:
            box.not_after = cert_not_after(self)


@contextlib.contextmanager
def capture_peer_cert() -> Iterator[_PeerCert]:
    """Within this block, TLS handshakes made with `tls_context` contexts record their expiry."""
    box = _PeerCert()
    token = _PEER_CERT.set(box)
    try:
        yield box
    finally:
        _PEER_CERT.reset(token)


def _client_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies chain and hostname by default
    ctx.sslobject_class = _RecordingSSLObject
    return ctx


@functools.cache
def _system_context() -> ssl.SSLContext:
    # Cached: loading the system CA bundle costs ~20 ms of blocked event loop.
    ctx = _client_context()
    ctx.load_default_certs()
    return ctx


@functools.cache
def _unverified_context() -> ssl.SSLContext:
    ctx = _client_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def tls_context(*, verify: bool = True, ca_file: str | None = None) -> ssl.SSLContext:
    """A client context: system CAs, or only `ca_file` (read each time: it may be rotated)."""
    if not verify:
        return _unverified_context()
    if ca_file is None:
        return _system_context()
    ctx = _client_context()
    try:
        ctx.load_verify_locations(cafile=ca_file)
    except (OSError, ValueError) as exc:  # missing, unreadable, or not PEM
        raise Failure("config", f"cannot load CA file {ca_file}: {_os_message(exc)}") from exc
    return ctx


def cert_not_after(ssl_object: ssl.SSLObject | None) -> float | None:
    """The peer certificate's notAfter as unix seconds, if it can be known.

    A verified peer's certificate is decoded by the ssl module; an unverified one is only
    available as DER, which needs the optional `cryptography` package.
    """
    if ssl_object is None:
        return None
    cert = ssl_object.getpeercert()
    not_after = cert.get("notAfter") if cert else None
    if isinstance(not_after, str):
        return float(ssl.cert_time_to_seconds(not_after))
    der = ssl_object.getpeercert(binary_form=True)
    return _der_not_after(der) if der else None


def _der_not_after(der: bytes) -> float | None:
    try:
        x509 = importlib.import_module("cryptography.x509")
    except ImportError:
        return None
    try:
        return float(x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp())
    except (ValueError, AttributeError):  # unparsable, or a cryptography older than 42
        return None


async def close_stream(writer: asyncio.StreamWriter, *, grace: float = CLOSE_GRACE_SECONDS) -> None:
    """Close cleanly, but a peer that never acknowledges the close cannot fail a passed check."""
    writer.close()
    try:
        async with asyncio.timeout(grace):
            await writer.wait_closed()
    except (TimeoutError, OSError):
        writer.transport.abort()

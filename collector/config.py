"""Collector configuration: YAML file plus environment, validated into frozen types at start-up."""

from __future__ import annotations

import ipaddress
import os
import zoneinfo
from pathlib import Path
from typing import Annotated

import msgspec

from collector.state.machine import Thresholds
from collector.state.rules import StateSettings
from wire.catalog import Email
from wire.files import FileError, load_yaml_as
from wire.specs import EnvName, Slug

Port = Annotated[int, msgspec.Meta(ge=0, le=65_535)]
Bytes = Annotated[int, msgspec.Meta(ge=1024, le=1 << 30)]
Seconds = Annotated[float, msgspec.Meta(gt=0, le=86_400)]


class ConfigError(Exception):
    """Names the file, the field and the reason."""


class Listen(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: Port = 8080


class Limits(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    max_body_bytes: Bytes = 8 << 20  # as received (compressed or not)
    max_decompressed_bytes: Bytes = 32 << 20  # after gzip: a small body can inflate hugely
    # A request head must be complete this long after the connection opened or its previous
    # response was sent; else the connection is closed (also how long idle keep-alive lasts).
    header_timeout_seconds: Seconds = 15.0
    # The whole body must arrive within this; else 408. Raise it for slow links and big batches.
    body_timeout_seconds: Seconds = 60.0
    # Connections open at once; more are answered 503 and closed at once (slowloris, floods).
    max_connections: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 1000


class RetentionConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Raw results and usage samples older than this are dropped (whole monthly partitions) and
    # refused at ingest; the hourly and daily aggregates are kept.
    raw_days: Annotated[int, msgspec.Meta(ge=7, le=3650)] = 90
    rollup_seconds: Seconds = 300.0  # how often the aggregates are brought up to date


class StateConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Defaults of the state rules; each app may set its own thresholds and quorum."""

    failure_threshold: Annotated[int, msgspec.Meta(ge=1, le=100)] = 3
    success_threshold: Annotated[int, msgspec.Meta(ge=1, le=100)] = 2
    quorum: Annotated[int, msgspec.Meta(ge=1, le=100)] = 1
    # An app without a result for this many check intervals is `unknown`.
    stale_after_intervals: Annotated[float, msgspec.Meta(ge=1, le=100)] = 3.0
    default_interval_seconds: Seconds = 60.0  # the probes' default check interval
    evaluate_seconds: Seconds = 5.0


class SmtpConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The mail server the monthly review is sent through."""

    host: Annotated[str, msgspec.Meta(min_length=1, max_length=253)]
    port: Port = 587
    # STARTTLS on a plain connection (port 587); `tls: true` instead for implicit TLS (port 465).
    starttls: bool = True
    tls: bool = False
    username: str | None = None
    password_env: EnvName | None = None  # the password is read from this environment variable
    sender: Email = msgspec.field(name="from")
    ca_file: str | None = None  # CA bundle that signed the server's certificate (else the system's)
    timeout_seconds: Seconds = 30.0

    def __post_init__(self) -> None:
        if self.starttls and self.tls:
            raise ValueError("`starttls` and `tls` exclude each other; set `starttls: false`")
        if (self.username is None) != (self.password_env is None):
            raise ValueError("`username` and `password_env` go together")

    def password(self) -> str | None:
        if self.password_env is None:
            return None
        value = os.environ.get(self.password_env)
        if not value:
            raise ConfigError(
                f"smtp.password_env: environment variable {self.password_env} is unset"
            )
        return value


class ReviewMailConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """When and to whom the monthly review is mailed (needs `smtp`)."""

    day: Annotated[int, msgspec.Meta(ge=1, le=28)] = 2  # of the month after the review's month
    hour: Annotated[int, msgspec.Meta(ge=0, le=23)] = 8
    timezone: str = "Asia/Jakarta"
    lang: Annotated[str, msgspec.Meta(pattern="^(id|en)$")] = "id"
    # The regency-wide review goes to these addresses and to the catalogue e-mail of
    # `regency_agency` (Diskominfo); each agency's own review to its catalogue `email`.
    regency_recipients: list[Email] = []
    regency_agency: Slug | None = "diskominfo"
    # A failed send is tried again this many times, waiting retry_seconds, then twice that...
    retries: Annotated[int, msgspec.Meta(ge=0, le=10)] = 4
    retry_seconds: Seconds = 60.0


class DatabaseConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Set when the collector reaches PostgreSQL through pgbouncer in transaction mode
    # (pool_mode = transaction): no prepared-statement cache (a statement prepared on one server
    # connection is not there on the next), and no LISTEN for token revocations (notifications
    # reach whichever client holds the server connection), so tokens are checked in the
    # database on every request instead of cached.
    pgbouncer: bool = False

    def statement_cache_size(self) -> int:
        return 0 if self.pgbouncer else 100


class PasswordHashing(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Argon2id parameters. The defaults are RFC 9106's second recommendation (about 0.1 s on one
    core); the minimums are OWASP's. A stored hash made with other parameters is redone at its
    account's next sign-in."""

    time_cost: Annotated[int, msgspec.Meta(ge=2, le=20)] = 3
    memory_kib: Annotated[int, msgspec.Meta(ge=19_456, le=1 << 21)] = 65_536
    parallelism: Annotated[int, msgspec.Meta(ge=1, le=16)] = 4


class AccountsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """People's accounts in the portal: cookies, session lifetimes, lock-out, reset links."""

    # The session cookie is `Secure` (sent over https only) and named `__Host-pantau_session`.
    # Set false only when the portal is served over plain http (`make run`, tests on 127.0.0.1).
    cookie_secure: bool = True
    session_idle_minutes: Annotated[int, msgspec.Meta(ge=1, le=7 * 24 * 60)] = 60
    session_max_hours: Annotated[int, msgspec.Meta(ge=1, le=31 * 24)] = 12
    # Sign-in refused (429) for an account after this many failures, and for a client address
    # after `lockout_address_failures`, within the last `lockout_minutes`.
    lockout_account_failures: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 5
    lockout_address_failures: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 20
    lockout_minutes: Annotated[int, msgspec.Meta(ge=1, le=24 * 60)] = 15
    reset_link_hours: Annotated[int, msgspec.Meta(ge=1, le=24 * 14)] = 24
    password_min_length: Annotated[int, msgspec.Meta(ge=8, le=128)] = 12
    password_hashing: PasswordHashing = PasswordHashing()
    # Reverse proxies (addresses or networks) whose X-Forwarded-For names the client: lock-out
    # counts per client address, and behind a proxy every request comes from the proxy.
    trusted_proxies: list[str] = []

    def __post_init__(self) -> None:
        for net in self.trusted_proxies:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f"trusted_proxies: {net!r} is not an address or network") from None


class CollectorConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    listen: Listen = Listen()
    # Unset: DATABASE_URL from the environment, else an embedded PostgreSQL (development only).
    database_url_env: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = (
        "DATABASE_URL"
    )
    # Catalogue reads and the portal without a token or an account; else any token or account.
    public_catalog: bool = True
    # Owners' e-mail and phone in the catalogue API and portal for callers without an admin or
    # agency token. Personal data: off unless the owners agreed to be published.
    public_contacts: bool = False
    metrics_refresh_seconds: Seconds = 5.0
    partitions_ahead_months: Annotated[int, msgspec.Meta(ge=1, le=24)] = 3
    db_pool_max: Annotated[int, msgspec.Meta(ge=2, le=200)] = 10
    database: DatabaseConfig = DatabaseConfig()
    base_url: str | None = None  # public URL of the portal, for links in alerts and reports
    timezone: str = "Asia/Jakarta"
    limits: Limits = Limits()
    state: StateConfig = StateConfig()
    retention: RetentionConfig = RetentionConfig()
    smtp: SmtpConfig | None = None
    review_mail: ReviewMailConfig | None = None  # unset: the review is not mailed
    accounts: AccountsConfig = AccountsConfig()

    def state_settings(self) -> StateSettings:
        s = self.state
        return StateSettings(
            thresholds=Thresholds(
                failure=s.failure_threshold, success=s.success_threshold, quorum=s.quorum
            ),
            default_interval_seconds=s.default_interval_seconds,
            stale_after_intervals=s.stale_after_intervals,
            timezone=self.timezone,
        )

    def database_url(self) -> str | None:
        return os.environ.get(self.database_url_env) or None


def load_config(path: Path | None) -> CollectorConfig:
    """Read `path` (or defaults when None); any error names the file, field and reason."""
    if path is None:
        return CollectorConfig()
    try:
        cfg = load_yaml_as(path, CollectorConfig)
    except FileError as exc:
        raise ConfigError(str(exc)) from exc
    zones = [("$.timezone", cfg.timezone)]
    if cfg.review_mail is not None:
        zones.append(("$.review_mail.timezone", cfg.review_mail.timezone))
        if cfg.smtp is None:
            raise ConfigError(f"{path}: `review_mail` needs `smtp` (the mail server) - at `$.smtp`")
    if cfg.base_url is not None:
        scheme = cfg.base_url.split(":", 1)[0].lower()
        if scheme == "http" and cfg.accounts.cookie_secure:
            raise ConfigError(
                f"{path}: base_url is http://, and browsers send a Secure cookie over https only:"
                " no one could stay signed in; serve the portal over https, or set"
                " `accounts.cookie_secure: false` - at `$.accounts.cookie_secure`"
            )
        if scheme == "https" and not cfg.accounts.cookie_secure:
            raise ConfigError(
                f"{path}: base_url is https://, so the session cookie must be Secure; remove"
                " `accounts.cookie_secure: false` - at `$.accounts.cookie_secure`"
            )
    for where, name in zones:
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"{path}: unknown time zone {name!r} - at `{where}`") from exc
    return cfg

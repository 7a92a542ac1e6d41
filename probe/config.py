"""Probe configuration: YAML plus environment, validated into frozen types at start-up."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Annotated

import msgspec

from probe.netguard import NetworkGuard, networks
from probe.secrets import NEVER_RELEASED, SecretRelease
from wire.files import FileError, load_yaml_as
from wire.messages import ProbeName
from wire.specs import SECRET_ENV_PATTERN, EnvName, Slug

Seconds = Annotated[float, msgspec.Meta(gt=0, le=86_400)]


class ConfigError(Exception):
    """Names the file, the field and the reason."""


class Collector(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    url: Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s]+$")]
    token_env: EnvName = "PANTAU_PROBE_TOKEN"  # noqa: S105 (a variable name; the token never sits in a file)
    tls_verify: bool = True
    ca_file: str | None = None
    # Cap of the backoff between failed pushes: low, so an outage's end is noticed in seconds.
    retry_max_seconds: Annotated[float, msgspec.Meta(ge=0.1, le=300)] = 5.0


class Spool(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    path: str = "/var/lib/pantau-probe/spool.db"
    max_bytes: Annotated[int, msgspec.Meta(ge=1 << 20)] = 512 << 20


class Defaults(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    interval_seconds: Annotated[float, msgspec.Meta(ge=1, le=86_400)] = 60.0
    timeout_seconds: Seconds = 10.0
    usage_interval_seconds: Annotated[float, msgspec.Meta(ge=1, le=86_400)] = 300.0


class Targets(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    refresh_seconds: Annotated[float, msgspec.Meta(ge=1, le=86_400)] = 60.0
    # Standalone mode: read the apps from a local catalogue file instead of the collector.
    catalog_file: str | None = None


class Batch(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    max_items: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 1000
    max_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 5.0


class Listen(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65_535)] = 9470


class ProbeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    collector: Collector
    zone: Slug
    name: ProbeName = msgspec.field(default_factory=lambda: f"probe-{socket.gethostname()}"[:128])
    concurrency: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 200
    defaults: Defaults = Defaults()
    targets: Targets = Targets()
    spool: Spool = Spool()
    batch: Batch = Batch()
    metrics_listen: Listen | None = None  # serve the probe's own /metrics when set
    # The PANTAU_SECRET_* variables the catalogue may use; unset: all of them.
    secrets: list[EnvName] | None = None
    # Added to the built-in deny list (link-local, cloud metadata); `allow_networks` wins.
    deny_networks: list[str] = []
    allow_networks: list[str] = []

    def __post_init__(self) -> None:
        token_env = self.collector.token_env
        if SECRET_ENV_PATTERN.fullmatch(token_env):
            raise ValueError(
                f"collector.token_env: {token_env} matches PANTAU_SECRET_*, which catalogue"
                " specs may read; name the token variable otherwise"
            )
        for name in self.secrets or []:
            if name in NEVER_RELEASED or name == token_env:
                raise ValueError(f"secrets: {name} belongs to the probe and is never released")
            if not SECRET_ENV_PATTERN.fullmatch(name):
                raise ValueError(f"secrets: {name} does not match PANTAU_SECRET_[A-Z0-9_]+")
        for field in ("deny_networks", "allow_networks"):
            for text in getattr(self, field):
                try:
                    ipaddress.ip_network(text)
                except ValueError as exc:
                    raise ValueError(f"{field}: {text!r} is not a network: {exc}") from exc

    def secret_release(self) -> SecretRelease:
        return SecretRelease(
            names=None if self.secrets is None else frozenset(self.secrets),
            withheld=NEVER_RELEASED | {self.collector.token_env},
        )

    def network_guard(self) -> NetworkGuard:
        default = NetworkGuard()
        return NetworkGuard(
            deny=default.deny + networks(self.deny_networks),
            allow=networks(self.allow_networks),
        )

    def token(self) -> str:
        value = os.environ.get(self.collector.token_env, "")
        if not value:
            raise ConfigError(
                f"environment variable {self.collector.token_env} (the probe token) is not set"
            )
        return value


def load_config(path: Path) -> ProbeConfig:
    try:
        return load_yaml_as(path, ProbeConfig)
    except FileError as exc:
        raise ConfigError(str(exc)) from exc

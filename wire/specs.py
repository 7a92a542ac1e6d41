"""Check and usage specifications: what the catalogue stores and the probe executes.

Secrets are never carried here: a spec names an environment variable (`*_env`) that the probe
reads at check time, so the catalogue, the API and the database hold no credentials.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec

from wire.text import FilePath, Hostname, line, lines, one_line_pattern

Slug = Annotated[
    str, msgspec.Meta(pattern=one_line_pattern(r"^[a-z0-9][a-z0-9_-]{0,62}$"), max_length=63)
]
EnvName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)]
Seconds = Annotated[float, msgspec.Meta(gt=0, le=86_400)]
Port = Annotated[int, msgspec.Meta(ge=1, le=65_535)]
# No user:password@ in the address: credentials come from environment variables.
Url = Annotated[
    str,
    msgspec.Meta(
        pattern=one_line_pattern(
            r"^https?://[^\s/?#@\x00-\x1f\x7f-\x9f]+([/?#][^\s\x00-\x1f\x7f-\x9f]*)?$"
        ),
        max_length=2048,
    ),
]
# Bounds (docs/configuration.md, "Limits"): no field of a spec can grow without limit.
# An HTTP header: an RFC 9110 token as the name; one line of at most 512 characters as the value.
HeaderName = Annotated[
    str,
    msgspec.Meta(
        pattern=one_line_pattern(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"), min_length=1, max_length=128
    ),
]
Headers = Annotated[
    dict[HeaderName, Annotated[str, line(max_length=512)]], msgspec.Meta(max_length=10)
]
LabelName = Annotated[
    str, msgspec.Meta(pattern=one_line_pattern(r"^[a-zA-Z_][a-zA-Z0-9_]*$"), max_length=128)
]
Labels = Annotated[
    dict[LabelName, Annotated[str, line(max_length=256)]], msgspec.Meta(max_length=16)
]
JsonPath = Annotated[str, line(min_length=1, max_length=256)]
Username = Annotated[str, line(max_length=256)]
StatusList = Annotated[
    list[Annotated[int, msgspec.Meta(ge=100, le=599)]], msgspec.Meta(max_length=20)
]
BodyText = Annotated[str, lines(max_length=1024)]  # body_contains, body_regex: may span lines
Addresses = Annotated[
    list[Annotated[str, line(min_length=1, max_length=64)]], msgspec.Meta(max_length=16)
]
MetricName = Annotated[
    str,
    msgspec.Meta(
        pattern=one_line_pattern(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"), min_length=1, max_length=200
    ),
]
SqlQuery = Annotated[str, lines(min_length=1, max_length=4096)]


class BasicAuth(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    username: Username
    password_env: EnvName


class JsonCondition(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """A value in the JSON answer: `path` is dotted (`data.status`, `items.0.ok`)."""

    path: JsonPath
    op: Literal["eq", "ne", "lt", "le", "gt", "ge", "contains", "exists"] = "eq"
    value: Annotated[str, line(max_length=1024)] | int | float | bool | None = None


class CheckBase(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, omit_defaults=True
):
    # `name` tells two checks of one app apart; it defaults to the kind.
    name: Slug | None = None
    interval_seconds: Seconds | None = None  # None: the probe's default
    timeout_seconds: Seconds | None = None
    retries: Annotated[int, msgspec.Meta(ge=0, le=5)] = 0

    @property
    def kind(self) -> str:
        return type(self).__struct_config__.tag  # type: ignore[return-value]

    @property
    def check_name(self) -> str:
        return self.name or self.kind


# A quantified group that itself ends in a quantifier, like (a+)+ or (\w+\s?)*: such patterns can
# backtrack for minutes on an unlucky body, and Python's re cannot be interrupted meanwhile.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}?]\)[+*{]")


class HttpCheck(CheckBase, tag="http", frozen=True, kw_only=True):
    url: Url
    method: Literal["GET", "HEAD", "POST", "PUT", "OPTIONS"] = "GET"
    headers: Headers = {}
    basic_auth: BasicAuth | None = None
    bearer_token_env: EnvName | None = None
    expect_status: StatusList = []  # empty: any 2xx
    body_contains: BodyText | None = None
    body_regex: BodyText | None = None
    json: JsonCondition | None = None
    max_latency_seconds: Seconds | None = None
    follow_redirects: bool = True
    tls_verify: bool = True
    ca_file: FilePath | None = None

    def __post_init__(self) -> None:
        if self.body_regex is not None:
            try:
                re.compile(self.body_regex)
            except re.error as exc:
                raise ValueError(f"body_regex is not a valid regular expression: {exc}") from exc
            if _NESTED_QUANTIFIER.search(self.body_regex):
                raise ValueError(
                    "body_regex nests quantifiers (like (a+)+): it could run for minutes"
                )


class TcpCheck(CheckBase, tag="tcp", frozen=True, kw_only=True):
    host: Hostname
    port: Port


class DnsCheck(CheckBase, tag="dns", frozen=True, kw_only=True):
    hostname: Hostname
    record: Literal["A", "AAAA", "ANY"] = "ANY"
    expect_addresses: Addresses = []  # empty: resolving at all is success


class TlsCheck(CheckBase, tag="tls", frozen=True, kw_only=True):
    host: Hostname
    port: Port = 443
    server_name: Hostname | None = None  # SNI; defaults to host
    min_days_left: Annotated[int, msgspec.Meta(ge=0, le=3650)] = 14
    ca_file: FilePath | None = None


CheckSpec = HttpCheck | TcpCheck | DnsCheck | TlsCheck


class JsonSource(
    msgspec.Struct, tag="json", frozen=True, forbid_unknown_fields=True, omit_defaults=True
):
    url: Url
    path: JsonPath
    headers: Headers = {}
    bearer_token_env: EnvName | None = None
    tls_verify: bool = True


class PrometheusSource(
    msgspec.Struct, tag="prometheus", frozen=True, forbid_unknown_fields=True, omit_defaults=True
):
    url: Url
    metric: MetricName
    labels: Labels = {}  # exact matchers; matching series are summed
    tls_verify: bool = True


class SqlSource(
    msgspec.Struct, tag="sql", frozen=True, forbid_unknown_fields=True, omit_defaults=True
):
    driver: Literal["postgresql", "mysql"]
    dsn_env: EnvName  # the DSN (with its password) lives only in the probe's environment
    query: SqlQuery


class PushSource(
    msgspec.Struct, tag="push", frozen=True, forbid_unknown_fields=True, omit_defaults=True
):
    """The app posts its own count to the collector (`POST /api/v1/usage`)."""


UsageSource = JsonSource | PrometheusSource | SqlSource | PushSource


class UsageSpec(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, omit_defaults=True
):
    metric: Slug  # logins, transactions, visits, active_users, ...
    kind: Literal["counter", "gauge"]
    source: UsageSource
    interval_seconds: Seconds | None = None  # None: the probe's usage default (300 s)
    timeout_seconds: Seconds | None = None

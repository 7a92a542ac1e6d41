"""Check and usage specifications: what the catalogue stores and the probe executes.

Secrets are never carried here: a spec names an environment variable (`*_env`) that the probe
reads at check time, so the catalogue, the API and the database hold no credentials. The names a
spec may use all match `SECRET_ENV_PATTERN`: the probe's operator releases variables for the
catalogue by giving them that prefix, and the probe's own variables (its token, DATABASE_URL)
are out of reach whatever an agency writes (docs/configuration.md, "Secrets"). A spec of an app
of agency X may name only `PANTAU_SECRET_<X>_...` (`secret_prefix`), so no agency can have the
probe send it another agency's secret (wire/catalog.py checks it, and the probe again).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Annotated, Final, Literal
from urllib.parse import parse_qsl, urlsplit

import msgspec

from wire.text import FilePath, Hostname, line, lines, one_line_pattern

Slug = Annotated[
    str, msgspec.Meta(pattern=one_line_pattern(r"^[a-z0-9][a-z0-9_-]{0,62}$"), max_length=63)
]
EnvName = Annotated[
    str, msgspec.Meta(pattern=one_line_pattern(r"^[A-Za-z_][A-Za-z0-9_]*$"), max_length=128)
]
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

# A `*_env` field of a spec: checked by `check_secret_envs` (which says why a name is refused).
SecretEnv = Annotated[
    str,
    msgspec.Meta(
        pattern=one_line_pattern(r"^[A-Za-z_][A-Za-z0-9_]*$"),
        max_length=128,
        description=(
            "an environment variable of the probe, matching PANTAU_SECRET_[A-Z0-9_]+ and, in an"
            " app, starting with PANTAU_SECRET_<AGENCY>_ (the app's agency id upper-cased,"
            " '-' as '_')"
        ),
        examples=["PANTAU_SECRET_DINKES_SIMPUS_DSN"],
    ),
]

# Header name -> a released env variable holding its value (an API key, a signature...).
HeadersEnv = Annotated[dict[HeaderName, SecretEnv], msgspec.Meta(max_length=10)]

# --- secrets: which env variables a spec may name, and what it may not carry -----------------

SECRET_ENV_PREFIX: Final = "PANTAU_SECRET_"  # noqa: S105 (a prefix of variable names)
SECRET_ENV_PATTERN: Final = re.compile(r"PANTAU_SECRET_[A-Z0-9_]+")  # used with fullmatch
# A header or query parameter whose name suggests a credential would put that credential in the
# catalogue, which its readers see. Case-insensitive, anywhere in the name; `author` and
# `keyword` are ordinary words, and `sig` / `pass` count only as a whole part of the name.
SECRET_NAME: Final = re.compile(
    r"auth(?!ors?(?![a-z]))|token|secret|key(?!word)|passw|pwd|credential|signature|session|cookie|"
    r"jwt|hmac|private|(?:^|[^a-z])(?:sig|pass)(?:[^a-z]|$)",
    re.IGNORECASE,
)
# Set from the probe's side only (authorization has its own fields; the rest are not secrets).
_NOT_FROM_ENV: Final = frozenset({"authorization", "proxy-authorization", "cookie", "host"})


def check_secret_envs(spec: msgspec.Struct) -> None:
    """Every `*_env` field (a name, or a mapping to names) matches SECRET_ENV_PATTERN."""
    for field in spec.__struct_fields__:
        value = getattr(spec, field)
        if not field.endswith("_env") or value is None:
            continue
        named = value.items() if isinstance(value, Mapping) else [(None, value)]
        for key, name in named:
            if not SECRET_ENV_PATTERN.fullmatch(name):
                where = field if key is None else f"{field}.{key}"
                raise ValueError(
                    f"{where}: {name!r} is not a catalogue secret; a spec may only name"
                    f" environment variables matching {SECRET_ENV_PREFIX}[A-Z0-9_]+"
                    " (the probe reads no other variable)"
                )


def secret_prefix(agency: str) -> str:
    """What every env name in a spec of an app of `agency` starts with: PANTAU_SECRET_<AGENCY>_.

    The agency id upper-cased with `-` as `_` (`dinkes` -> `PANTAU_SECRET_DINKES_`).
    """
    return f"{SECRET_ENV_PREFIX}{agency.upper().replace('-', '_')}_"


def overlapping_namespace(agency: str, others: Iterable[str]) -> str | None:
    """Another agency whose secret namespace nests with `agency`'s, or None.

    Namespaces are prefixes: `dinkes`'s PANTAU_SECRET_DINKES_ holds `dinkes-kota`'s
    PANTAU_SECRET_DINKES_KOTA_ (and `a-b` and `a_b` share one), so the shorter agency could name
    the longer one's secrets. New agencies are refused such an id.
    """
    mine = secret_prefix(agency)
    for other in others:
        theirs = secret_prefix(other)
        if other != agency and (mine.startswith(theirs) or theirs.startswith(mine)):
            return other
    return None


def namespace_clash(agency: str, other: str) -> str:
    """Why a new agency id is refused: its secret namespace nests with `other`'s."""
    return (
        f"agency id {agency!r} would share secrets with agency {other!r}"
        f" ({secret_prefix(agency)}* and {secret_prefix(other)}* overlap: one agency could name"
        " the other's PANTAU_SECRET_ variables); choose an id that is not the other's plus"
        " '-...' or '_...'"
    )


def secret_env_names(spec: msgspec.Struct, where: str = "") -> Iterator[tuple[str, str]]:
    """(field path, name) for every env name a spec carries, nested structs included."""
    for field in spec.__struct_fields__:
        value = getattr(spec, field)
        path = f"{where}.{field}" if where else field
        if isinstance(value, msgspec.Struct):
            yield from secret_env_names(value, path)
        elif field.endswith("_env") and value is not None:
            if isinstance(value, Mapping):
                yield from ((f"{path}.{key}", name) for key, name in value.items())
            else:
                yield path, value


def foreign_secret(spec: msgspec.Struct, *, agency: str) -> tuple[str, str] | None:
    """The first (field path, name) of a spec that is not in `agency`'s namespace, or None."""
    prefix = secret_prefix(agency)
    for path, name in secret_env_names(spec):
        if not name.startswith(prefix) or len(name) == len(prefix):
            return path, name
    return None


def check_headers(headers: Mapping[str, str], headers_env: Mapping[str, str]) -> None:
    for header in headers:
        if SECRET_NAME.search(header):
            raise ValueError(
                f"headers: {header!r} would store a secret in the catalogue; put the value in"
                f" a {SECRET_ENV_PREFIX}* variable on the probe and name it in headers_env"
                " (or use bearer_token_env / basic_auth)"
            )
    for header in headers_env:
        if header.lower() in _NOT_FROM_ENV:
            raise ValueError(f"headers_env: {header!r} cannot be set this way")
        if header.lower() in {h.lower() for h in headers}:
            raise ValueError(f"headers_env: {header!r} is also in headers")


def check_query(url: str) -> None:
    for name, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if SECRET_NAME.search(name):
            raise ValueError(
                f"url: query parameter {name!r} would store a secret in the catalogue; send"
                " the value in a header named in headers_env (or use bearer_token_env /"
                " basic_auth)"
            )


# --- SQL: one read-only SELECT ---------------------------------------------------------------

# The probe runs every query in a read-only transaction with a statement timeout; this refuses
# the obvious at write time, so an agency hears "no" at once instead of reading failures later.
# Words are matched anywhere, also inside literals and comments: parsing two SQL dialects'
# quoting here would be the kind of cleverness a bypass hides in.
# Leading comments are skipped to find the first word, but not MySQL's executable `/*! */`.
_SQL_FIRST_WORD: Final = re.compile(
    # A comment is matched one way only (`[^*]*\*+(?:[^/*][^*]*\*+)*/`): with `.*?` a run of
    # comments could be split in exponentially many ways, and the API would hang on it.
    r"^[\s(]*(?:(?:--[^\n]*\n|/\*(?!!|M!)[^*]*\*+(?:[^/*][^*]*\*+)*/)[\s(]*)*(\w+)"
)
# Statements other than SELECT cannot start the query; these can also hide inside one
# (PostgreSQL's `WITH d AS (DELETE ...)`, `SELECT ... INTO`, `FOR UPDATE`, `LOCK IN SHARE MODE`).
_SQL_WRITES: Final = re.compile(
    r"\b(insert|update|delete|merge|upsert|replace\s+into|truncate|drop|create|alter|"
    r"grant|revoke|into|lock)\b",
    re.IGNORECASE,
)
# Tables and functions that hold or reach credentials, files or other servers; and functions
# that run a query given as text or take a relation by name (`query_to_xml('select ... from
# pg_' || 'shadow', ...)`, `table_to_xml(('pg_'||'authid')::regclass, ...)`, `ts_stat('...')`),
# which would let a query assemble any of the names above out of pieces.
# A guard for the obvious only: the DSN's least-privilege, read-only account is the control.
_SQL_DENIED: Final = re.compile(
    r"\b(pg_shadow|pg_authid|pg_user_mappings?|pg_hba_file_rules|pg_read_\w+|pg_\w*file\w*|"
    r"pg_ls_\w+|lo_\w+|loread|lowrite|dblink\w*|copy|"
    r"set_config|pg_terminate_backend|pg_cancel_backend|pg_reload_conf|"
    r"\w*_to_xml\w*|query_to_\w+|cursor_to_\w+|table_to_\w+|database_to_\w+|schema_to_\w+|"
    r"ts_stat|ts_rewrite|\w*regclass|\w*regproc\w*|execute|prepare|pg_sleep\w*|benchmark|sleep(?=\s*\()|"
    r"load_file|outfile|dumpfile|sys_exec|sys_eval|mysql\s*\.\s*\w+|"
    r"information_schema\s*\.\s*user_privileges)\b",
    re.IGNORECASE,
)


def check_sql(query: str) -> None:
    """Refuse what is not a single SELECT (or WITH ... SELECT) reading ordinary tables."""
    body = query.strip().rstrip(";").rstrip()
    # Quoted identifiers ("pg_shadow", `mysql`.`user`) are read as plain words.
    words = body.replace('"', " ").replace("`", " ")
    if ";" in body:
        raise ValueError("query: one statement only (a ';' separates statements)")
    first = _SQL_FIRST_WORD.match(body)
    if first is None or first.group(1).lower() not in ("select", "with"):
        raise ValueError("query: must be a single SELECT (or WITH ... SELECT)")
    if re.search(r"\bU&['\"]", body, re.IGNORECASE):
        raise ValueError("query: Unicode escapes (U&'...') are refused")
    write = _SQL_WRITES.search(words)
    if write is not None:
        raise ValueError(
            f"query: {write.group(1).upper()!r} is refused: usage queries only read (the word"
            " is refused also inside a string or comment)"
        )
    denied = _SQL_DENIED.search(re.sub(r"\s*\.\s*", ".", words))
    if denied is not None:
        raise ValueError(
            f"query: {denied.group(1)!r} is refused: it reads credentials, files or other"
            " servers, runs a query given as text, or only makes the query slow"
        )


class BasicAuth(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    username: Username
    password_env: SecretEnv

    def __post_init__(self) -> None:
        check_secret_envs(self)


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
    # Header name -> env variable holding its value (an API key, a signature...).
    headers_env: HeadersEnv = {}
    basic_auth: BasicAuth | None = None
    bearer_token_env: SecretEnv | None = None
    expect_status: StatusList = []  # empty: any 2xx
    body_contains: BodyText | None = None
    body_regex: BodyText | None = None
    json: JsonCondition | None = None
    max_latency_seconds: Seconds | None = None
    follow_redirects: bool = True
    tls_verify: bool = True
    ca_file: FilePath | None = None

    def __post_init__(self) -> None:
        check_secret_envs(self)
        check_headers(self.headers, self.headers_env)
        check_query(self.url)
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
    # Ask this DNS server (an address, or a name the system resolves) instead of the system
    # resolver: tests an agency's own server. ANY then asks for both A and AAAA.
    server: Hostname | None = None
    port: Port = 53


class IcmpCheck(CheckBase, tag="icmp", frozen=True, kw_only=True):
    """Echo requests (ping): for servers that answer nothing else."""

    host: Hostname
    count: Annotated[int, msgspec.Meta(ge=1, le=10)] = 3
    max_rtt_seconds: Seconds | None = None  # slower on average: reason "latency"


class TlsCheck(CheckBase, tag="tls", frozen=True, kw_only=True):
    host: Hostname
    port: Port = 443
    server_name: Hostname | None = None  # SNI; defaults to host
    min_days_left: Annotated[int, msgspec.Meta(ge=0, le=3650)] = 14
    ca_file: FilePath | None = None


CheckSpec = HttpCheck | TcpCheck | DnsCheck | TlsCheck | IcmpCheck


class JsonSource(
    msgspec.Struct, tag="json", frozen=True, forbid_unknown_fields=True, omit_defaults=True
):
    url: Url
    path: JsonPath
    headers: Headers = {}
    headers_env: HeadersEnv = {}  # as HttpCheck.headers_env
    bearer_token_env: SecretEnv | None = None
    tls_verify: bool = True

    def __post_init__(self) -> None:
        check_secret_envs(self)
        check_headers(self.headers, self.headers_env)
        check_query(self.url)


class PrometheusSource(
    msgspec.Struct, tag="prometheus", frozen=True, forbid_unknown_fields=True, omit_defaults=True
):
    url: Url
    metric: MetricName
    labels: Labels = {}  # exact matchers; matching series are summed
    tls_verify: bool = True

    def __post_init__(self) -> None:
        check_query(self.url)


class SqlSource(
    msgspec.Struct, tag="sql", frozen=True, forbid_unknown_fields=True, omit_defaults=True
):
    driver: Literal["postgresql", "mysql"]
    dsn_env: SecretEnv  # the DSN (with its password) lives only in the probe's environment
    query: SqlQuery

    def __post_init__(self) -> None:
        check_secret_envs(self)
        check_sql(self.query)


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

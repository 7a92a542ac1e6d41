"""Messages between probe and collector (schema version 1).

Timestamps are unix seconds (float, UTC). A batch is validated whole by the collector: the first
bad item rejects it with the item's path, and nothing of it is stored.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from wire.specs import CheckSpec, Slug, UsageSpec

SCHEMA_VERSION = 1
MAX_BATCH_ITEMS = 10_000

# The fixed set of failure reasons: small on purpose, so it can be a metric label.
FailureReason = Literal[
    "timeout",  # no answer within the check's timeout
    "dns",  # name did not resolve (or not to the expected address)
    "connect",  # connection refused / unreachable / reset
    "tls",  # handshake failed, certificate invalid or expired
    "expiring",  # answered, but the certificate has fewer than min_days_left days left
    "status",  # unexpected HTTP status
    "body",  # body did not contain / match what was expected
    "json",  # JSON condition failed or the answer was not JSON
    "latency",  # answered, but slower than max_latency_seconds
    "redirects",  # too many redirects
    "config",  # the spec cannot run here (missing env variable, unreadable CA file)
    "secret",  # the spec names an env variable the probe does not release to the catalogue
    "blocked",  # the address is in the probe's deny list (metadata, link-local, ...)
    "error",  # anything else (reported with a message)
]
FAILURE_REASONS: tuple[str, ...] = FailureReason.__args__  # type: ignore[attr-defined]

Timestamp = Annotated[float, msgspec.Meta(ge=946_684_800, le=4_102_444_800)]  # 2000..2100
BatchId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]
ProbeName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,128}$")]
# No NUL: PostgreSQL text cannot hold it (it would fail the whole batch at COPY).
Message = Annotated[str, msgspec.Meta(max_length=1024, pattern=r"^[^\x00]*$")]


class Target(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One application as a probe sees it."""

    app: Slug
    agency: Slug
    checks: list[CheckSpec] = []
    usage: list[UsageSpec] = []


class TargetList(msgspec.Struct, frozen=True, kw_only=True):
    zone: Slug
    version: str  # same value as the ETag
    targets: list[Target]


class CheckResult(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    app: Slug
    check: Slug
    kind: Literal["http", "tcp", "dns", "tls", "icmp"]
    ts: Timestamp  # when the check started
    ok: bool
    # Set exactly when ok is false ("latency", "expiring": it answered, too slowly or with a
    # certificate about to expire; the collector counts these as answers, not failures).
    reason: FailureReason | None = None
    message: Message | None = None
    # How long the check took; for icmp the average round-trip time of the replies (the message
    # then gives the packet loss and min/avg/max round-trip times).
    duration_seconds: Annotated[float, msgspec.Meta(ge=0, le=86_400)]
    status_code: Annotated[int, msgspec.Meta(ge=100, le=599)] | None = None
    tls_expiry: Timestamp | None = None  # certificate notAfter, unix seconds
    attempts: Annotated[int, msgspec.Meta(ge=1, le=10)] = 1


class UsageSample(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    app: Slug
    metric: Slug
    kind: Literal["counter", "gauge"]
    ts: Timestamp
    value: Annotated[float, msgspec.Meta(ge=0, le=1e18)]


class ResultBatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    schema: Literal[1] = 1
    probe: ProbeName
    batch_id: BatchId  # unique per probe: a retried batch is acknowledged but stored once
    results: Annotated[list[CheckResult], msgspec.Meta(max_length=MAX_BATCH_ITEMS)] = []
    usage: Annotated[list[UsageSample], msgspec.Meta(max_length=MAX_BATCH_ITEMS)] = []


class BatchAck(msgspec.Struct, frozen=True, kw_only=True):
    batch_id: str
    duplicate: bool  # true: this batch was stored before; nothing was stored again
    results: int  # stored
    usage: int  # stored
    dropped: int = 0  # items for apps the probe's zone does not watch (deleted, moved)


class PushedUsage(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """`POST /api/v1/usage`: an app reporting its own count (app-scoped token)."""

    metric: Slug
    kind: Literal["counter", "gauge"]
    value: Annotated[float, msgspec.Meta(ge=0, le=1e18)]
    ts: Timestamp | None = None  # default: time of receipt


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    error: str  # machine-readable code: bad_request, unauthorized, forbidden, not_found, ...
    message: str
    field: str | None = None  # path of the failing field, e.g. `$.results[3].ts`

"""The catalogue's records: the same types serve the YAML file, the CSV import and the REST API."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Literal

import msgspec

from wire.maintenance import MaintenanceWindow
from wire.messages import Target
from wire.specs import CheckSpec, Slug, UsageSpec, foreign_secret, secret_prefix
from wire.text import line, lines, one_line_pattern

ManagedBy = Literal["self", "central", "vendor"]
Lifecycle = Literal["planned", "active", "deprecated", "retired"]
Criticality = Literal["low", "medium", "high"]
# Bounds (docs/configuration.md, "Limits"): however it is sent, an app stays a bounded size.
Text = Annotated[str, lines(max_length=2000)]  # description, contact: may span lines
Name = Annotated[str, line(min_length=1, max_length=200)]
Email = Annotated[
    str,
    msgspec.Meta(
        pattern=one_line_pattern(
            r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f]+\.[^@\s\x00-\x1f\x7f-\x9f]+$"
        ),
        max_length=254,
    ),
]
Phone = Annotated[str, msgspec.Meta(pattern=one_line_pattern(r"^\+?[0-9 ()-]{5,32}$"))]
Tag = Annotated[str, line(min_length=1, max_length=64)]
Tags = Annotated[list[Tag], msgspec.Meta(max_length=50)]
Zones = Annotated[list[Slug], msgspec.Meta(max_length=20)]
Checks = Annotated[list[CheckSpec], msgspec.Meta(max_length=20)]
Usages = Annotated[list[UsageSpec], msgspec.Meta(max_length=10)]
MAX_WINDOWS = 50  # per app
Windows = Annotated[list[MaintenanceWindow], msgspec.Meta(max_length=MAX_WINDOWS)]


class Agency(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    id: Slug
    name: Name
    parent: Slug | None = None
    contact: Text | None = None
    # Probe zones an admin opened to the agency: its agency token may place apps only there.
    zones: list[Slug] = []
    email: Email | None = None  # where the agency's monthly review is mailed


class Owner(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, omit_defaults=True
):
    name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None


class App(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    id: Slug
    name: Name
    agency: Slug
    managed_by: ManagedBy
    provider: Name | None = None  # e.g. the ministry, when not self-run
    category: Slug | None = None
    lifecycle: Lifecycle = "active"
    url: Annotated[str, line(max_length=2048)] | None = None
    description: Text | None = None
    owner: Owner = msgspec.field(default_factory=Owner)
    target_uptime: Annotated[float, msgspec.Meta(ge=0, le=100)] = 99.0
    criticality: Criticality = "medium"
    tags: Tags = []
    # Probe zones that watch the app; usage is pulled by the first zone only.
    zones: Zones = msgspec.field(default_factory=lambda: ["default"])
    checks: Checks = []
    usage: Usages = []
    # State: `down` after this many consecutive failures, `up` again after this many successes,
    # and down only when at least `quorum` zones see it down. Unset: the collector's defaults.
    failure_threshold: Annotated[int, msgspec.Meta(ge=1, le=100)] | None = None
    success_threshold: Annotated[int, msgspec.Meta(ge=1, le=100)] | None = None
    quorum: Annotated[int, msgspec.Meta(ge=1, le=100)] | None = None
    maintenance: Windows = []

    def __post_init__(self) -> None:
        names = [c.check_name for c in self.checks]
        if len(names) != len(set(names)):
            raise ValueError("two checks share a name; give each a distinct `name`")
        windows = [w.name for w in self.maintenance]
        if len(windows) != len(set(windows)):
            raise ValueError("two maintenance windows share a name")
        metrics = [u.metric for u in self.usage]
        if len(metrics) != len(set(metrics)):
            raise ValueError("two usage entries share a metric name")
        self._check_secret_names()

    def _check_secret_names(self) -> None:
        """The app's specs name only its own agency's secrets (PANTAU_SECRET_<AGENCY>_...), so
        an agency cannot have the probe send it another agency's secret (docs/security.md)."""
        specs: list[tuple[str, msgspec.Struct]] = [
            (f"checks[{i}]", c) for i, c in enumerate(self.checks)
        ]
        specs += [(f"usage[{i}].source", u.source) for i, u in enumerate(self.usage)]
        for where, spec in specs:
            found = foreign_secret(spec, agency=self.agency)
            if found is not None:
                path, name = found
                raise ValueError(
                    f"{where}.{path}: {name!r} is not a secret of agency {self.agency!r}; its"
                    f" apps may only name variables starting with {secret_prefix(self.agency)}"
                )


class Catalog(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    agencies: Annotated[list[Agency], msgspec.Meta(max_length=1_000)] = []
    apps: Annotated[list[App], msgspec.Meta(max_length=10_000)] = []


WATCHED_LIFECYCLES = ("active", "deprecated")


def zone_targets(apps: Iterable[App], zone: str) -> list[Target]:
    """What a zone's probe watches: apps of the zone that are in service.

    Usage is pulled by the app's first zone only, so several zones never count it twice.
    """
    return [
        Target(
            app=a.id,
            agency=a.agency,
            checks=a.checks,
            usage=a.usage if a.zones[:1] == [zone] else [],
        )
        for a in apps
        if zone in a.zones and a.lifecycle in WATCHED_LIFECYCLES
    ]

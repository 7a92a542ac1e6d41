"""The catalogue's records: the same types serve the YAML file, the CSV import and the REST API."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Literal

import msgspec

from wire.maintenance import MaintenanceWindow
from wire.messages import Target
from wire.specs import CheckSpec, Slug, UsageSpec

ManagedBy = Literal["self", "central", "vendor"]
Lifecycle = Literal["planned", "active", "deprecated", "retired"]
Criticality = Literal["low", "medium", "high"]
Text = Annotated[str, msgspec.Meta(max_length=2000)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Email = Annotated[str, msgspec.Meta(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
Phone = Annotated[str, msgspec.Meta(pattern=r"^\+?[0-9 ()-]{5,32}$")]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


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
    url: Annotated[str, msgspec.Meta(max_length=2048)] | None = None
    description: Text | None = None
    owner: Owner = msgspec.field(default_factory=Owner)
    target_uptime: Annotated[float, msgspec.Meta(ge=0, le=100)] = 99.0
    criticality: Criticality = "medium"
    tags: list[Tag] = []
    # Probe zones that watch the app; usage is pulled by the first zone only.
    zones: list[Slug] = msgspec.field(default_factory=lambda: ["default"])
    checks: list[CheckSpec] = []
    usage: list[UsageSpec] = []
    # State: `down` after this many consecutive failures, `up` again after this many successes,
    # and down only when at least `quorum` zones see it down. Unset: the collector's defaults.
    failure_threshold: Annotated[int, msgspec.Meta(ge=1, le=100)] | None = None
    success_threshold: Annotated[int, msgspec.Meta(ge=1, le=100)] | None = None
    quorum: Annotated[int, msgspec.Meta(ge=1, le=100)] | None = None
    maintenance: list[MaintenanceWindow] = []

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


class Catalog(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    agencies: list[Agency] = []
    apps: list[App] = []


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

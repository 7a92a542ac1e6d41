"""Catalogue as code: apply a YAML file (or a spreadsheet's rows: spreadsheet.py) to the
database, and export it back.

Everything is checked before anything is written, and the write is one transaction: a file with
one bad row changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import msgspec
import yaml

from collector.audit import Actor, set_actor
from collector.catalog import store
from collector.db import Conn, Executor
from wire.catalog import Agency, App, Catalog
from wire.files import FileError, load_yaml_as
from wire.specs import namespace_clash, overlapping_namespace


class CatalogError(Exception):
    """A catalogue source is invalid; the message names the file, the place and the reason."""


@dataclass
class CatalogDiff:
    created: list[str] = field(default_factory=list)  # "agency dinkes", "app simpus"
    updated: list[str] = field(default_factory=list)  # "app simpus: target_uptime, zones"
    retired: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # API-made windows, with --prune
    # API-made windows left as they are (not a change; said so the operator knows they exist)
    kept: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.created or self.updated or self.retired or self.removed)

    def lines(self) -> list[str]:
        return (
            [f"+ {x}" for x in self.created]
            + [f"~ {x}" for x in self.updated]
            + [f"- {x} (retired)" for x in self.retired]
            + [f"- {x}" for x in self.removed]
        )

    def notes(self) -> list[str]:
        return [f"  keeps {x}; --prune would remove it" for x in self.kept]


def load_yaml(path: Path) -> Catalog:
    try:
        return load_yaml_as(path, Catalog)
    except FileError as exc:
        raise CatalogError(str(exc)) from exc


async def _check_references(conn: Conn, catalog: Catalog, source: str) -> None:
    stored = {r["id"] for r in await conn.fetch("SELECT id FROM agencies")}
    known = {a.id for a in catalog.agencies} | stored
    problems = [
        f"{source}: $.agencies[{i}].parent: unknown agency {a.parent!r}"
        for i, a in enumerate(catalog.agencies)
        if a.parent is not None and a.parent not in known
    ] + [
        f"{source}: $.apps[{i}].agency: unknown agency {a.agency!r}"
        for i, a in enumerate(catalog.apps)
        if a.agency not in known
    ]
    # Agencies stored before this rule keep their ids (docs/security.md, residual risk).
    for i, a in enumerate(catalog.agencies):
        if a.id not in stored and (other := overlapping_namespace(a.id, known)) is not None:
            problems.append(f"{source}: $.agencies[{i}].id: {namespace_clash(a.id, other)}")
    for kind, ids in (
        ("agencies", [a.id for a in catalog.agencies]),
        ("apps", [a.id for a in catalog.apps]),
    ):
        seen: set[str] = set()
        for i, ident in enumerate(ids):
            if ident in seen:
                problems.append(f"{source}: $.{kind}[{i}].id: {ident!r} appears twice")
            seen.add(ident)
    if problems:
        raise CatalogError("\n".join(problems))


def _changed_fields(old: msgspec.Struct, new: msgspec.Struct) -> list[str]:
    return [f for f in new.__struct_fields__ if getattr(old, f) != getattr(new, f)]


async def apply(
    conn: Conn,
    catalog: Catalog,
    *,
    source: str,
    actor: Actor,
    prune: bool = False,
    dry_run: bool = False,
    create_agencies_only: bool = False,
) -> CatalogDiff:
    """Reconcile the database with `catalog`; with `prune`, apps missing from it are retired.
    The changes are `actor`'s in the audit trail (collector/audit.py).

    With `create_agencies_only` (the CSV import, whose rows name an agency only to create it),
    agencies that exist are left as they are: their parent, contact and opened zones stay.
    """
    diff = CatalogDiff()
    async with conn.transaction():
        await set_actor(conn, actor)
        await _check_references(conn, catalog, source)
        old_agencies = {a.id: a for a in await store.list_agencies(conn)}
        old_apps = {a.id: a for a in await store.list_apps(conn)}
        api = await store.api_windows(conn)
        agencies = [
            a for a in catalog.agencies if not (create_agencies_only and a.id in old_agencies)
        ]
        new_agencies = _diff(diff, "agency", old_agencies, agencies)
        merged, owners = _with_api_windows(diff, catalog.apps, old_apps, api, prune=prune)
        new_apps = _diff(diff, "app", old_apps, merged)
        to_retire: list[str] = []
        if prune:
            listed = {a.id for a in catalog.apps}
            to_retire = sorted(
                i for i, a in old_apps.items() if i not in listed and a.lifecycle != "retired"
            )
            diff.retired.extend(f"app {i}" for i in to_retire)
        if dry_run or diff.empty:
            return diff
        if new_agencies:
            await store.upsert_agencies(conn, new_agencies)
        if new_apps:
            await store.upsert_apps(conn, new_apps)
        if to_retire:
            await store.set_lifecycle(conn, to_retire, "retired")
        await store.set_api_windows(conn, owners)
    return diff


def _with_api_windows(
    diff: CatalogDiff,
    apps: Sequence[App],
    old: dict[str, App],
    api: dict[str, set[str]],
    *,
    prune: bool,
) -> tuple[list[App], dict[str, set[str]]]:
    """The file's apps with the windows made through the API added back, and who owns what.

    A file owns the windows it lists; a window made through the API is kept by an apply (unless
    `prune`), and one the file names itself becomes the file's.
    """
    out: list[App] = []
    owners: dict[str, set[str]] = {}
    for app in apps:
        before = old.get(app.id)
        made = api.get(app.id, set())
        if before is None or not made:
            out.append(app)
            continue
        in_file = {w.name for w in app.maintenance}
        theirs = [w for w in before.maintenance if w.name in made and w.name not in in_file]
        owners[app.id] = set() if prune else {w.name for w in theirs}
        for w in theirs:
            said = f"app {app.id}: maintenance window {w.name} (made through the API)"
            (diff.removed if prune else diff.kept).append(said)
        out.append(
            app if prune else msgspec.structs.replace(app, maintenance=[*app.maintenance, *theirs])
        )
    return out, owners


T = TypeVar("T", Agency, App)


def _diff(diff: CatalogDiff, label: str, old: dict[str, T], new: Sequence[T]) -> list[T]:
    changed: list[T] = []
    for item in new:
        before = old.get(item.id)
        if before is None:
            diff.created.append(f"{label} {item.id}")
            changed.append(item)
        elif before != item:
            diff.updated.append(f"{label} {item.id}: {', '.join(_changed(before, item))}")
            changed.append(item)
    return changed


def _changed(old: msgspec.Struct, new: msgspec.Struct) -> list[str]:
    """Changed fields; maintenance windows one by one, so a dry run names exactly what changes."""
    out = []
    for name in _changed_fields(old, new):
        if name != "maintenance" or not isinstance(old, App) or not isinstance(new, App):
            out.append(name)
            continue
        before = {w.name: w for w in old.maintenance}
        after = {w.name: w for w in new.maintenance}
        out.extend(f"maintenance window {n} added" for n in after if n not in before)
        out.extend(
            f"maintenance window {n}" for n in after if n in before and after[n] != before[n]
        )
        out.extend(f"maintenance window {n} removed" for n in before if n not in after)
        if not (after.keys() ^ before.keys()) and all(after[n] == before[n] for n in after):
            out.append("maintenance windows reordered")
    return out


async def export(conn: Executor) -> str:
    catalog = Catalog(agencies=await store.list_agencies(conn), apps=await store.list_apps(conn))
    return yaml.safe_dump(
        msgspec.to_builtins(catalog), sort_keys=False, allow_unicode=True, width=100
    )

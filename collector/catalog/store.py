"""Catalogue rows in PostgreSQL: the one place that maps agencies and apps to SQL."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import msgspec
from msgspec import inspect as mi

from collector.db import Conn, Executor
from wire.catalog import Agency, App, Owner, zone_targets
from wire.maintenance import MaintenanceWindow
from wire.messages import Target, TargetList
from wire.specs import CheckSpec, UsageSpec, foreign_secret

log = logging.getLogger(__name__)
T = TypeVar("T")
S = TypeVar("S", bound=msgspec.Struct)

_APP_COLUMNS = (
    "id, name, agency_id, managed_by, provider, category, lifecycle, url, description, owner,"
    " target_uptime, criticality, tags, zones, checks, usage,"
    " failure_threshold, success_threshold, quorum, maintenance"
)
_JSON_COLUMNS = ("owner", "checks", "usage", "maintenance")
_AGENCY_COLUMNS = "id, name, parent_id, contact, zones, email"
_raw_list_decoder = msgspec.json.Decoder(list[msgspec.Raw])
_check_decoder = msgspec.json.Decoder(CheckSpec)
_usage_decoder = msgspec.json.Decoder(UsageSpec)
_owner_decoder = msgspec.json.Decoder(Owner)
_window_decoder = msgspec.json.Decoder(MaintenanceWindow)
_targets_decoder = msgspec.json.Decoder(list[Target])
_warned: set[tuple[str, str]] = set()
# A row of `agencies` or `apps`, or the same fields in a mapping (an audit trail's record).
Row = asyncpg.Record | Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class AppFilter:
    agency: str | None = None
    managed_by: str | None = None
    lifecycle: str | None = None
    category: str | None = None
    zone: str | None = None
    text: str | None = None  # matched against id, name, provider, description, tags
    ids: Sequence[str] | None = None  # only these apps (a page of the portal's list)


def agency_from_row(row: Row) -> Agency:
    return Agency(
        id=row["id"],
        name=row["name"],
        parent=row["parent_id"],
        contact=row["contact"],
        zones=list(row["zones"]),
        email=row["email"],
    )


def _unchecked(t: mi.Type, value: Any) -> Any:
    """Decoded JSON `value` as type `t`, without its length and pattern checks."""
    if isinstance(t, mi.StructType):
        fields = {f.encode_name: f for f in t.fields}
        return t.cls(
            **{
                fields[k].name: _unchecked(fields[k].type, v)
                for k, v in value.items()
                if k in fields
            }
        )
    if isinstance(t, mi.UnionType):
        for option in t.types:
            if isinstance(option, mi.StructType) and isinstance(value, dict):
                if option.tag is None or value.get(option.tag_field) == option.tag:
                    return _unchecked(option, value)
            elif isinstance(option, mi.DateTimeType) and isinstance(value, str):
                return dt.datetime.fromisoformat(value)
        return value
    if isinstance(t, mi.ListType):
        return [_unchecked(t.item_type, v) for v in value]
    if isinstance(t, mi.DictType):
        return {k: _unchecked(t.value_type, v) for k, v in value.items()}
    if isinstance(t, mi.DateTimeType) and isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    return value


def _warn_once(app_id: str, where: str, message: str, *args: object) -> None:
    # Rows are read every few seconds (evaluator) and on every public request: say it once.
    if (app_id, where) not in _warned:
        _warned.add((app_id, where))
        log.warning(message, app_id, where, *args)


def _owner(row: Row) -> Owner:
    """The owner as stored. One stored before a limit existed (wire/text.py) still loads,
    unchecked and with one warning, so the app can be read and fixed; refusing to load it
    would break every read of the catalogue."""
    try:
        return _owner_decoder.decode(row["owner"])
    except msgspec.ValidationError as exc:
        _warn_once(row["id"], "owner", "app %s: stored %s breaks the current limits (%s)", exc)
        value = _unchecked(mi.type_info(Owner), msgspec.json.decode(row["owner"]))
        assert isinstance(value, Owner)
        return value


def _stored_items(
    app_id: str, column: str, raw: str, decoder: msgspec.json.Decoder[T], *, lenient: bool
) -> list[T]:
    """The items of a stored JSON list that today's rules accept; one they refuse is skipped
    with a warning (once), so it cannot take its app, the evaluator, the probes' target list or
    the export down with it. Rules tighten (issue 8 refused secret-looking headers and writing
    SQL; issue 9 standard cron): a `lenient` column (maintenance windows: nothing secret in
    them) keeps an item past a mere length limit, loaded unchecked."""
    items: list[T] = []
    for i, item in enumerate(_raw_list_decoder.decode(raw)):
        try:
            items.append(decoder.decode(item))
            continue
        except msgspec.ValidationError as exc:
            refused: Exception = exc
        if lenient:
            try:
                items.append(_unchecked(mi.type_info(decoder.type), msgspec.json.decode(item)))
            except (ValueError, TypeError) as exc:  # its own checks refuse it (e.g. the cron)
                refused = exc
            else:
                _warn_once(app_id, f"{column}[{i}]",
                           "app %s: %s breaks the current limits, loaded unchecked: %s",
                           refused)  # fmt: skip
                continue
        _warn_once(app_id, f"{column}[{i}]", "app %s: %s is refused by the current rules,"
                   " skipped until the app is fixed: %s", refused)  # fmt: skip
    return items


def app_from_row(row: Row) -> App:
    return App(
        id=row["id"],
        name=row["name"],
        agency=row["agency_id"],
        managed_by=row["managed_by"],
        provider=row["provider"],
        category=row["category"],
        lifecycle=row["lifecycle"],
        url=row["url"],
        description=row["description"],
        owner=_owner(row),
        target_uptime=row["target_uptime"],
        criticality=row["criticality"],
        tags=list(row["tags"]),
        zones=list(row["zones"]),
        checks=_own_secrets_only(row, "checks", stored_checks(row["id"], row["checks"])),
        usage=_own_secrets_only(
            row,
            "usage",
            _stored_items(row["id"], "usage", row["usage"], _usage_decoder, lenient=False),
        ),
        failure_threshold=row["failure_threshold"],
        success_threshold=row["success_threshold"],
        quorum=row["quorum"],
        maintenance=stored_windows(row),
    )


def _own_secrets_only(row: Row, column: str, specs: list[S]) -> list[S]:
    """The specs that name only their own agency's secrets: one stored otherwise (by hand, or
    before the rule) is skipped with a warning, instead of making the app unreadable."""
    kept = []
    for i, spec in enumerate(specs):
        found = foreign_secret(spec.source if isinstance(spec, UsageSpec) else spec,
                               agency=row["agency_id"])  # fmt: skip
        if found is None:
            kept.append(spec)
        else:
            _warn_once(row["id"], f"{column}[{i}]", "app %s: %s names %r, not a secret of its"
                       " agency; skipped until the app is fixed", found[1])  # fmt: skip
    return kept


def stored_checks(app_id: str, raw: str) -> list[CheckSpec]:
    """An app's `checks` column as today's rules accept it (see `_stored_items`)."""
    return _stored_items(app_id, "checks", raw, _check_decoder, lenient=False)


def stored_windows(row: Row) -> list[MaintenanceWindow]:
    """A row's `maintenance` column (the row has its `id`), as `_stored_items` loads it."""
    return _stored_items(
        row["id"], "maintenance", row["maintenance"], _window_decoder, lenient=True
    )


def _app_args(app: App) -> tuple[Any, ...]:
    enc = msgspec.json.encode
    return (
        app.id, app.name, app.agency, app.managed_by, app.provider, app.category, app.lifecycle,
        app.url, app.description, enc(app.owner).decode(), app.target_uptime, app.criticality,
        app.tags, app.zones, enc(app.checks).decode(), enc(app.usage).decode(),
        app.failure_threshold, app.success_threshold, app.quorum, enc(app.maintenance).decode(),
    )  # fmt: skip


async def bump_version(conn: Conn) -> None:
    """Call in the transaction of every write to agencies or apps, migrations included (see
    0007): probes' target lists (ETag), the ingest's zone apps and the state rules
    (`RulesCache`) are cached per version and reread only when it moves."""
    await conn.execute("UPDATE catalog_version SET version = version + 1")


async def catalog_version(conn: Executor) -> int:
    return int(await conn.fetchval("SELECT version FROM catalog_version"))


# --- agencies -------------------------------------------------------------------------------


async def list_agencies(conn: Executor) -> list[Agency]:
    rows = await conn.fetch(f"SELECT {_AGENCY_COLUMNS} FROM agencies ORDER BY id")
    return [agency_from_row(r) for r in rows]


async def get_agency(conn: Executor, agency_id: str) -> Agency | None:
    row = await conn.fetchrow(f"SELECT {_AGENCY_COLUMNS} FROM agencies WHERE id = $1", agency_id)
    return agency_from_row(row) if row else None


async def upsert_agencies(conn: Conn, agencies: Sequence[Agency]) -> None:
    """Create or update; parents may come later in the list (checked when the transaction ends)."""
    await conn.executemany(
        "INSERT INTO agencies (id, name, parent_id, contact, zones, email)"
        " VALUES ($1, $2, NULL, $3, $4, $5)"
        " ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, contact = EXCLUDED.contact,"
        " zones = EXCLUDED.zones, email = EXCLUDED.email, updated_at = now()"
        " WHERE (agencies.name, agencies.contact, agencies.zones, agencies.email)"
        " IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.contact, EXCLUDED.zones, EXCLUDED.email)",
        [(a.id, a.name, a.contact, a.zones, a.email) for a in agencies],
    )
    await conn.executemany(
        "UPDATE agencies SET parent_id = $2, updated_at = now()"
        " WHERE id = $1 AND parent_id IS DISTINCT FROM $2",
        [(a.id, a.parent) for a in agencies],
    )
    await bump_version(conn)


async def delete_agency(conn: Conn, agency_id: str) -> bool:
    status = await conn.execute("DELETE FROM agencies WHERE id = $1", agency_id)
    await bump_version(conn)
    return bool(status.endswith(" 1"))


# --- apps -----------------------------------------------------------------------------------


async def list_apps(conn: Executor, flt: AppFilter = AppFilter()) -> list[App]:
    where: list[str] = []
    args: list[object] = []
    for column, value in (
        ("agency_id", flt.agency),
        ("managed_by", flt.managed_by),
        ("lifecycle", flt.lifecycle),
        ("category", flt.category),
    ):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    if flt.zone is not None:
        args.append(flt.zone)
        where.append(f"${len(args)} = ANY (zones)")
    if flt.ids is not None:
        args.append(list(flt.ids))
        where.append(f"id = ANY (${len(args)}::text[])")
    if flt.text:
        # The text is searched for as written: % and _ are not wildcards here.
        literal = flt.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        args.append(f"%{literal}%")
        n = len(args)
        where.append(
            f"(id ILIKE ${n} OR name ILIKE ${n} OR coalesce(provider, '') ILIKE ${n}"
            f" OR coalesce(description, '') ILIKE ${n} OR array_to_string(tags, ' ') ILIKE ${n})"
        )
    sql = f"SELECT {_APP_COLUMNS} FROM apps"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = await conn.fetch(sql + " ORDER BY agency_id, id", *args)
    return [app_from_row(r) for r in rows]


async def get_app(conn: Executor, app_id: str, *, for_update: bool = False) -> App | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {_APP_COLUMNS} FROM apps WHERE id = $1{lock}", app_id)
    return app_from_row(row) if row else None


async def upsert_apps(conn: Conn, apps: Sequence[App]) -> None:
    cols = _APP_COLUMNS.replace(" ", "").split(",")
    params = ", ".join(
        f"${i}::jsonb" if c in _JSON_COLUMNS else f"${i}" for i, c in enumerate(cols, start=1)
    )
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols[1:])
    changed = " OR ".join(f"apps.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in cols[1:])
    await conn.executemany(
        f"INSERT INTO apps ({_APP_COLUMNS}) VALUES ({params})"
        f" ON CONFLICT (id) DO UPDATE SET {updates}, updated_at = now() WHERE {changed}",
        [_app_args(a) for a in apps],
    )
    await bump_version(conn)


async def set_windows(conn: Conn, app_id: str, windows: Sequence[MaintenanceWindow]) -> None:
    """Replace one app's maintenance windows, and nothing else of its row (a spec skipped on
    reading, because today's rules refuse it, stays stored until the app is fixed)."""
    await conn.execute(
        "UPDATE apps SET maintenance = $2::jsonb, updated_at = now() WHERE id = $1",
        app_id, msgspec.json.encode(list(windows)).decode(),
    )  # fmt: skip
    await bump_version(conn)


async def note_api_windows(conn: Conn, app_id: str, *, before: set[str], after: set[str]) -> None:
    """After an API write of an app's windows: the ones it added belong to the API (`catalog
    apply` keeps them, docs/configuration.md), and the ones it removed are forgotten."""
    api = (await api_windows(conn)).get(app_id, set())
    await set_api_windows(conn, {app_id: (api | (after - before)) & after})


async def api_windows(conn: Executor) -> dict[str, set[str]]:
    """Per app, the names of its maintenance windows made through the API (not from a file)."""
    rows = await conn.fetch("SELECT id, maintenance_api FROM apps WHERE maintenance_api <> '{}'")
    return {r["id"]: set(r["maintenance_api"]) for r in rows}


async def set_api_windows(conn: Conn, owners: dict[str, set[str]]) -> None:
    """Record which of each app's windows were made through the API."""
    await conn.executemany(
        "UPDATE apps SET maintenance_api = $2 WHERE id = $1 AND maintenance_api <> $2",
        [(app_id, sorted(names)) for app_id, names in owners.items()],
    )


async def set_lifecycle(conn: Conn, app_ids: Sequence[str], lifecycle: str) -> None:
    await conn.execute(
        "UPDATE apps SET lifecycle = $2, updated_at = now() WHERE id = ANY ($1::text[])",
        list(app_ids),
        lifecycle,
    )
    await bump_version(conn)


async def delete_app(conn: Conn, app_id: str) -> bool:
    status = await conn.execute("DELETE FROM apps WHERE id = $1", app_id)
    await bump_version(conn)
    return bool(status.endswith(" 1"))


async def targets_for_zone(conn: Executor, zone: str) -> TargetList:
    """The zone's targets (see `zone_targets`), with a version for the ETag."""
    async with _maybe_acquire(conn) as c, c.transaction(isolation="repeatable_read", readonly=True):
        version = await catalog_version(c)
        apps = await list_apps(c, AppFilter(zone=zone))
    targets = _valid_targets(zone_targets(apps, zone), zone)
    return TargetList(zone=zone, version=f'"{zone}-{version}"', targets=targets)


def _valid_targets(targets: list[Target], zone: str) -> list[Target]:
    """The targets a probe will accept: it validates what it receives, so one app stored
    before a limit existed would otherwise cost the zone its whole list. Such an app is left
    out, with a warning, until it is fixed."""
    try:
        _targets_decoder.decode(msgspec.json.encode(targets))
        return targets
    except msgspec.ValidationError:
        pass
    kept = []
    for t in targets:
        try:
            msgspec.json.decode(msgspec.json.encode(t), type=Target)
        except msgspec.ValidationError as exc:
            log.warning("zone %s: app %s is not sent to probes until fixed: %s", zone, t.app, exc)
            continue
        kept.append(t)
    return kept


class _maybe_acquire:
    """`async with` a connection from a pool, or use the given connection."""

    def __init__(self, conn: Executor) -> None:
        self._src = conn
        self._ctx: Any = None

    async def __aenter__(self) -> Conn:
        if isinstance(self._src, asyncpg.Pool):
            self._ctx = self._src.acquire()
            return await self._ctx.__aenter__()  # type: ignore[no-any-return]
        return self._src

    async def __aexit__(self, *exc: object) -> None:
        if self._ctx is not None:
            await self._ctx.__aexit__(*exc)

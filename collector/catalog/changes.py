"""Changes to the catalogue's applications: the one place that decides whether a write is allowed
and makes it. The REST API, the portal's forms and the approval of proposals all call these
functions, so a refusal reads the same whichever way the change came.

Field paths in errors are relative to the application (`$.zones`), as in the API's body.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import msgspec

from collector import access
from collector.audit import Actor, set_actor
from collector.catalog import store
from collector.db import Conn
from wire.catalog import App
from wire.maintenance import MaintenanceWindow
from wire.text import plain_message, validation_field


class Editor(Protocol):
    """Who changes the catalogue: an API token (collector.auth.Principal) or a person's account
    (collector.accounts.Account). Only what the rules need: nothing here depends on how one
    signed in; the rules themselves are collector.access."""

    @property
    def identity(self) -> str:
        """`<kind>:<name>` as recorded (`token:dinkes`); the kind also words refusals."""

    @property
    def role(self) -> str:
        """admin, agency, viewer... as `collector.access` reads it."""

    @property
    def is_admin(self) -> bool:
        """Manages every agency's apps, and draws the network's zones."""

    @property
    def agency(self) -> str | None:
        """The agency whose apps it manages, if it is an agency's."""

    @property
    def actor(self) -> Actor:
        """Who the audit trail records for the writes (collector/audit.py)."""

    def may_manage_app(self, agency: str) -> bool: ...


class ChangeError(Exception):
    """A change refused: the HTTP status it answers, a message for people, the field at fault
    (a path in the app, `$.zones`), and a `code` a translated form can key its text on."""

    def __init__(
        self, status: int, message: str, *, field: str | None = None, code: str = "refused"
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.code = code


def this(by: Editor) -> str:
    """`this token`, `this account`: refusals address the caller as what it signed in with."""
    return "this " + by.identity.partition(":")[0]


def parse_app(data: bytes | Mapping[str, Any]) -> App:
    """An app from the API's JSON (bytes), or from a form's fields (a mapping of the same shape,
    whose numbers may still be text), checked by the same rules with the same messages."""
    try:
        if isinstance(data, bytes):
            return msgspec.json.decode(data, type=App)
        return msgspec.convert(data, App, strict=False)
    except msgspec.ValidationError as exc:
        raise ChangeError(400, plain_message(str(exc)), field=validation_field(exc),
                          code="invalid") from exc  # fmt: skip
    except msgspec.DecodeError as exc:
        raise ChangeError(400, f"body is not valid JSON: {exc}", code="invalid") from exc


async def _writing(conn: Conn, app_id: str, *, by: Editor) -> App | None:
    """Start `by`'s write of `app_id` in the caller's transaction: the app as it is, held until
    the transaction ends. Every write of this module starts here, so here is where the audit
    trail learns its actor (`by`) for the transaction."""
    await set_actor(conn, by.actor)
    return await locked_app(conn, app_id)


async def locked_app(conn: Conn, app_id: str) -> App | None:
    """The app as it is, held until the caller's transaction ends. The advisory lock also holds
    an id that does not exist yet, so two creations of one id cannot both find it free."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('pantau.app:' || $1, 0))",
                       app_id)  # fmt: skip
    return await store.get_app(conn, app_id, for_update=True)


async def check_app(conn: Conn, app: App, *, by: Editor, must_be_new: bool) -> App | None:
    """Whether `by` may write `app` now (nothing is written); returns the app as it is."""
    before = await store.get_app(conn, app.id)
    return await _check(conn, app, before, by=by, must_be_new=must_be_new)


async def save_app(conn: Conn, app: App, *, by: Editor, must_be_new: bool) -> App | None:
    """Create or replace `app` as `by`, in one transaction (a savepoint of the caller's, if it
    has one); returns the app as it was (None: created). `must_be_new`: refuse an id that
    exists (409)."""
    async with conn.transaction():
        before = await _check(conn, app, await _writing(conn, app.id, by=by), by=by,
                              must_be_new=must_be_new)  # fmt: skip
        await store.upsert_apps(conn, [app])
        await store.note_api_windows(
            conn,
            app.id,
            before={w.name for w in before.maintenance} if before else set(),
            after={w.name for w in app.maintenance},
        )
    return before


async def _check(
    conn: Conn, app: App, before: App | None, *, by: Editor, must_be_new: bool
) -> App | None:
    if must_be_new and before is not None:
        raise ChangeError(409, f"application {app.id!r} exists; PUT /api/v1/apps/{app.id}",
                          code="app_exists")  # fmt: skip
    # An agency manages its own agency's apps only, and cannot move one away.
    for agency in sorted({app.agency} | ({before.agency} if before else set())):
        _may_manage(by, agency)
    owner = await store.get_agency(conn, app.agency)
    if owner is None:
        raise ChangeError(400, f"unknown agency {app.agency!r}", field="$.agency",
                          code="unknown_agency")  # fmt: skip
    if not access.may_place_in_any_zone(by):
        _check_zones(app, before=before, opened=owner.zones)
    return before


def _may_manage(by: Editor, agency: str) -> None:
    if not by.may_manage_app(agency):
        raise ChangeError(
            403, f"{this(by)} may not manage applications of agency {agency!r}", code="forbidden"
        )


def _check_zones(app: App, *, before: App | None, opened: list[str]) -> None:
    """Zones are the network's map, the admin's to draw: an agency may place its app in the
    zones opened to it, and keep the ones an admin already gave the app."""
    allowed = set(opened) | set(before.zones if before else ())
    outside = [z for z in app.zones if z not in allowed]
    if outside:
        choice = ", ".join(opened) if opened else "none yet"
        raise ChangeError(
            403,
            f"zones {', '.join(outside)} are not opened to agency {app.agency!r} (opened:"
            f" {choice}); an admin assigns other zones, or opens them in the agency's `zones`",
            field="$.zones",
            code="zones_not_opened",
        )


async def check_delete(conn: Conn, app_id: str, *, by: Editor) -> App:
    """Whether `by` may delete the app now (nothing is written); returns it."""
    return _deletable(await store.get_app(conn, app_id), app_id, by=by)


async def delete_app(conn: Conn, app_id: str, *, by: Editor) -> App:
    """Delete the app as `by`; returns it as it was."""
    async with conn.transaction():
        app = _deletable(await _writing(conn, app_id, by=by), app_id, by=by)
        await store.delete_app(conn, app_id)
    return app


def _deletable(app: App | None, app_id: str, *, by: Editor) -> App:
    if app is None:
        raise ChangeError(404, f"no application {app_id!r}", code="no_app")
    _may_manage(by, app.agency)
    return app


async def change_windows(
    conn: Conn,
    app_id: str,
    change: Callable[[list[MaintenanceWindow]], list[MaintenanceWindow]],
    *,
    by: Editor,
) -> list[MaintenanceWindow]:
    """Apply `change` to the app's maintenance windows as `by`, under the app's lock, so
    concurrent edits don't undo each other; returns the windows now."""
    async with conn.transaction():
        app = await _writing(conn, app_id, by=by)
        if app is None:
            raise ChangeError(404, f"no application {app_id!r}", code="no_app")
        if not by.may_manage_app(app.agency):
            raise ChangeError(403, f"{this(by)} may not change maintenance of agency"
                              f" {app.agency!r}'s apps", code="forbidden")  # fmt: skip
        windows = change(list(app.maintenance))
        await store.set_windows(conn, app_id, windows)
        await store.note_api_windows(
            conn, app_id, before={w.name for w in app.maintenance}, after={w.name for w in windows}
        )
    return windows

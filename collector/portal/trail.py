"""An app's audit trail in the portal: its latest changes on the app's page, all of them (paged)
at `/apps/{id}/history`.

The trail names people, tokens and files, so it is shown by the same rule as the API's
(`access.may_read_trail`): admins, and the app's own agency; never anonymous readers. Records
are shown as `audit.visible` gives them to the reader (contacts only to those who may see them).
An approved proposal's change is recorded as the approving admin's, through `…/proposal N`
(collector/proposals/workflow.py): the entry names the proposal and who proposed it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from aiohttp import web

from collector import access, audit, formats
from collector.accounts import current_account
from collector.db import Executor
from collector.i18n_catalog import Lang, translate
from collector.portal.data import Clock
from collector.proposals import store as proposals
from collector.web import keys

LATEST = 10  # entries on the app's page
PAGE = 50  # entries a history page
_PROPOSAL = re.compile(r"proposal (\d{1,18})$")


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str


@dataclass(frozen=True)
class Entry:
    id: int
    at: str
    who: str
    via: str
    action: str
    proposal: int | None
    proposed_by: str | None
    changes: list[Change]


def _text(value: object) -> str:
    if value is None:
        return "—"
    text = (
        value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    )
    return text if len(text) <= 300 else text[:300] + "…"


async def entries(
    conn: Executor,
    request: web.Request,
    app_id: str,
    agency: str,
    clock: Clock,
    lang: Lang,
    *,
    limit: int,
    before: int | None = None,
) -> tuple[list[Entry], int | None] | None:
    """The app's trail as the reader may see it, newest first, and the next page's `before`;
    None when the reader may not see it."""  # fmt: skip
    who = current_account(request)
    if not access.may_read_trail(who, agency):
        return None
    rows, next_before = await audit.find(
        conn, audit.AuditQuery(app=app_id, before=before, limit=limit)
    )
    contacts = access.shows_contacts(request.app[keys.CONFIG], who)
    out = []
    for row in rows:
        e = audit.visible(row, contacts=contacts)
        found = _PROPOSAL.search(e.actor.via)
        proposal = await proposals.get(conn, int(found.group(1))) if found else None
        changes = [
            Change(
                field=f, before=_text((e.before or {}).get(f)), after=_text((e.after or {}).get(f))
            )
            for f in e.changed
        ]
        out.append(Entry(
            id=e.id, at=formats.moment(e.at, clock.tz, lang),
            who=f"{e.actor.kind}:{e.actor.name}", via=e.actor.via, action=e.action,
            proposal=proposal.id if proposal else None,
            proposed_by=proposal.proposed_by if proposal else None, changes=changes,
        ))  # fmt: skip
    return out, next_before


async def history_page(request: web.Request, lang: Lang, clock: Clock) -> web.Response:
    from collector.catalog import store
    from collector.portal import views  # views shows the trail on the app's page: imported late
    from collector.portal.page import href

    app_id = request.match_info["id"]
    raw = request.query.get("before", "")
    before = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None
    async with request.app[keys.POOL].acquire() as conn:
        app = await store.get_app(conn, app_id)
        if app is None:
            text = translate(lang, "There is no application “%(id)s” in the catalogue.", id=app_id)
            return views.not_found(request, lang, clock, text)
        found = await entries(
            conn, request, app_id, app.agency, clock, lang, limit=PAGE, before=before
        )
    if found is None:
        return views.message_response(
            request, lang, clock, status=403, title=translate(lang, "Not allowed"),
            text=translate(lang, "The changes of an application are shown to Diskominfo and to"
                                 " the application's agency, signed in."),
            switch_href=views.other_lang_href(request, lang),
        )  # fmt: skip
    trail, next_before = found
    older = (
        href(lang, f"/apps/{app_id}/history", {"before": str(next_before)})
        if next_before else ""
    )  # fmt: skip
    return views.html_response(
        request, "portal/history.html", lang, clock,
        {"app": app, "trail": trail, "older": older},
        title=translate(lang, "Changes of %(name)s", name=app.name),
        switch_href=views.other_lang_href(request, lang),
    )  # fmt: skip
